// msg.search's refusals and query handling, conv.set's, and the timed purge of the search index,
// through the whole server with a clock the test moves. Search over the real broker, on both
// backends: SearchTest in tests/integration; the store's part: StoreSuite.

#include <thread>

#include "parley/testing/ServerHarness.h"
#include "store/SearchIndex.h"

namespace parley::testing {
namespace {

using nlohmann::json;

TEST(SearchTerms, AreWordsAndNeverQuerySyntax) {
    using store::searchTerms;
    EXPECT_EQ(searchTerms("blue bike"), (std::vector<std::string>{"blue", "bike"}));
    EXPECT_EQ(searchTerms("  \"bike\"* OR (sold) -NEAR:x^ +y "),
              (std::vector<std::string>{"bike", "OR", "sold", "NEAR", "x", "y"}));
    EXPECT_EQ(searchTerms("Café naïve 東京"), (std::vector<std::string>{"Café", "naïve", "東京"}));
    EXPECT_EQ(searchTerms("don't"), (std::vector<std::string>{"don", "t"}));
    EXPECT_TRUE(searchTerms("\"*()-:^+@~'; --").empty());
    EXPECT_TRUE(searchTerms("").empty());
}

class SearchTest : public ServerHarness {
  protected:
    json search(const std::string& uid, json command) {
        command["op"] = "msg.search";
        return call(uid, std::move(command));
    }
};

TEST_F(SearchTest, BadQueriesAreRefusedWithAReasonAndNeverReachSql) {
    config_.search.maxQueryBytes = 40;
    config_.search.maxTerms = 4;
    const std::string conv = openDirect("alice", "bob");
    const std::string theirs = openDirect("bob", "carol");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "my blue bike is for sale")["ok"]);
    const std::vector<std::pair<json, std::string>> refusals = {
        {json::object(), "\"q\" is required"},
        {{{"q", 42}}, "\"q\" is required"},
        {{{"q", ""}}, "no word"},
        {{{"q", "   "}}, "no word"},
        {{{"q", "\"*()-:^+"}}, "no word"},
        {{{"q", std::string(41, 'a')}}, "longer than 40 bytes"},
        {{{"q", "one two three four five"}}, "more than 4 words"},
        {{{"q", "bike\x01"}}, "control characters"},
        {{{"q", "bike"}, {"limit", 0}}, "limit"},
        {{{"q", "bike"}, {"before", -1}}, "before"},
        {{{"q", "bike"}, {"conv", "a/b"}}, "conv"},
    };
    for (const auto& [command, reason] : refusals) {
        auto reply = search("alice", command);
        EXPECT_EQ(codeOf(reply), "bad_request") << command << " " << reply;
        EXPECT_NE(reply["error"]["message"].get<std::string>().find(reason), std::string::npos)
            << reply;
    }
    EXPECT_EQ(codeOf(search("alice", {{"q", "bike"}, {"conv", theirs}})), "forbidden");
    EXPECT_EQ(codeOf(search("alice", {{"q", "bike"}, {"conv", "cnosuchconversation00"}})),
              "not_found");
}

TEST_F(SearchTest, OperatorsInWhatUsersTypeAreWordsNotSyntax) {
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "my blue bike is for sale")["ok"]);
    ASSERT_TRUE(sendMessage("bob", conv, "m2", "near the station, or not?")["ok"]);
    for (const char* hostile :
         {"bike\"", "bike*", "NEAR(bike", "bike:", "^bike", "body:bike", "bike AND", "OR",
          "-bike +sale", "(bike", "@bike", "bike~", "'; DROP TABLE messages; --", "\"\"bike\"\"",
          "bike NOT", "NEAR(bike sale, 2)"}) {
        auto reply = search("alice", {{"q", hostile}});
        EXPECT_EQ(codeOf(reply), "ok") << hostile << " " << reply;
    }
    auto star = search("alice", {{"q", "bike*"}});
    ASSERT_EQ(star["msgs"].size(), 1U) << star;
    EXPECT_EQ(star["msgs"][0]["cmid"], "m1");
    EXPECT_EQ(star["convs"][0]["conv"], conv);
    auto words = search("alice", {{"q", "\"-bike +sale\""}});
    EXPECT_EQ(words["msgs"].size(), 1U) << "two words, both required: " << words;
    auto operators = search("alice", {{"q", "near OR not"}});
    ASSERT_EQ(operators["msgs"].size(), 1U) << "OR and NOT are words here: " << operators;
    EXPECT_EQ(operators["msgs"][0]["cmid"], "m2");
}

TEST_F(SearchTest, PagesAreCutToTheLimitAndCarryACursor) {
    config_.search.maxPage = 3;
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 5; ++i) {
        ASSERT_TRUE(
            sendMessage("bob", conv, "m" + std::to_string(i), "ping " + std::to_string(i))["ok"]);
    }
    auto first = search("alice", {{"q", "ping"}, {"limit", 100}});
    ASSERT_EQ(first["msgs"].size(), 3U) << first;
    EXPECT_EQ(first["msgs"][0]["seq"], 5);
    EXPECT_EQ(first["has_more"], true);
    auto second = search("alice", {{"q", "ping"}, {"before", first["next_before"]}});
    ASSERT_EQ(second["msgs"].size(), 2U) << second;
    EXPECT_EQ(second["msgs"][0]["seq"], 2);
    EXPECT_EQ(second["has_more"], false);
    EXPECT_FALSE(second.contains("next_before"));
}

TEST_F(SearchTest, TheSweepPurgesTheIndexOnceADeletionIsDue) {
    config_.search.purgeAfterMs = 60000;
    config_.presence.sweepIntervalMs = 20;
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("alice", conv, "m1", "forget me")["ok"]);
    ASSERT_TRUE(call("alice", {{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}})["ok"]);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // sweeps, none due yet
    EXPECT_FALSE(logged("purged deleted messages' words", std::chrono::milliseconds(0)));
    clock_.advance(60000);
    EXPECT_TRUE(logged("purged deleted messages' words")) << "the sweep purged it";
    EXPECT_FALSE(store_->purgeSearchIndex(clock_.nowMs())) << "once";
}

TEST_F(SearchTest, SettingsAreTheCallersAndReachOnlyTheirDevices) {
    const std::string conv = openDirect("alice", "bob");
    ASSERT_TRUE(sendMessage("bob", conv, "m1", "one")["ok"]);
    ASSERT_TRUE(sendMessage("bob", conv, "m2", "two")["ok"]);
    auto set = [&](const std::string& uid, json fields) {
        fields["op"] = "conv.set";
        fields["conv"] = conv;
        return call(uid, fields);
    };
    EXPECT_EQ(codeOf(set("alice", json::object())), "bad_request");
    EXPECT_EQ(codeOf(set("alice", {{"muted", "yes"}})), "bad_request");
    EXPECT_EQ(codeOf(set("carol", {{"muted", true}})), "forbidden");
    EXPECT_EQ(
        codeOf(call("alice",
                    {{"op", "conv.set"}, {"conv", "cnosuchconversation00"}, {"muted", true}})),
        "not_found");

    auto muted = set("alice", {{"muted", true}, {"pinned", true}});
    ASSERT_EQ(codeOf(muted), "ok") << muted;
    EXPECT_EQ(muted["muted"], true);
    EXPECT_EQ(muted["archived"], false);
    EXPECT_EQ(muted["pinned_at"], clock_.nowMs());
    EXPECT_EQ(muted["changed"], true);
    EXPECT_EQ(muted["unread_total"], 0) << "muted: her two unread leave the badge";
    auto event = transport_.waitFor(
        "parley/v1/u/alice/n", [](const json& e) { return e.value("ev", "") == "conv_settings"; });
    EXPECT_EQ(event.payload["conv"], conv);
    EXPECT_EQ(event.payload["muted"], true);
    for (const auto& sent : transport_.sentTo("parley/v1/u/bob/n")) {
        EXPECT_NE(sent.payload.value("ev", ""), "conv_settings") << "bob is not told";
    }
    EXPECT_EQ(set("alice", {{"muted", true}})["changed"], false);

    auto listed = call("alice", {{"op", "conv.list"}});
    EXPECT_EQ(listed["unread_total"], 0);
    EXPECT_EQ(listed["convs"][0]["unread"], 2) << "its own count stays";
    EXPECT_EQ(listed["convs"][0]["muted"], true);
    auto bobs = call("bob", {{"op", "conv.get"}, {"conv", conv}});
    EXPECT_EQ(bobs["muted"], false) << bobs;
    EXPECT_TRUE(bobs["pinned_at"].is_null());

    // A new message in the muted conversation: her badge in the msg event leaves it out.
    ASSERT_TRUE(sendMessage("bob", conv, "m3", "three")["ok"]);
    auto delivered = transport_.waitFor("parley/v1/u/alice/c/" + conv,
                                        [](const json& e) { return e.value("seq", 0) == 3; });
    EXPECT_EQ(delivered.payload["unread"], 3) << delivered.payload;
    EXPECT_EQ(delivered.payload["unread_total"], 0) << delivered.payload;
}

}  // namespace
}  // namespace parley::testing
