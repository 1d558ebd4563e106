// Every hook, command, timer and service of the Lua API, driven through the whole server.

#include "LuaServerTest.h"
#include "extensions/Extension.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class LuaHooksTest : public LuaServerTest {
  protected:
    json history(const std::string& uid, const std::string& conv) {
        auto reply = call(uid, {{"op", "msg.history"}, {"conv", conv}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply["msgs"];
    }
};

TEST_F(LuaHooksTest, BeforeStoreRejects) {
    addScript("mod",
              "parley.hook('message.before_store', function(e)\n"
              "  if e.body:find('spam', 1, true) then\n"
              "    return false, 'forbidden', 'no spam, ' .. e.sender\n"
              "  end\n"
              "  if e.body == 'quiet' then return false end\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    auto refused = sendMessage("alice", conv, "m1", "buy spam now");
    EXPECT_EQ(codeOf(refused), "forbidden");
    EXPECT_EQ(refused["error"]["message"], "no spam, alice");
    auto quiet = sendMessage("alice", conv, "m2", "quiet");
    EXPECT_EQ(codeOf(quiet), "forbidden") << "the default code";
    EXPECT_EQ(history("alice", conv).size(), 0U) << "nothing was stored";
    auto accepted = sendMessage("alice", conv, "m3", "hello");
    EXPECT_TRUE(accepted["ok"]) << accepted;
    EXPECT_EQ(accepted["seq"], 1);
}

TEST_F(LuaHooksTest, BeforeStoreRewritesBodyAndMeta) {
    addScript("mod",
              "parley.hook('message.before_store', function(e)\n"
              "  local before = e.body\n"
              "  e.body = e.body:gsub('darn', '****')\n"
              "  if e.body ~= before then e.meta = {filtered = true, by = parley.name} end\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "darn it")["ok"]);
    auto event = transport_.waitFor("parley/v1/u/bob/c/" + conv,
                                    [](const json& e) { return e.value("ev", json()) == "msg"; });
    EXPECT_EQ(event.payload["body"], "**** it");
    EXPECT_EQ(event.payload["meta"], json({{"filtered", true}, {"by", "mod"}}));
    auto stored = history("bob", conv);
    ASSERT_EQ(stored.size(), 1U);
    EXPECT_EQ(stored[0]["body"], "**** it");
    EXPECT_EQ(stored[0]["meta"]["filtered"], true);
}

TEST_F(LuaHooksTest, InvalidRewriteFailsOpenAndKeepsTheOriginal) {
    addScript("mod",
              "parley.hook('message.before_store', function(e)\n"
              "  e.body = 42\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "original")["ok"]);
    EXPECT_EQ(history("alice", conv)[0]["body"], "original");
    EXPECT_TRUE(logged("event.body must be a string")) << logText();
}

// Issue 21: edits pass through message.before_edit, which sees the new text and the seq, and
// may rewrite or refuse them like new messages.
TEST_F(LuaHooksTest, BeforeEditSeesTheNewTextAndMayRewriteOrRefuse) {
    addScript("mod",
              "parley.hook('message.before_edit', function(e)\n"
              "  if e.body:find('spam', 1, true) then return false, 'forbidden', 'no spam' end\n"
              "  e.body = e.body:gsub('darn', '****') .. ' #' .. e.seq .. ' ' .. e.cmid\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "darn")["ok"]);
    EXPECT_EQ(history("bob", conv)[0]["body"], "darn") << "before_edit is not before_store";
    auto edited =
        call("alice", {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "oh darn"}});
    ASSERT_TRUE(edited["ok"]) << edited;
    EXPECT_EQ(history("bob", conv)[0]["body"], "oh **** #1 m1");
    auto refused =
        call("alice", {{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "spam"}});
    EXPECT_EQ(codeOf(refused), "forbidden");
    EXPECT_EQ(refused["error"]["message"], "no spam");
    EXPECT_EQ(history("bob", conv)[0]["body"], "oh **** #1 m1");
}

// message.after_delete: extensions learn what a deleted message was, after its text is gone.
TEST_F(LuaHooksTest, AfterDeleteSeesTheMessageAsItWas) {
    addScript("files",
              "parley.hook('message.after_delete', function(e)\n"
              "  parley.send(e.sender, {ev = 'dropped', conv = e.conv, seq = e.seq,"
              " body = e.body, file = e.meta.file, by = e.deleted_by, members = #e.members})\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(call("alice", {{"op", "msg.send"},
                               {"conv", conv},
                               {"cmid", "m1"},
                               {"body", "see attached"},
                               {"meta", {{"file", "sha256-1"}}}})["ok"]);
    ASSERT_TRUE(call("alice", {{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}})["ok"]);
    auto event =
        waitForEvent("alice", [](const json& e) { return e.value("ev", json()) == "dropped"; });
    EXPECT_EQ(event["seq"], 1);
    EXPECT_EQ(event["body"], "see attached");
    EXPECT_EQ(event["file"], "sha256-1");
    EXPECT_EQ(event["by"], "alice");
    EXPECT_EQ(event["members"], 2);
    EXPECT_EQ(history("bob", conv)[0]["body"], "");
}

TEST_F(LuaHooksTest, AfterStoreReacts) {
    addScript("echo",
              "parley.hook('message.after_store', function(e)\n"
              "  parley.kv.incr('count:' .. e.conv)\n"
              "  parley.send(e.sender, {ev = 'stored', conv = e.conv, seq = e.seq,"
              " body = e.body, members = #e.members, cmid = e.cmid, has_ts = e.ts > 0})\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "first")["ok"]);
    ASSERT_TRUE(sendMessage("alice", conv, "m2", "second")["ok"]);
    auto event = waitForEvent("alice", [](const json& e) {
        return e.value("ev", json()) == "stored" && e.value("seq", json()) == 2;
    });
    EXPECT_EQ(event["conv"], conv);
    EXPECT_EQ(event["body"], "second");
    EXPECT_EQ(event["members"], 2);
    EXPECT_EQ(event["cmid"], "m2");
    EXPECT_EQ(event["has_ts"], true);
    EXPECT_EQ(store_->kvGet("echo", "count:" + conv, clock_.nowMs()), "2");
}

TEST_F(LuaHooksTest, BeforeCreateRejects) {
    addScript("guard",
              "parley.hook('conversation.before_create', function(e)\n"
              "  for _, member in ipairs(e.members) do\n"
              "    if member == 'mallory' then return false, 'forbidden', 'mallory is banned' "
              "end\n"
              "  end\n"
              "  if e.kind == 'group' and e.title == 'secret' then\n"
              "    return false, 'bad_request', 'no secrets from ' .. e.creator\n"
              "  end\n"
              "end)");
    auto banned = call("alice", {{"op", "conv.open"}, {"peer", "mallory"}});
    EXPECT_EQ(codeOf(banned), "forbidden");
    EXPECT_EQ(banned["error"]["message"], "mallory is banned");
    auto secret =
        call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}, {"title", "secret"}});
    EXPECT_EQ(codeOf(secret), "bad_request");
    EXPECT_EQ(secret["error"]["message"], "no secrets from alice");
    EXPECT_EQ(store_->listConversations("alice", 10, std::nullopt).conversations.size(), 0U);
    EXPECT_TRUE(call("alice", {{"op", "conv.open"}, {"peer", "bob"}})["ok"]);
}

TEST_F(LuaHooksTest, AfterCreateSeesTheConversation) {
    addScript("watch",
              "parley.hook('conversation.after_create', function(c)\n"
              "  parley.send(c.created_by, {ev = 'created_seen', conv = c.conv, kind = c.kind,"
              " members = #c.members, title = c.title})\n"
              "end)");
    auto reply =
        call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}, {"title", "Team"}});
    ASSERT_TRUE(reply["ok"]) << reply;
    auto event = waitForEvent(
        "alice", [](const json& e) { return e.value("ev", json()) == "created_seen"; });
    EXPECT_EQ(event["conv"], reply["conv"]);
    EXPECT_EQ(event["kind"], "group");
    EXPECT_EQ(event["members"], 3);
    EXPECT_EQ(event["title"], "Team");
}

TEST_F(LuaHooksTest, ReadAfterSeesTheWatermark) {
    addScript("reads",
              "parley.hook('read.after', function(e)\n"
              "  parley.send(e.user, {ev = 'read_seen', conv = e.conv, seq = e.seq})\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "hi")["ok"]);
    ASSERT_TRUE(call("bob", {{"op", "msg.read"}, {"conv", conv}, {"seq", 1}})["ok"]);
    auto event =
        waitForEvent("bob", [](const json& e) { return e.value("ev", json()) == "read_seen"; });
    EXPECT_EQ(event["conv"], conv);
    EXPECT_EQ(event["seq"], 1);
}

// How many events of kind `ev` the harness published to `uid` about `conv`.
size_t receivedEvents(const MemoryTransport& transport, const std::string& uid,
                      const std::string& conv, const std::string& ev) {
    size_t count = 0;
    for (const auto& sent : transport.sentTo("parley/v1/u/" + uid + "/c/" + conv)) {
        count += sent.payload.value("ev", "") == ev;
    }
    return count;
}

TEST_F(LuaHooksTest, BeforeDeliverHidesTypingAndReadFromOneMember) {
    addScript("blocks",
              "parley.hook('event.before_deliver', function(e)\n"
              "  parley.kv.set('seen:' .. e.kind, parley.json.encode({conv = e.conv,"
              " user = e.user, ev = e.event.ev, recipients = e.recipients}))\n"
              "  local hide = ({dave = 'carol', carol = 'dave'})[e.user]\n"
              "  if not hide then return end\n"
              "  for i = #e.recipients, 1, -1 do\n"
              "    if e.recipients[i] == hide then table.remove(e.recipients, i) end\n"
              "  end\n"
              "end)");
    auto group = call("erin", {{"op", "conv.create"}, {"members", {"carol", "dave"}}});
    ASSERT_TRUE(group["ok"]) << group;
    const std::string conv = group["conv"];
    ASSERT_TRUE(call("dave", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(receivedEvents(transport_, "erin", conv, "typing"), 1U);
    EXPECT_EQ(receivedEvents(transport_, "carol", conv, "typing"), 0U);
    EXPECT_EQ(json::parse(*store_->kvGet("blocks", "seen:typing", clock_.nowMs())),
              json({{"conv", conv},
                    {"user", "dave"},
                    {"ev", "typing"},
                    {"recipients", {"carol", "erin"}}}));

    ASSERT_TRUE(sendMessage("erin", conv, "m1", "hello")["ok"]);
    ASSERT_TRUE(call("carol", {{"op", "msg.read"}, {"conv", conv}, {"seq", 1}})["ok"]);
    EXPECT_EQ(receivedEvents(transport_, "carol", conv, "read"), 1U) << "her own devices";
    EXPECT_EQ(receivedEvents(transport_, "erin", conv, "read"), 1U);
    EXPECT_EQ(receivedEvents(transport_, "dave", conv, "read"), 0U) << "both ways";
    ASSERT_TRUE(call("erin", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(receivedEvents(transport_, "carol", conv, "typing"), 1U) << "only their events";
    EXPECT_EQ(receivedEvents(transport_, "dave", conv, "typing"), 1U);
}

TEST_F(LuaHooksTest, BeforeDeliverMayNotAddRecipients) {
    addScript("leaky",
              "parley.hook('event.before_deliver', function(e)\n"
              "  e.recipients[#e.recipients + 1] = 'mallory'\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(call("alice", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(receivedEvents(transport_, "bob", conv, "typing"), 1U) << "fails open";
    EXPECT_TRUE(transport_.sentTo("parley/v1/u/mallory/c/" + conv).empty());
    EXPECT_TRUE(logged("event.recipients may only lose entries")) << logText();
}

TEST_F(LuaHooksTest, BeforeOpenSeesExistingConversationsAndMayRefuse) {
    addScript("blocks",
              "parley.hook('conversation.before_open', function(e)\n"
              "  parley.kv.set('open:' .. e.user, (e.conv or 'new') .. ' ' .. e.kind .. ' ' .."
              " #e.members)\n"
              "  if e.conv and e.user == 'dave' then return false, 'forbidden', 'not allowed' end\n"
              "end)");
    auto opened = call("dave", {{"op", "conv.open"}, {"peer", "carol"}});
    ASSERT_TRUE(opened["ok"]) << opened;
    const std::string conv = opened["conv"];
    EXPECT_EQ(store_->kvGet("blocks", "open:dave", clock_.nowMs()), "new direct 2");
    auto again = call("dave", {{"op", "conv.open"}, {"peer", "carol"}});
    EXPECT_EQ(codeOf(again), "forbidden");
    EXPECT_EQ(again["error"]["message"], "not allowed");
    auto byCarol = call("carol", {{"op", "conv.open"}, {"peer", "dave"}});
    EXPECT_EQ(byCarol["conv"], conv);
    EXPECT_EQ(store_->kvGet("blocks", "open:carol", clock_.nowMs()), conv + " direct 2");
}

TEST_F(LuaHooksTest, PresenceConnectAndDisconnectHooks) {
    addScript("presence",
              "parley.hook('presence.changed', function(p)\n"
              "  parley.send('watcher', {ev = 'presence_seen', user = p.user, state = p.state})\n"
              "end)\n"
              "parley.hook('user.connected', function(p)\n"
              "  parley.send('watcher', {ev = 'connected_seen', user = p.user})\n"
              "end)\n"
              "parley.hook('user.disconnected', function(p)\n"
              "  parley.send('watcher', {ev = 'disconnected_seen', user = p.user,"
              " state = p.state})\n"
              "end)");
    ASSERT_TRUE(call("carol", {{"op", "ping"}})["ok"]);  // activity: carol comes online
    auto online = waitForEvent("watcher", [](const json& e) {
        return e.value("ev", json()) == "presence_seen" && e.value("state", json()) == "online";
    });
    EXPECT_EQ(online["user"], "carol");
    EXPECT_EQ(waitForEvent(
                  "watcher",
                  [](const json& e) { return e.value("ev", json()) == "connected_seen"; })["user"],
              "carol");
    ASSERT_TRUE(call("carol", {{"op", "presence"}, {"state", "offline"}})["ok"]);
    auto gone = waitForEvent(
        "watcher", [](const json& e) { return e.value("ev", json()) == "disconnected_seen"; });
    EXPECT_EQ(gone["user"], "carol");
    EXPECT_EQ(gone["state"], "offline");
}

TEST_F(LuaHooksTest, CustomCommandRepliesRejectsAndDefers) {
    addScript("hello",
              "parley.command('hello.greet', function(cmd, ctx)\n"
              "  if cmd.name == nil then return false, 'bad_request', 'name missing' end\n"
              "  return {greeting = 'hi ' .. cmd.name .. ' from ' .. ctx.user,"
              " admin = ctx.admin, op = cmd.op, ok = false, id = 'spoofed'}\n"
              "end)\n"
              "parley.command('hello.maybe', function() return parley.DEFER end)\n"
              "parley.command('hello.nothing', function() end)");
    addScript("fallback",
              "parley.command('hello.maybe', function() return {answered_by = parley.name} "
              "end)");
    auto greeting = call("alice", {{"op", "hello.greet"}, {"name", "Ann"}});
    EXPECT_TRUE(greeting["ok"]) << "the script cannot set ok";
    EXPECT_EQ(greeting["greeting"], "hi Ann from alice");
    EXPECT_EQ(greeting["admin"], false);
    EXPECT_EQ(greeting["op"], "hello.greet");
    EXPECT_EQ(greeting["id"], "r1") << "the script cannot set id";
    EXPECT_EQ(call("root", {{"op", "hello.greet"}, {"name", "x"}})["admin"], true);
    auto missing = call("alice", {{"op", "hello.greet"}});
    EXPECT_EQ(codeOf(missing), "bad_request");
    EXPECT_EQ(missing["error"]["message"], "name missing");
    EXPECT_EQ(call("alice", {{"op", "hello.maybe"}})["answered_by"], "fallback");
    EXPECT_TRUE(call("alice", {{"op", "hello.nothing"}})["ok"]);
}

TEST_F(LuaHooksTest, ReservedOpFailsTheLoad) {
    addScript("greedy", "parley.command('msg.send', function() return {} end)");
    try {
        server();
        FAIL() << "loaded";
    } catch (const ExtensionError& error) {
        EXPECT_NE(std::string(error.what()).find("one of parleyd's own"), std::string::npos)
            << error.what();
    }
}

TEST_F(LuaHooksTest, TimersFireAndCanBeCancelled) {
    addScript("clock",
              "parley.timer.after(10, function()\n"
              "  parley.send('alice', {ev = 'tick', greeting = parley.config.greeting})\n"
              "end)\n"
              "local n, id = 0, nil\n"
              "id = parley.timer.every(10, function()\n"
              "  n = n + 1\n"
              "  parley.send('alice', {ev = 'every', n = n})\n"
              "  if n == 3 then parley.timer.cancel(id) end\n"
              "end)\n"
              "parley.command('clock.later', function()\n"
              "  parley.timer.after(5, function() parley.send('alice', {ev = 'later'}) end)\n"
              "  return {}\n"
              "end)")
        .options = {{"greeting", "hello"}};
    server();
    EXPECT_EQ(
        waitForEvent("alice",
                     [](const json& e) { return e.value("ev", json()) == "tick"; })["greeting"],
        "hello");
    waitForEvent("alice", [](const json& e) {
        return e.value("ev", json()) == "every" && e.value("n", json()) == 3;
    });
    ASSERT_TRUE(call("alice", {{"op", "clock.later"}})["ok"]);
    waitForEvent("alice", [](const json& e) { return e.value("ev", json()) == "later"; });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    size_t everies = 0;
    for (const auto& sent : transport_.sentTo("parley/v1/u/alice/n")) {
        everies += sent.payload["ev"] == "every" ? 1 : 0;
    }
    EXPECT_EQ(everies, 3U) << "cancelled from its own callback";
}

TEST_F(LuaHooksTest, FailingTimerIsLoggedAndTheServerGoesOn) {
    addScript("bad", "parley.timer.after(5, function() error('tick failed') end)");
    server();
    EXPECT_TRUE(logged("extension 'bad' failed in timer")) << logText();
    EXPECT_TRUE(logged("tick failed")) << logText();
    EXPECT_EQ(codeOf(call("alice", {{"op", "ping"}})), "ok");
}

TEST_F(LuaHooksTest, KeyValueRoundTrip) {
    addScript("kv",
              "parley.command('test.run', function()\n"
              "  parley.kv.set('a:1', 'one')\n"
              "  parley.kv.set('a:2', 'two', 60000)\n"
              "  parley.kv.set('b:1', 'other')\n"
              "  local got, missing = parley.kv.get('a:1'), parley.kv.get('zzz')\n"
              "  local n1 = parley.kv.incr('hits')\n"
              "  local n2 = parley.kv.incr('hits', 5)\n"
              "  local list = parley.kv.list('a:')\n"
              "  local limited = parley.kv.list('', 1)\n"
              "  local paged = parley.kv.list('a:', 10, 'a:1')\n"
              "  local deleted, again = parley.kv.delete('a:1'), parley.kv.delete('a:1')\n"
              "  return {got = got, missing = missing == nil, n1 = n1, n2 = n2, list = list,"
              "    limited = #limited, paged = paged, deleted = deleted, again = again,"
              "    after = parley.kv.get('a:1') == nil}\n"
              "end)");
    auto reply = run();
    EXPECT_EQ(reply["got"], "one");
    EXPECT_EQ(reply["missing"], true);
    EXPECT_EQ(reply["n1"], 1);
    EXPECT_EQ(reply["n2"], 6);
    EXPECT_EQ(reply["list"], json::parse(R"([{"key":"a:1","value":"one"},
                                             {"key":"a:2","value":"two"}])"));
    EXPECT_EQ(reply["limited"], 1);
    EXPECT_EQ(reply["paged"], json::parse(R"([{"key":"a:2","value":"two"}])")) << "after a:1";
    EXPECT_EQ(reply["deleted"], true);
    EXPECT_EQ(reply["again"], false);
    EXPECT_EQ(reply["after"], true);
    EXPECT_EQ(store_->kvGet("kv", "b:1", clock_.nowMs()), "other") << "scoped by extension name";
}

TEST_F(LuaHooksTest, PostDeliversASystemMessage) {
    addScript("bot",
              "parley.command('bot.welcome', function(cmd)\n"
              "  local seq = parley.post(cmd.conv, 'welcome!', {kind = 'notice'}, 'w1')\n"
              "  return {seq = seq}\n"
              "end)\n"
              "parley.hook('message.after_store', function(e)\n"
              "  if e.sender == 'system' then\n"
              "    parley.send('alice', {ev = 'posted', seq = e.seq, body = e.body})\n"
              "  end\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    auto reply = call("alice", {{"op", "bot.welcome"}, {"conv", conv}});
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(reply["seq"], 1);
    for (const char* uid : {"alice", "bob"}) {
        auto event =
            transport_.waitFor(std::string("parley/v1/u/") + uid + "/c/" + conv,
                               [](const json& e) { return e.value("ev", json()) == "msg"; });
        EXPECT_EQ(event.payload["sender"], "system");
        EXPECT_EQ(event.payload["body"], "welcome!");
        EXPECT_EQ(event.payload["meta"]["kind"], "notice");
    }
    // Its own after_store ran inside its own command: re-entered on the same thread.
    EXPECT_EQ(waitForEvent("alice",
                           [](const json& e) { return e.value("ev", json()) == "posted"; })["body"],
              "welcome!");
    EXPECT_EQ(call("alice", {{"op", "bot.welcome"}, {"conv", conv}})["seq"], 1)
        << "the same cmid is idempotent";
}

TEST_F(LuaHooksTest, ConversationAndUserLookups) {
    addScript("look",
              "parley.command('test.run', function(cmd)\n"
              "  local c = parley.conversation(cmd.conv)\n"
              "  local u = parley.user('alice')\n"
              "  return {kind = c.kind, members = #c.members, none = parley.conversation('x')"
              " == nil, user = u.user, state = u.presence.state, email = u.email or 'none'}\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    auto reply = call("alice", {{"op", "test.run"}, {"conv", conv}});
    EXPECT_EQ(reply["kind"], "direct");
    EXPECT_EQ(reply["members"], 2);
    EXPECT_EQ(reply["none"], true);
    EXPECT_EQ(reply["user"], "alice");
    EXPECT_EQ(reply["state"], "online");
    EXPECT_EQ(reply["email"], "none");
    store_->updateUser("alice", {std::nullopt, true, "alice@example.org"}, 1);
    EXPECT_EQ(call("alice", {{"op", "test.run"}, {"conv", conv}})["email"], "alice@example.org")
        << "scripts see the address admins set";
}

TEST_F(LuaHooksTest, JsonDecodeRefusesAnythingAfterTheValueNulIncluded) {
    addScript("j",
              "parley.command('test.run', function()\n"
              "  local results = {}\n"
              "  for i, text in ipairs({'{\"a\":1}\\0', '{\"a\":1}\\0garbage{',"
              " '{\"a\":1}\\0{\"b\":2}', '{\"a\":1} x'}) do\n"
              "    local ok, err = pcall(parley.json.decode, text)\n"
              "    results[i] = ok and 'accepted' or err\n"
              "  end\n"
              "  local escaped = parley.json.decode('{\"a\":\"x\\\\u0000y\"} ')\n"
              "  return {results = results, escaped = #escaped.a}\n"
              "end)");
    auto reply = run();
    ASSERT_EQ(reply["results"].size(), 4U) << reply;
    for (const auto& result : reply["results"]) {
        EXPECT_NE(result.get<std::string>().find("parley.json.decode:"), std::string::npos)
            << reply;
    }
    EXPECT_EQ(reply["escaped"], 3) << "an escaped NUL inside a string is text";
}

TEST_F(LuaHooksTest, JsonRoundTrip) {
    addScript("j",
              "parley.command('test.run', function()\n"
              "  local text = '{\"a\":1,\"b\":[1,2,{\"c\":true}],\"e\":[],\"f\":{},\"g\":1.5,"
              "\"big\":9007199254740993}'\n"
              "  local v = parley.json.decode(text)\n"
              "  local cyclic = {} cyclic.self = cyclic\n"
              "  local deep = {} local at = deep for i = 1, 40 do at.x = {} at = at.x end\n"
              "  local c1, cycleErr = pcall(parley.json.encode, cyclic)\n"
              "  local c2, deepErr = pcall(parley.json.encode, deep)\n"
              "  local c3, decodeErr = pcall(parley.json.decode, string.rep('[', 40) .."
              " string.rep(']', 40))\n"
              "  local c4, badErr = pcall(parley.json.decode, '{oops')\n"
              "  local c5, mixedErr = pcall(parley.json.encode, {1, 2, x = 3})\n"
              "  return {again = parley.json.encode(v), atype = math.type(v.a),"
              "    bigtype = math.type(v.big), empty = parley.json.encode({}),"
              "    array = parley.json.encode(parley.json.array()),"
              "    seq = parley.json.encode({'x', 'y'}), cycleErr = cycleErr, deepErr = deepErr,"
              "    decodeErr = decodeErr, badErr = badErr, mixedErr = mixedErr,"
              "    config = parley.json.encode(parley.config), words = #parley.config.words,"
              "    first = parley.config.words[1]}\n"
              "end)")
        .options = {{"words", {"a", "b"}}, {"empty", json::array()}};
    auto reply = run();
    EXPECT_EQ(json::parse(reply["again"].get<std::string>()),
              json::parse(R"({"a":1,"b":[1,2,{"c":true}],"e":[],"f":{},"g":1.5,
                              "big":9007199254740993})"));
    EXPECT_EQ(reply["atype"], "integer");
    EXPECT_EQ(reply["bigtype"], "integer");
    EXPECT_EQ(reply["empty"], "{}");
    EXPECT_EQ(reply["array"], "[]");
    EXPECT_EQ(reply["seq"], "[\"x\",\"y\"]");
    EXPECT_NE(reply["cycleErr"].get<std::string>().find("contains itself"), std::string::npos);
    EXPECT_NE(reply["deepErr"].get<std::string>().find("deeper than 32"), std::string::npos);
    EXPECT_NE(reply["decodeErr"].get<std::string>().find("deeper than 32"), std::string::npos);
    EXPECT_NE(reply["badErr"].get<std::string>().find("parley.json.decode:"), std::string::npos);
    EXPECT_NE(reply["mixedErr"].get<std::string>().find("neither all strings nor 1..n"),
              std::string::npos);
    EXPECT_EQ(json::parse(reply["config"].get<std::string>()),
              json({{"words", {"a", "b"}}, {"empty", json::array()}}));
    EXPECT_EQ(reply["words"], 2);
    EXPECT_EQ(reply["first"], "a");
}

TEST_F(LuaHooksTest, ConcurrentCallsAreSerialized) {
    config_.server.workers = 4;
    config_.limits.userQueuedCommands = 0;  // one user's burst on purpose: no ingress cap
    addScript("count",
              "local seen = 0\n"
              "parley.hook('message.before_store', function(e)\n"
              "  local before = seen\n"
              "  for i = 1, 200 do local _ = tostring(i) end\n"
              "  seen = before + 1\n"
              "end)\n"
              "parley.timer.every(10, function() seen = seen + 0 end)\n"
              "parley.command('test.run', function() return {seen = seen} end)");
    std::vector<std::string> convs;
    for (int i = 0; i < 8; ++i) {
        convs.push_back(openDirect("alice", "peer" + std::to_string(i)));
    }
    constexpr int kMessages = 200;
    for (int i = 0; i < kMessages; ++i) {
        json command = {{"op", "msg.send"},
                        {"conv", convs[static_cast<size_t>(i) % convs.size()]},
                        {"cmid", "c" + std::to_string(i)},
                        {"body", "m"},
                        {"id", "x" + std::to_string(i)}};
        server().onInbound(InboundMessage{"parley/v1/c2s/alice", command.dump(), ""});
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (transport_.sentTo("parley/v1/u/alice/resp").size() < 8 + kMessages &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (const auto& reply : transport_.sentTo("parley/v1/u/alice/resp")) {
        EXPECT_TRUE(reply.payload["ok"]) << reply.payload;
    }
    EXPECT_EQ(run()["seen"], kMessages) << "no update of the script's state was lost";
}

}  // namespace
}  // namespace parley::testing
