// msg.search and conv.set over the real broker (issue 21), on SQLite and MariaDB: search finds
// the caller's own conversations' messages newest first and in pages, never another
// conversation's, never a deleted or erased one, and follows edits; mute, archive and pin are
// kept across a user's devices and a muted conversation leaves the unread badge.

#include <gtest/gtest.h>

#include <set>

#include "BackendTest.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Search : public BackendTest {
  protected:
    static int64_t send(MqttTestClient& from, const std::string& conv, const std::string& body) {
        static std::atomic<int> counter{0};
        return ok(from.request({{"op", "msg.send"},
                                {"conv", conv},
                                {"cmid", "s" + std::to_string(++counter)},
                                {"body", body}}))
            .value("seq", int64_t{0});
    }

    static json search(MqttTestClient& client, json command) {
        command["op"] = "msg.search";
        return client.request(command);
    }

    // (conv, seq) of each message found, in order.
    static std::vector<std::pair<std::string, int64_t>> found(const json& reply) {
        std::vector<std::pair<std::string, int64_t>> hits;
        for (const auto& m : reply["msgs"]) {
            hits.emplace_back(m["conv"], m["seq"]);
        }
        return hits;
    }
};

TEST_P(Search, FindsOwnConversationsNewestFirstInPagesAndNeverAnothers) {
    auto alice = newClient();
    auto bob = newClient();
    auto carol = newClient();
    const std::string ab = open(*alice, bob->uid());
    const std::string ac = open(*alice, carol->uid());
    const std::string bc = open(*bob, carol->uid());
    send(*alice, ab, "selling my tandem bicycle");
    send(*bob, bc, "alice sells her tandem, carol");
    send(*carol, ac, "is the Tandem still available?");
    send(*bob, ab, "how old is the tandem");
    send(*bob, ab, "unrelated");

    auto first = ok(search(*alice, {{"q", "tandem"}, {"limit", 2}}));
    using Hits = std::vector<std::pair<std::string, int64_t>>;
    EXPECT_EQ(found(first), (Hits{{ab, 2}, {ac, 1}}));
    EXPECT_EQ(first["has_more"], true);
    EXPECT_EQ(first["msgs"][0]["body"], "how old is the tandem");
    EXPECT_EQ(first["msgs"][0]["sender"], bob->uid());
    std::set<std::string> convs;
    for (const auto& summary : first["convs"]) {
        convs.insert(summary["conv"]);
        EXPECT_TRUE(summary.contains("members")) << summary;
    }
    EXPECT_EQ(convs, (std::set<std::string>{ab, ac})) << "each message's conversation";
    auto second =
        ok(search(*alice, {{"q", "tandem"}, {"limit", 2}, {"before", first["next_before"]}}));
    EXPECT_EQ(found(second), (Hits{{ab, 1}})) << "bob and carol's conversation is not hers";
    EXPECT_EQ(second["has_more"], false);

    EXPECT_EQ(found(ok(search(*carol, {{"q", "tandem"}}))), (Hits{{ac, 1}, {bc, 1}}));
    EXPECT_EQ(found(ok(search(*alice, {{"q", "tandem"}, {"conv", ac}}))), (Hits{{ac, 1}}));
    EXPECT_EQ(codeOf(search(*alice, {{"q", "tandem"}, {"conv", bc}})), "forbidden");
    EXPECT_EQ(codeOf(search(*alice, {{"q", "\"*()"}})), "bad_request");
    EXPECT_EQ(codeOf(search(*alice, {{"q", std::string(300, 'x')}})), "bad_request");
    EXPECT_EQ(codeOf(search(*alice, {{"q", "tandem\" OR \"x"}})), "ok");
    auto outsider = newClient();
    EXPECT_TRUE(ok(search(*outsider, {{"q", "tandem"}}))["msgs"].empty());
}

TEST_P(Search, NeverFindsDeletedOrErasedMessagesAndFollowsEdits) {
    auto alice = newClient();
    auto bob = newClient();
    auto ops = stack().connect("ops");  // the plain stack's admin
    const std::string conv = open(*alice, bob->uid());
    send(*alice, conv, "the vault code is marmalade");
    send(*bob, conv, "marmalade, got it");
    send(*alice, conv, "meet at the statoin");
    ASSERT_EQ(ok(search(*bob, {{"q", "marmalade"}}))["msgs"].size(), 2U);

    ok(alice->request({{"op", "msg.delete"}, {"conv", conv}, {"seq", 1}}));
    auto afterDelete = ok(search(*bob, {{"q", "marmalade"}}));
    ASSERT_EQ(afterDelete["msgs"].size(), 1U) << afterDelete;
    EXPECT_EQ(afterDelete["msgs"][0]["seq"], 2);
    EXPECT_TRUE(ok(search(*bob, {{"q", "vault"}}))["msgs"].empty());

    ok(alice->request(
        {{"op", "msg.edit"}, {"conv", conv}, {"seq", 3}, {"body", "meet at the station"}}));
    EXPECT_TRUE(ok(search(*bob, {{"q", "statoin"}}))["msgs"].empty()) << "the old text";
    auto edited = ok(search(*bob, {{"q", "station"}}));
    ASSERT_EQ(edited["msgs"].size(), 1U) << edited;
    EXPECT_EQ(edited["msgs"][0]["body"], "meet at the station");
    EXPECT_TRUE(edited["msgs"][0].contains("edited_at"));

    ok(ops->request({{"op", "admin.user.erase"}, {"user", bob->uid()}}, 30s));
    EXPECT_TRUE(ok(search(*alice, {{"q", "marmalade"}}))["msgs"].empty()) << "bob's is erased";
    EXPECT_EQ(ok(search(*alice, {{"q", "station"}}))["msgs"].size(), 1U) << "hers is kept";
}

TEST_P(Search, MuteArchiveAndPinAreKeptAcrossDevicesAndMutedLeavesTheBadge) {
    auto phone = newClient();
    auto laptop = stack().connect(phone->uid());
    auto bob = newClient();
    auto carol = newClient();
    const std::string noisy = open(*phone, bob->uid());
    const std::string quiet = open(*phone, carol->uid());
    send(*bob, noisy, "one");
    send(*bob, noisy, "two");
    send(*carol, quiet, "hello");
    EXPECT_EQ(ok(phone->request({{"op", "conv.list"}}))["unread_total"], 3);

    auto muted = ok(phone->request({{"op", "conv.set"},
                                    {"conv", noisy},
                                    {"muted", true},
                                    {"archived", true},
                                    {"pinned", true}}));
    EXPECT_EQ(muted["unread_total"], 1);
    auto told = laptop->waitFor([&](const Received& r) {
        return r.topic == "parley/v1/u/" + laptop->uid() + "/n" &&
               r.payload.value("ev", "") == "conv_settings";
    });
    EXPECT_EQ(told.payload["conv"], noisy);
    EXPECT_EQ(told.payload["muted"], true);
    EXPECT_EQ(told.payload["archived"], true);
    EXPECT_EQ(told.payload["pinned_at"], muted["pinned_at"]);

    auto listed = ok(laptop->request({{"op", "conv.list"}}));
    EXPECT_EQ(listed["unread_total"], 1) << "the muted conversation's two leave the badge";
    for (const auto& summary : listed["convs"]) {
        const bool isNoisy = summary["conv"] == noisy;
        EXPECT_EQ(summary["muted"], isNoisy);
        EXPECT_EQ(summary["archived"], isNoisy);
        EXPECT_EQ(summary["pinned_at"].is_null(), !isNoisy);
        EXPECT_EQ(summary["unread"], isNoisy ? 2 : 1) << "its own count stays";
    }
    auto bobsView = ok(bob->request({{"op", "conv.get"}, {"conv", noisy}}));
    EXPECT_EQ(bobsView["muted"], false) << "her settings are hers";

    send(*bob, noisy, "three");
    auto delivered = laptop->waitFor([&](const Received& r) {
        return r.topic == "parley/v1/u/" + laptop->uid() + "/c/" + noisy &&
               r.payload.value("seq", 0) == 3;
    });
    EXPECT_EQ(delivered.payload["unread"], 3);
    EXPECT_EQ(delivered.payload["unread_total"], 1);

    ok(laptop->request({{"op", "conv.set"}, {"conv", noisy}, {"muted", false}}));
    auto back = ok(phone->request({{"op", "conv.get"}, {"conv", noisy}}));
    EXPECT_EQ(back["muted"], false);
    EXPECT_EQ(back["archived"], true) << "what conv.set did not name stays";
    EXPECT_EQ(ok(phone->request({{"op", "conv.list"}}))["unread_total"], 4);
    EXPECT_EQ(codeOf(carol->request({{"op", "conv.set"}, {"conv", noisy}, {"muted", true}})),
              "forbidden");
}

INSTANTIATE_TEST_SUITE_P(Backends, Search, ::testing::Values("sqlite", "mariadb"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace parley::testing
