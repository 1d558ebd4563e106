// The conversation services of the Lua API (parley.messages, parley.context.*), what
// message.before_store tells a script about the conversation, and rejections with details.

#include <algorithm>
#include <string>
#include <vector>

#include "LuaServerTest.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class LuaServicesTest : public LuaServerTest {
  protected:
    static std::vector<std::string> sorted(std::vector<std::string> ids) {
        std::sort(ids.begin(), ids.end());
        return ids;
    }
};

// Runs `fn` under pcall and returns the error text, or "no error".
constexpr const char* kErrorOf =
    "local function err(fn, ...)\n"
    "  local ok, message = pcall(fn, ...)\n"
    "  return ok and 'no error' or message\n"
    "end\n";

TEST_F(LuaServicesTest, ContextUpdateChangesSummariesAndTellsTheMembers) {
    addScript("listings",
              std::string(kErrorOf) +
                  "parley.command('test.update', function(cmd)\n"
                  "  local ids = parley.context.update('listing', cmd.listing,\n"
                  "    {title = cmd.title, status = cmd.status})\n"
                  "  return {ids = ids, count = #ids}\n"
                  "end)\n"
                  "parley.command('test.about', function(cmd)\n"
                  "  return {all = parley.context.conversations('listing', cmd.listing),\n"
                  "          one = parley.context.conversations('listing', cmd.listing, "
                  "1)}\n"
                  "end)\n"
                  "parley.command('test.errors', function()\n"
                  "  return {\n"
                  "    status = err(parley.context.update, 'listing', '42', "
                  "{status = 'Sold!'}),\n"
                  "    field = err(parley.context.update, 'listing', '42', "
                  "{titel = 'x'}),\n"
                  "    title = err(parley.context.update, 'listing', '42', "
                  "{title = 42}),\n"
                  "    fields = err(parley.context.update, 'listing', '42'),\n"
                  "    limit0 = err(parley.context.conversations, 'listing', '42', 0),\n"
                  "    limit = err(parley.context.conversations, 'listing', '42', "
                  "1001),\n"
                  "  }\n"
                  "end)\n");
    const std::string aliceBike = openAbout("alice", "bob", "42", "Blue bike");
    const std::string carolBike = openAbout("carol", "bob", "42", "Blue bike");
    const std::string otherBike = openAbout("alice", "bob", "43", "Red bike");

    auto updated = call("root", {{"op", "test.update"},
                                 {"listing", "42"},
                                 {"title", "Blue bike (sold)"},
                                 {"status", "sold"}});
    ASSERT_TRUE(updated["ok"]) << updated;
    EXPECT_EQ(updated["count"], 2);
    EXPECT_EQ(sorted(updated["ids"].get<std::vector<std::string>>()),
              sorted({aliceBike, carolBike}));

    auto summary = call("alice", {{"op", "conv.get"}, {"conv", aliceBike}});
    EXPECT_EQ(
        summary["context"],
        json(
            {{"type", "listing"}, {"id", "42"}, {"title", "Blue bike (sold)"}, {"status", "sold"}}))
        << summary;
    EXPECT_TRUE(
        call("alice", {{"op", "conv.get"}, {"conv", otherBike}})["context"]["status"].is_null());
    const std::vector<std::pair<std::string, std::string>> told = {
        {"alice", aliceBike}, {"bob", aliceBike}, {"bob", carolBike}, {"carol", carolBike}};
    for (const auto& [uid, conv] : told) {
        auto event = waitForEvent(uid, [&](const json& e) {
            return e.value("ev", json()) == "conv" && e.value("reason", json()) == "changed" &&
                   e.value("conv", json()) == conv;
        });
        EXPECT_EQ(event["context"]["title"], "Blue bike (sold)") << uid << " " << event;
    }

    // An absent field keeps its value.
    ASSERT_TRUE(call("root", {{"op", "test.update"}, {"listing", "42"}, {"status", "open"}})["ok"]);
    summary = call("bob", {{"op", "conv.get"}, {"conv", carolBike}});
    EXPECT_EQ(summary["context"]["title"], "Blue bike (sold)");
    EXPECT_EQ(summary["context"]["status"], "open");

    auto none = call("root", {{"op", "test.update"}, {"listing", "nope"}, {"title", "x"}});
    EXPECT_EQ(none["ids"], json::array()) << "an empty list encodes as []";

    auto about = call("alice", {{"op", "test.about"}, {"listing", "42"}});
    EXPECT_EQ(sorted(about["all"].get<std::vector<std::string>>()), sorted({aliceBike, carolBike}));
    EXPECT_EQ(about["one"].size(), 1U);
    EXPECT_EQ(call("alice", {{"op", "test.about"}, {"listing", "nope"}})["all"], json::array());

    auto errors = call("alice", {{"op", "test.errors"}});
    EXPECT_EQ(errors["status"],
              "bad_request: a context status is 1-32 characters from a-z 0-9 _ -");
    EXPECT_EQ(errors["field"], "parley.context.update: unknown option 'titel'");
    EXPECT_EQ(errors["title"], "parley.context.update: title must be a string (got number)");
    EXPECT_EQ(errors["fields"], "parley.context.update: the fields must be a table (got no value)");
    EXPECT_EQ(errors["limit0"], "parley.context.conversations: the limit must be 1-1000");
    EXPECT_EQ(errors["limit"], "parley.context.conversations: the limit must be 1-1000");
}

TEST_F(LuaServicesTest, MessagesPagesTheHistory) {
    addScript("reader",
              std::string(kErrorOf) +
                  "local function seqs(page)\n"
                  "  local out = parley.json.array()\n"
                  "  for _, m in ipairs(page.msgs) do out[#out + 1] = m.seq end\n"
                  "  return {seqs = out, more = page.has_more}\n"
                  "end\n"
                  "parley.command('test.run', function(cmd)\n"
                  "  local newest = parley.messages(cmd.conv)\n"
                  "  return {\n"
                  "    newest = seqs(newest),\n"
                  "    last = newest.msgs[#newest.msgs],\n"
                  "    two = seqs(parley.messages(cmd.conv, {limit = 2})),\n"
                  "    older = seqs(parley.messages(cmd.conv, {before = 4, limit = 2})),\n"
                  "    newer = seqs(parley.messages(cmd.conv, {after = 3})),\n"
                  "    first = seqs(parley.messages(cmd.conv, {after = 0, limit = 1})),\n"
                  "    unknown = err(parley.messages, 'nope'),\n"
                  "    limit = err(parley.messages, cmd.conv, {limit = 101}),\n"
                  "    option = err(parley.messages, cmd.conv, {befor = 1}),\n"
                  "    negative = err(parley.messages, cmd.conv, {after = -1}),\n"
                  "    type = err(parley.messages, cmd.conv, {before = 'x'}),\n"
                  "  }\n"
                  "end)\n");
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 5; ++i) {
        ASSERT_TRUE(sendMessage("alice", conv, "m" + std::to_string(i),
                                "message " + std::to_string(i))["ok"]);
    }
    auto reply = call("alice", {{"op", "test.run"}, {"conv", conv}});
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(reply["newest"], json({{"seqs", {1, 2, 3, 4, 5}}, {"more", false}}));
    EXPECT_EQ(reply["last"]["body"], "message 5");
    EXPECT_EQ(reply["last"]["sender"], "alice");
    EXPECT_EQ(reply["last"]["cmid"], "m5");
    EXPECT_EQ(reply["two"], json({{"seqs", {4, 5}}, {"more", true}}));
    EXPECT_EQ(reply["older"], json({{"seqs", {2, 3}}, {"more", true}}));
    EXPECT_EQ(reply["newer"], json({{"seqs", {4, 5}}, {"more", false}}));
    EXPECT_EQ(reply["first"], json({{"seqs", {1}}, {"more", true}}));
    EXPECT_EQ(reply["unknown"], "not_found: no conversation nope");
    EXPECT_EQ(reply["limit"], "parley.messages: the limit must be 1-100");
    EXPECT_EQ(reply["option"], "parley.messages: unknown option 'befor'");
    EXPECT_EQ(reply["negative"], "parley.messages: before and after must not be negative");
    EXPECT_EQ(reply["type"], "parley.messages: before must be an integer (got string)");
}

TEST_F(LuaServicesTest, BeforeStoreEventCarriesTheConversation) {
    addScript("watch",
              "parley.hook('message.before_store', function(e)\n"
              "  parley.send(e.sender, {ev = 'seen', body = e.body, kind = e.kind,\n"
              "    context = e.context, members = e.members, last_seq = e.last_seq})\n"
              "end)\n"
              "parley.command('test.sell', function(cmd)\n"
              "  parley.context.update('listing', cmd.listing, {status = 'sold'})\n"
              "end)\n");
    const std::string conv = openAbout("alice", "bob", "42", "Blue bike");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "first")["ok"]);
    auto first = waitForEvent("alice", [](const json& e) {
        return e.value("ev", "") == "seen" && e.value("body", "") == "first";
    });
    EXPECT_EQ(first["kind"], "direct");
    EXPECT_EQ(first["context"], json({{"type", "listing"}, {"id", "42"}, {"title", "Blue bike"}}))
        << "no status yet: absent";
    EXPECT_EQ(sorted(first["members"].get<std::vector<std::string>>()),
              (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(first["last_seq"], 0) << "the conversation's first message";

    ASSERT_TRUE(call("root", {{"op", "test.sell"}, {"listing", "42"}})["ok"]);
    ASSERT_TRUE(sendMessage("bob", conv, "m2", "second")["ok"]);
    auto second = waitForEvent("bob", [](const json& e) {
        return e.value("ev", "") == "seen" && e.value("body", "") == "second";
    });
    EXPECT_EQ(second["context"]["status"], "sold");
    EXPECT_EQ(second["last_seq"], 1);

    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    ASSERT_TRUE(group["ok"]) << group;
    ASSERT_TRUE(sendMessage("carol", group["conv"].get<std::string>(), "m3", "third")["ok"]);
    auto third = waitForEvent("carol", [](const json& e) {
        return e.value("ev", "") == "seen" && e.value("body", "") == "third";
    });
    EXPECT_EQ(third["kind"], "group");
    EXPECT_FALSE(third.contains("context")) << third;
    EXPECT_EQ(third["members"].size(), 3U);
    EXPECT_EQ(third["last_seq"], 0);
}

TEST_F(LuaServicesTest, RejectionDetailsReachTheClientsErrorObject) {
    addScript("limits",
              "parley.hook('message.before_store', function(e)\n"
              "  if e.body == 'limit' then\n"
              "    return false, 'rate_limited', 'slow down',\n"
              "      {retry_after_ms = 1200, code = 'forbidden', message = 'ignored'}\n"
              "  elseif e.body == 'empty' then\n"
              "    return false, 'forbidden', 'no details', {}\n"
              "  elseif e.body == 'bad:array' then\n"
              "    return false, 'forbidden', 'x', {1, 2}\n"
              "  elseif e.body == 'bad:string' then\n"
              "    return false, 'forbidden', 'x', 'retry later'\n"
              "  elseif e.body == 'bad:large' then\n"
              "    return false, 'forbidden', 'x', {pad = string.rep('a', 5000)}\n"
              "  elseif e.body == 'bad:function' then\n"
              "    return false, 'forbidden', 'x', {f = print}\n"
              "  end\n"
              "end)\n"
              "parley.hook('conversation.before_create', function(c)\n"
              "  if c.title == 'limited' then\n"
              "    return false, 'rate_limited', nil, {retry_after_ms = 60000}\n"
              "  end\n"
              "end)\n"
              "parley.command('limits.cmd', function(cmd)\n"
              "  if cmd.bad then return false, 'rate_limited', 'x', {[1] = 'no'} end\n"
              "  return false, 'rate_limited', 'not so fast',\n"
              "    {retry_after_ms = 1200, scope = {op = cmd.op}}\n"
              "end)\n");
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(sendMessage("alice", conv, "m1", "limit")["error"],
              json({{"code", "rate_limited"}, {"message", "slow down"}, {"retry_after_ms", 1200}}))
        << "the details' own code and message are dropped";
    EXPECT_EQ(sendMessage("alice", conv, "m2", "empty")["error"],
              json({{"code", "forbidden"}, {"message", "no details"}}));
    EXPECT_EQ(call("alice", {{"op", "limits.cmd"}})["error"],
              json({{"code", "rate_limited"},
                    {"message", "not so fast"},
                    {"retry_after_ms", 1200},
                    {"scope", {{"op", "limits.cmd"}}}}));
    EXPECT_EQ(
        call("alice", {{"op", "conv.create"}, {"members", {"bob"}}, {"title", "limited"}})["error"],
        json({{"code", "rate_limited"}, {"message", "refused"}, {"retry_after_ms", 60000}}));
    EXPECT_TRUE(call("alice", {{"op", "msg.history"}, {"conv", conv}})["msgs"].empty());

    // Wrong details fail the call: a command answers internal, a hook fails open (the message
    // is stored as if the handler had not been there) and the reason is logged.
    EXPECT_EQ(codeOf(call("alice", {{"op", "limits.cmd"}, {"bad", true}})), "internal");
    EXPECT_TRUE(logged("a rejection's details must be a JSON object")) << logText();
    int seq = 0;
    for (const std::string kind : {"array", "string", "large", "function"}) {
        auto sent = sendMessage("alice", conv, "bad-" + kind, "bad:" + kind);
        EXPECT_TRUE(sent["ok"]) << kind << " " << sent;
        EXPECT_EQ(sent["seq"], ++seq) << kind;
    }
    EXPECT_TRUE(logged("the rejection's details must be a table")) << logText();
    EXPECT_TRUE(logged("a rejection's details exceed 4096 bytes encoded")) << logText();
    EXPECT_TRUE(logged("the rejection's details: cannot encode a function")) << logText();
}

TEST_F(LuaServicesTest, TextNormalizeAndSkeletonFoldLikeTheirSources) {
    addScript(
        "text",
        std::string(kErrorOf) +
            "parley.command('test.run', function()\n"
            "  local folded, first, last = parley.text.normalize('A CR\u00C9\u200BDIT', true)\n"
            "  local s, e = folded:find('cr\u00E9dit', 1, true)\n"
            "  local huge = string.rep('a', 1024 * 1024 + 1)\n"
            "  return {\n"
            "    normalized = parley.text.normalize('free CR\u00C9DIT \uFF53\uFF43\uFF41\uFF4D'),\n"
            "    span = ('A CR\u00C9\u200BDIT'):sub(first[s], last[e]),\n"
            "    lengths = {#folded, #first, #last},\n"
            "    cyrillic = parley.text.skeleton('\u0455\u0441\u0430m') =="
            " parley.text.skeleton('scam'),\n"
            "    links = parley.text.skeleton('HTTPS://WWW.X.ORG'),\n"
            "    plain = select('#', parley.text.skeleton('x')),\n"
            "    errors = {\n"
            "      err(parley.text.normalize, 42),\n"
            "      err(parley.text.skeleton, 'bad \\255'),\n"
            "      err(parley.text.normalize, huge),\n"
            "      err(parley.text.normalize, 'x', 'yes'),\n"
            "    },\n"
            "    readonly = err(function() parley.text.normalize = nil end),\n"
            "  }\n"
            "end)");
    auto reply = run();
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(reply["normalized"], "free cr\u00E9dit scam");
    EXPECT_EQ(reply["span"], "CR\u00C9\u200BDIT") << "the span leads back to the original";
    EXPECT_EQ(reply["lengths"], json({9, 9, 9}));
    EXPECT_EQ(reply["cyrillic"], true);
    EXPECT_EQ(reply["links"], "https://www.x.org");
    EXPECT_EQ(reply["plain"], 1) << "no spans unless asked";
    const auto errors = reply["errors"];
    EXPECT_NE(errors[0].get<std::string>().find("parley.text.normalize: the text must be a string"),
              std::string::npos)
        << errors[0];
    EXPECT_NE(errors[1].get<std::string>().find("not valid UTF-8"), std::string::npos) << errors[1];
    EXPECT_NE(errors[2].get<std::string>().find("too_large"), std::string::npos) << errors[2];
    EXPECT_NE(errors[3].get<std::string>().find("spans must be a boolean"), std::string::npos)
        << errors[3];
    EXPECT_NE(reply["readonly"].get<std::string>().find("read-only"), std::string::npos)
        << reply["readonly"];
}

}  // namespace
}  // namespace parley::testing
