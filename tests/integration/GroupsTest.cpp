// Groups and their membership over the real broker (issue 21): conv.add, conv.remove,
// conv.leave, conv.rename, conv.admin, each event and each refusal, what a former or a new member
// reads, catch-up of membership changes with msg.changes, and sends racing a removal; on SQLite
// and MariaDB. The plain stack keeps the defaults: new members read since joining, at most 100
// members.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "BackendTest.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Groups : public BackendTest {
  protected:
    static std::string create(MqttTestClient& from, const std::vector<std::string>& members) {
        return ok(from.request({{"op", "conv.create"}, {"members", members}})).value("conv", "");
    }

    static json send(MqttTestClient& from, const std::string& conv, const std::string& body) {
        static std::atomic<int> counter{0};
        return from.request({{"op", "msg.send"},
                             {"conv", conv},
                             {"cmid", "gr" + std::to_string(++counter)},
                             {"body", body}});
    }

    // The "member" event of `kind` about `user` (or with that rev) on the client's conv topic.
    static json memberEvent(MqttTestClient& client, const std::string& conv,
                            const std::string& kind, int64_t rev) {
        return client
            .waitFor([&](const Received& r) {
                return r.topic == "parley/v1/u/" + client.uid() + "/c/" + conv &&
                       r.payload.value("ev", "") == "member" &&
                       r.payload.value("kind", "") == kind && r.payload.value("rev", 0) == rev;
            })
            .payload;
    }

    static std::vector<int64_t> historySeqs(MqttTestClient& reader, const std::string& conv) {
        std::vector<int64_t> seqs;
        const json reply = ok(reader.request({{"op", "msg.history"}, {"conv", conv}}));
        for (const auto& m : reply["msgs"]) {
            seqs.push_back(m["seq"]);
        }
        return seqs;
    }

    static std::set<std::string> membersOf(const json& summary) {
        std::set<std::string> uids;
        for (const auto& member : summary["members"]) {
            uids.insert(member["user"].get<std::string>());
        }
        return uids;
    }
};

TEST_P(Groups, AdminsChangeTheGroupAndEveryoneConcernedIsTold) {
    auto alice = newClient();
    auto bob = newClient();
    auto carol = newClient();
    const std::string conv = create(*alice, {bob->uid()});
    auto created = ok(alice->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(created["members"][0]["user"], alice->uid());
    EXPECT_EQ(created["members"][0]["admin"], true) << "the creator is the first admin";
    EXPECT_EQ(created["members"][1]["admin"], false);
    ok(send(*alice, conv, "before carol"));

    auto added =
        ok(alice->request({{"op", "conv.add"}, {"conv", conv}, {"members", {carol->uid()}}}));
    EXPECT_TRUE(added["changed"]);
    EXPECT_EQ(added["rev"], 1);
    ASSERT_EQ(added["changes"].size(), 1U);
    EXPECT_EQ(added["changes"][0]["kind"], "joined");
    EXPECT_EQ(added["changes"][0]["user"], carol->uid());
    EXPECT_EQ(added["changes"][0]["by"], alice->uid());
    EXPECT_EQ(added["changes"][0]["seq"], 1);
    for (auto* client : {alice.get(), bob.get(), carol.get()}) {
        auto event = memberEvent(*client, conv, "joined", 1);
        EXPECT_EQ(event["user"], carol->uid());
    }
    auto listed = carol->waitFor([&](const Received& r) {
        return r.topic == "parley/v1/u/" + carol->uid() + "/n" &&
               r.payload.value("ev", "") == "conv" && r.payload.value("reason", "") == "added";
    });
    EXPECT_EQ(listed.payload["conv"], conv);
    EXPECT_EQ(listed.payload["unread"], 0) << "what came before joining is not unread";
    EXPECT_TRUE(historySeqs(*carol, conv).empty()) << "she reads since joining";
    ok(send(*carol, conv, "hi all"));
    EXPECT_EQ(historySeqs(*carol, conv), (std::vector<int64_t>{2}));

    auto renamed = ok(alice->request({{"op", "conv.rename"}, {"conv", conv}, {"title", "Trip"}}));
    EXPECT_EQ(renamed["changes"][0]["kind"], "renamed");
    EXPECT_EQ(memberEvent(*bob, conv, "renamed", 2)["title"], "Trip");
    EXPECT_EQ(ok(bob->request({{"op", "conv.get"}, {"conv", conv}}))["title"], "Trip");
    auto same = ok(alice->request({{"op", "conv.rename"}, {"conv", conv}, {"title", "Trip"}}));
    EXPECT_FALSE(same["changed"]) << "a resend changes nothing";
    EXPECT_EQ(same["rev"], 2);

    ok(alice->request({{"op", "conv.admin"}, {"conv", conv}, {"user", bob->uid()}}));
    EXPECT_EQ(memberEvent(*carol, conv, "admin", 3)["user"], bob->uid());
    auto removed =
        ok(bob->request({{"op", "conv.remove"}, {"conv", conv}, {"members", {carol->uid()}}}));
    EXPECT_EQ(removed["changes"][0]["kind"], "removed");
    EXPECT_EQ(removed["changes"][0]["seq"], 2) << "the removal's point";
    auto told = memberEvent(*carol, conv, "removed", 4);
    EXPECT_EQ(told["user"], carol->uid()) << "the removed member is told";
    EXPECT_EQ(told["by"], bob->uid());
    memberEvent(*alice, conv, "removed", 4);

    // Removed: she sends nothing, reads up to her removal, and the group is no longer hers.
    ok(send(*alice, conv, "after carol"));
    EXPECT_EQ(codeOf(send(*carol, conv, "still here?")), "forbidden");
    EXPECT_EQ(historySeqs(*carol, conv), (std::vector<int64_t>{2}));
    EXPECT_EQ(historySeqs(*bob, conv), (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(codeOf(carol->request({{"op", "conv.get"}, {"conv", conv}})), "forbidden");
    EXPECT_EQ(codeOf(carol->request({{"op", "msg.read"}, {"conv", conv}, {"seq", 3}})),
              "forbidden");
    const json list = ok(carol->request({{"op", "conv.list"}}));
    for (const auto& summary : list["convs"]) {
        EXPECT_NE(summary["conv"], conv);
    }
    EXPECT_EQ(membersOf(ok(alice->request({{"op", "conv.get"}, {"conv", conv}}))),
              (std::set<std::string>{alice->uid(), bob->uid()}));
}

TEST_P(Groups, EachRefusalHasItsCodeAndChangesNothing) {
    auto alice = newClient();
    auto bob = newClient();
    auto outsider = newClient();
    const std::string conv = create(*alice, {bob->uid()});
    const std::string direct =
        ok(alice->request({{"op", "conv.open"}, {"peer", outsider->uid()}})).value("conv", "");

    EXPECT_EQ(codeOf(bob->request({{"op", "conv.add"}, {"conv", conv}, {"members", {"x-new"}}})),
              "not_admin");
    EXPECT_EQ(codeOf(bob->request({{"op", "conv.rename"}, {"conv", conv}, {"title", "Mine"}})),
              "not_admin");
    EXPECT_EQ(codeOf(bob->request({{"op", "conv.admin"}, {"conv", conv}, {"user", bob->uid()}})),
              "not_admin");
    EXPECT_EQ(
        codeOf(bob->request({{"op", "conv.remove"}, {"conv", conv}, {"members", {alice->uid()}}})),
        "not_admin");
    auto already =
        alice->request({{"op", "conv.add"}, {"conv", conv}, {"members", {"x-new", bob->uid()}}});
    EXPECT_EQ(codeOf(already), "already_member");
    EXPECT_EQ(already["error"]["users"], json({bob->uid()}));
    auto notThere =
        alice->request({{"op", "conv.remove"}, {"conv", conv}, {"members", {outsider->uid()}}});
    EXPECT_EQ(codeOf(notThere), "not_member");
    EXPECT_EQ(notThere["error"]["users"], json({outsider->uid()}));
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.admin"}, {"conv", conv}, {"user", "x-zed"}})),
              "not_member");
    std::vector<std::string> crowd;
    for (int i = 0; i < 99; ++i) {
        crowd.push_back("crowd-" + std::to_string(i));
    }
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.add"}, {"conv", conv}, {"members", crowd}})),
              "group_full")
        << "101 members, the limit is 100";
    for (const char* op : {"conv.add", "conv.remove"}) {
        EXPECT_EQ(codeOf(alice->request({{"op", op}, {"conv", direct}, {"members", {"x-new"}}})),
                  "not_group")
            << op;
    }
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.leave"}, {"conv", direct}})), "not_group");
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.rename"}, {"conv", direct}, {"title", "x"}})),
              "not_group");
    EXPECT_EQ(codeOf(outsider->request({{"op", "conv.leave"}, {"conv", conv}})), "forbidden");
    EXPECT_EQ(
        codeOf(outsider->request({{"op", "conv.add"}, {"conv", conv}, {"members", {"x-new"}}})),
        "forbidden");
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.leave"}, {"conv", "no-such-conv"}})),
              "not_found");
    EXPECT_EQ(codeOf(alice->request(
                  {{"op", "conv.remove"}, {"conv", conv}, {"members", {alice->uid()}}})),
              "bad_request")
        << "leaving is conv.leave";
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.add"}, {"conv", conv}})), "bad_request");
    EXPECT_EQ(
        codeOf(alice->request({{"op", "conv.add"}, {"conv", conv}, {"members", {"bad uid"}}})),
        "bad_request");
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.rename"}, {"conv", conv}})), "bad_request");
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.admin"}, {"conv", conv}})), "bad_request");

    auto summary = ok(alice->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(membersOf(summary), (std::set<std::string>{alice->uid(), bob->uid()}));
    EXPECT_EQ(summary["rev"], 0) << "nothing changed";
    EXPECT_TRUE(summary["title"].is_null());
}

TEST_P(Groups, WhenTheLastAdminLeavesTheLongestStandingMemberIsAdmin) {
    auto alice = newClient();
    auto bob = newClient();
    auto carol = newClient();
    const std::string conv = create(*alice, {bob->uid(), carol->uid()});
    ok(send(*bob, conv, "one"));
    auto left = ok(alice->request({{"op", "conv.leave"}, {"conv", conv}}));
    ASSERT_EQ(left["changes"].size(), 2U);
    EXPECT_EQ(left["changes"][0]["kind"], "left");
    EXPECT_EQ(left["changes"][1]["kind"], "admin");
    EXPECT_EQ(left["changes"][1]["user"], bob->uid());
    memberEvent(*alice, conv, "left", 1);  // the one who left is told too
    EXPECT_EQ(memberEvent(*carol, conv, "admin", 2)["user"], bob->uid());
    ok(send(*bob, conv, "two"));
    EXPECT_EQ(historySeqs(*alice, conv), (std::vector<int64_t>{1})) << "up to her leaving";
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.leave"}, {"conv", conv}})), "forbidden");
    ok(bob->request({{"op", "conv.add"}, {"conv", conv}, {"members", {alice->uid()}}}));
    EXPECT_EQ(historySeqs(*alice, conv), (std::vector<int64_t>{})) << "back: since rejoining";
}

// A client away while the group changed learns every change from msg.changes with the cursor it
// kept, and ends with the members and title conv.get shows.
TEST_P(Groups, AClientAwayCatchesUpOnMembershipWithOneCursor) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string carol = stack().newUser();
    const std::string dave = stack().newUser();
    const std::string conv = create(*alice, {bob->uid()});
    auto before = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}));
    std::set<std::string> members = membersOf(before);
    json title = before["title"];
    int64_t cursor = before["rev"];
    const std::string bobUid = bob->uid();
    bob.reset();  // away

    ok(alice->request({{"op", "conv.add"}, {"conv", conv}, {"members", {carol, dave}}}));
    ok(send(*alice, conv, "hello"));
    ok(alice->request({{"op", "msg.edit"}, {"conv", conv}, {"seq", 1}, {"body", "hello!"}}));
    ok(alice->request({{"op", "conv.rename"}, {"conv", conv}, {"title", "Plans"}}));
    ok(alice->request({{"op", "conv.remove"}, {"conv", conv}, {"members", {carol}}}));

    bob = stack().connect(bobUid);
    int edits = 0;
    for (;;) {
        auto page = ok(bob->request(
            {{"op", "msg.changes"}, {"conv", conv}, {"since_rev", cursor}, {"limit", 2}}));
        for (const auto& change : page["members"]) {
            const std::string kind = change["kind"];
            if (kind == "joined") {
                members.insert(change["user"].get<std::string>());
            } else if (kind == "removed" || kind == "left") {
                members.erase(change["user"].get<std::string>());
            } else if (kind == "renamed") {
                title = change["title"];
            }
        }
        edits += static_cast<int>(page["msgs"].size());
        cursor = page["next_rev"];
        if (!page["has_more"]) {
            break;
        }
    }
    auto now = ok(bob->request({{"op", "conv.get"}, {"conv", conv}}));
    EXPECT_EQ(members, membersOf(now));
    EXPECT_EQ(title, now["title"]);
    EXPECT_EQ(edits, 1);
    EXPECT_EQ(cursor, now["rev"]);
    EXPECT_EQ(cursor, 5);
}

// A member removed while sending from another connection: each message is stored before the
// removal (its seq at most the removal's) or refused, never stored after it.
TEST_P(Groups, SendsRacingTheirSendersRemovalAreStoredBeforeItOrRefused) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = create(*alice, {bob->uid()});
    std::atomic<bool> removed{false};
    std::atomic<int> sent{0};
    std::vector<json> replies;
    std::thread sender([&] {
        int afterRemoval = 0;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        for (int i = 0; afterRemoval < 10 && std::chrono::steady_clock::now() < deadline; ++i) {
            if (removed) {
                ++afterRemoval;
            }
            replies.push_back(send(*bob, conv, "b" + std::to_string(i)));
            ++sent;
        }
    });
    while (sent < 20) {
        std::this_thread::sleep_for(1ms);
    }
    auto removal =
        ok(alice->request({{"op", "conv.remove"}, {"conv", conv}, {"members", {bob->uid()}}}));
    removed = true;
    sender.join();
    const int64_t point = removal["changes"][0]["seq"];

    std::set<int64_t> acknowledged;
    int refused = 0;
    for (const auto& reply : replies) {
        if (codeOf(reply) == "ok") {
            EXPECT_LE(reply["seq"].get<int64_t>(), point) << "acknowledged after the removal";
            acknowledged.insert(reply["seq"].get<int64_t>());
        } else {
            EXPECT_EQ(codeOf(reply), "forbidden") << reply;
            ++refused;
        }
    }
    EXPECT_GE(refused, 10);
    std::set<int64_t> stored;
    std::optional<int64_t> after = 0;
    for (;;) {
        auto page = ok(alice->request(
            {{"op", "msg.history"}, {"conv", conv}, {"after", *after}, {"limit", 100}}));
        for (const auto& m : page["msgs"]) {
            EXPECT_LE(m["seq"].get<int64_t>(), point) << "stored after the removal: " << m;
            stored.insert(m["seq"].get<int64_t>());
            after = m["seq"].get<int64_t>();
        }
        if (!page["has_more"]) {
            break;
        }
    }
    EXPECT_EQ(stored, acknowledged);
    EXPECT_EQ(static_cast<int64_t>(stored.size()), point);
}

INSTANTIATE_TEST_SUITE_P(Backends, Groups, ::testing::Values("sqlite", "mariadb"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace parley::testing
