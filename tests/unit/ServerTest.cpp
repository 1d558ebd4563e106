// The whole command pipeline (decoder, ordered workers, dispatcher, handlers, SQLite store, outbox)
// driven through Server::onInbound with an in-memory transport: no broker, no network.

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "config/ConfigLoader.h"
#include "parley/testing/ServerHarness.h"
#include "protocol/ErrorCode.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class ServerTest : public ServerHarness {
  protected:
    ServerTest() {
        config_.presence.awayAfterMs = 1000;
        config_.presence.sweepIntervalMs = 50;
        config_.limits.maxGroupMembers = 4;
        config_.typing.burst = 2;
        config_.typing.perSecond = 1;
    }

    // Sends `payload` as is (no id added) and returns the next reply to `uid`.
    json raw(const std::string& uid, const std::string& payload) {
        const size_t before = transport_.sentTo("parley/v1/u/" + uid + "/resp").size();
        server().onInbound(InboundMessage{"parley/v1/c2s/" + uid, payload, ""});
        for (int i = 0; i < 500; ++i) {
            auto replies = transport_.sentTo("parley/v1/u/" + uid + "/resp");
            if (replies.size() > before) {
                return replies.back().payload;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("no reply to raw payload");
    }
};

TEST_F(ServerTest, PingAnswersWithCorrelationData) {
    const std::string id = "p1";
    server().onInbound(
        InboundMessage{"parley/v1/c2s/alice", R"({"op":"ping","id":"p1"})", "\x01\x02"});
    auto sent =
        transport_.waitFor("parley/v1/u/alice/resp", [](const json& r) { return r["id"] == "p1"; });
    EXPECT_TRUE(sent.payload["ok"]);
    EXPECT_EQ(sent.payload["ts"], clock_.nowMs());
    EXPECT_EQ(sent.message.correlationData, "\x01\x02");
    EXPECT_EQ(sent.message.qos, 1);
}

TEST_F(ServerTest, MalformedInputGetsCodedReplies) {
    auto notJson = raw("alice", "this is not json");
    EXPECT_EQ(codeOf(notJson), "bad_request");
    EXPECT_TRUE(notJson["id"].is_null());
    EXPECT_EQ(codeOf(raw("alice", "[]")), "bad_request");
    EXPECT_EQ(codeOf(raw("alice", "{\"op\":\"ping\",\"id\":\"\xFF\"}")), "bad_request");
    EXPECT_EQ(codeOf(raw("alice", std::string(70000, ' '))), "too_large");
    auto unknown = call("alice", {{"op", "teleport"}});
    EXPECT_EQ(codeOf(unknown), "unknown_op");
    EXPECT_EQ(unknown["error"]["message"], "unknown op 'teleport'");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", 42}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "b+b"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "b/b"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "b#"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "alice"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "msg.history"}, {"conv", 5}})), "bad_request");
    EXPECT_EQ(store_->listConversations("alice", 10, std::nullopt).conversations.size(), 0U);
}

TEST_F(ServerTest, OpenDirectIsGetOrCreateAndAnnounced) {
    auto reply =
        call("alice", {{"op", "conv.open"},
                       {"peer", "bob"},
                       {"context", {{"type", "listing"}, {"id", "42"}, {"title", "Bike"}}}});
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_TRUE(reply["created"]);
    EXPECT_EQ(reply["kind"], "direct");
    EXPECT_EQ(reply["context"]["type"], "listing");
    EXPECT_EQ(reply["context"]["title"], "Bike");
    EXPECT_EQ(reply["members"].size(), 2U);
    EXPECT_EQ(reply["unread"], 0);
    const std::string conv = reply["conv"];
    for (const char* uid : {"alice", "bob"}) {
        auto event =
            transport_.waitFor(std::string("parley/v1/u/") + uid + "/n",
                               [&](const json& e) { return e.value("conv", json()) == conv; });
        EXPECT_EQ(event.payload["ev"], "conv");
        EXPECT_EQ(event.payload["reason"], "created");
    }
    auto again = call(
        "bob",
        {{"op", "conv.open"}, {"peer", "alice"}, {"context", {{"type", "listing"}, {"id", "42"}}}});
    EXPECT_FALSE(again["created"]);
    EXPECT_EQ(again["conv"], conv);
    auto plain = call("bob", {{"op", "conv.open"}, {"peer", "alice"}});
    EXPECT_NE(plain["conv"], conv) << "no context is another thread";

    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"},
                                    {"peer", "bob"},
                                    {"context", {{"type", "Listing!"}, {"id", "1"}}}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"},
                                    {"peer", "bob"},
                                    {"context", {{"type", "listing"}, {"id", "a\nb"}}}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "bob"}, {"context", "x"}})),
              "bad_request");
}

TEST_F(ServerTest, SendDeliversToEveryMemberAndCountsUnread) {
    const std::string conv = openDirect("alice", "bob");
    auto reply = call("alice", {{"op", "msg.send"},
                                {"conv", conv},
                                {"cmid", "m1"},
                                {"body", "hi bob"},
                                {"meta", {{"lang", "en"}}}});
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(reply["seq"], 1);
    EXPECT_EQ(reply["conv"], conv);
    EXPECT_EQ(reply["ts"], clock_.nowMs());
    for (const char* uid : {"alice", "bob"}) {
        auto event =
            transport_.waitFor(std::string("parley/v1/u/") + uid + "/c/" + conv,
                               [](const json& e) { return e.value("ev", json()) == "msg"; });
        EXPECT_EQ(event.payload["seq"], 1);
        EXPECT_EQ(event.payload["sender"], "alice");
        EXPECT_EQ(event.payload["cmid"], "m1");
        EXPECT_EQ(event.payload["body"], "hi bob");
        EXPECT_EQ(event.payload["meta"]["lang"], "en");
        if (std::string(uid) == "bob") {
            EXPECT_EQ(event.payload["unread"], 1) << "the recipient's copy carries the counts";
            EXPECT_EQ(event.payload["unread_total"], 1);
        } else {
            EXPECT_FALSE(event.payload.contains("unread")) << "the sender's counts did not move";
            EXPECT_FALSE(event.payload.contains("unread_total"));
        }
    }
    EXPECT_TRUE(transport_.sentTo("parley/v1/u/alice/n").size() == 1U) << "only the conv event";
    EXPECT_TRUE(transport_.sentTo("parley/v1/u/bob/n").size() == 1U)
        << "only the conv event: the counts came with the message";

    auto dup = call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m1"}, {"body", "x"}});
    EXPECT_TRUE(dup["ok"]);
    EXPECT_EQ(dup["seq"], 1);
    EXPECT_TRUE(dup["dup"]);
    EXPECT_EQ(store_->conversation(conv)->lastSeq, 1);
}

TEST_F(ServerTest, SendRefusesBadInputAndOutsiders) {
    const std::string conv = openDirect("alice", "bob");
    EXPECT_EQ(codeOf(call("alice", {{"op", "msg.send"}, {"conv", conv}, {"body", "x"}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m"}})),
              "bad_request");
    EXPECT_EQ(
        codeOf(call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m"}, {"body", ""}})),
        "bad_request");
    EXPECT_EQ(
        codeOf(call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m"}, {"body", 1}})),
        "bad_request");
    EXPECT_EQ(
        codeOf(call(
            "alice",
            {{"op", "msg.send"}, {"conv", conv}, {"cmid", std::string(65, 'c')}, {"body", "x"}})),
        "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "msg.send"},
                                    {"conv", conv},
                                    {"cmid", "m"},
                                    {"body", std::string(16385, 'x')}})),
              "too_large");
    EXPECT_EQ(codeOf(call("alice", {{"op", "msg.send"},
                                    {"conv", conv},
                                    {"cmid", "m"},
                                    {"body", "x"},
                                    {"meta", {{"pad", std::string(5000, 'x')}}}})),
              "too_large");
    EXPECT_EQ(codeOf(call(
                  "alice",
                  {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m"}, {"body", "x"}, {"meta", 3}})),
              "bad_request");
    EXPECT_EQ(codeOf(sendMessage("mallory", conv, "m")), "forbidden");
    EXPECT_EQ(codeOf(sendMessage("alice", "cnothere", "m")), "not_found");
    EXPECT_EQ(store_->conversation(conv)->lastSeq, 0) << "nothing was stored";
    EXPECT_TRUE(transport_.sentTo("parley/v1/u/bob/c/" + conv).empty()) << "nothing was sent";
}

TEST_F(ServerTest, SendsOfOneConversationKeepTheirOrder) {
    config_.limits.userQueuedCommands = 0;  // one user's burst of 200 on purpose: no ingress cap
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 200; ++i) {
        json command = {{"op", "msg.send"},
                        {"id", "o" + std::to_string(i)},
                        {"conv", conv},
                        {"cmid", "m" + std::to_string(i)},
                        {"body", "n" + std::to_string(i)}};
        server().onInbound(InboundMessage{"parley/v1/c2s/alice", command.dump(), ""});
    }
    transport_.waitFor("parley/v1/u/alice/resp", [](const json& r) { return r["id"] == "o200"; });
    for (int i = 1; i <= 200; ++i) {
        auto reply = transport_.waitFor("parley/v1/u/alice/resp", [&](const json& r) {
            return r["id"] == "o" + std::to_string(i);
        });
        ASSERT_EQ(reply.payload["seq"], i) << "command " << i << " overtook another";
    }
    auto events = transport_.sentTo("parley/v1/u/bob/c/" + conv);
    ASSERT_EQ(events.size(), 200U);
    for (size_t i = 0; i < events.size(); ++i) {
        ASSERT_EQ(events[i].payload["seq"], static_cast<int64_t>(i + 1))
            << "published in seq order";
    }
}

TEST_F(ServerTest, HistoryPagesAndIsForMembersOnly) {
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 120; ++i) {
        sendMessage(i % 2 ? "alice" : "bob", conv, "m" + std::to_string(i));
    }
    auto page = call("bob", {{"op", "msg.history"}, {"conv", conv}, {"limit", 500}});
    ASSERT_TRUE(page["ok"]) << page;
    EXPECT_EQ(page["msgs"].size(), 100U) << "at most 100 per page";
    EXPECT_EQ(page["msgs"][0]["seq"], 21);
    EXPECT_EQ(page["msgs"][99]["seq"], 120);
    EXPECT_TRUE(page["has_more"]);
    auto older = call("bob", {{"op", "msg.history"}, {"conv", conv}, {"before", 21}});
    EXPECT_EQ(older["msgs"].size(), 20U);
    EXPECT_FALSE(older["has_more"]);
    auto newer = call("bob", {{"op", "msg.history"}, {"conv", conv}, {"after", 110}, {"limit", 5}});
    EXPECT_EQ(newer["msgs"][0]["seq"], 111);
    EXPECT_EQ(newer["msgs"].size(), 5U);
    EXPECT_TRUE(newer["has_more"]);
    EXPECT_EQ(codeOf(call("bob", {{"op", "msg.history"}, {"conv", conv}, {"limit", 0}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("bob", {{"op", "msg.history"}, {"conv", conv}, {"before", -1}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("bob", {{"op", "msg.history"}, {"conv", conv}, {"after", 1.5}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("mallory", {{"op", "msg.history"}, {"conv", conv}})), "forbidden");
}

TEST_F(ServerTest, ReadMovesTheWatermarkAndTellsEveryone) {
    const std::string conv = openDirect("alice", "bob");
    for (int i = 1; i <= 3; ++i) {
        sendMessage("alice", conv, "m" + std::to_string(i));
    }
    auto reply = call("bob", {{"op", "msg.read"}, {"conv", conv}, {"seq", 2}});
    ASSERT_TRUE(reply["ok"]) << reply;
    EXPECT_EQ(reply["read_seq"], 2);
    EXPECT_EQ(reply["unread"], 1);
    EXPECT_EQ(reply["unread_total"], 1);
    for (const char* uid : {"alice", "bob"}) {
        auto event =
            transport_.waitFor(std::string("parley/v1/u/") + uid + "/c/" + conv,
                               [](const json& e) { return e.value("ev", json()) == "read"; });
        EXPECT_EQ(event.payload["user"], "bob");
        EXPECT_EQ(event.payload["seq"], 2);
    }
    transport_.waitFor("parley/v1/u/bob/n", [](const json& e) {
        return e.value("ev", json()) == "unread" && e.value("unread", json()) == 1 &&
               e.value("unread_total", json()) == 1;
    });
    const size_t before = transport_.count();
    auto back = call("bob", {{"op", "msg.read"}, {"conv", conv}, {"seq", 1}});
    EXPECT_EQ(back["read_seq"], 2) << "never moves back";
    EXPECT_EQ(transport_.count(), before + 1) << "only the reply: nothing moved";
    EXPECT_EQ(codeOf(call("bob", {{"op", "msg.read"}, {"conv", conv}})), "bad_request");
    EXPECT_EQ(codeOf(call("eve", {{"op", "msg.read"}, {"conv", conv}, {"seq", 1}})), "forbidden");
}

TEST_F(ServerTest, EachMembersCopyOfAGroupMessageCarriesTheirOwnCounts) {
    const std::string direct = openDirect("carol", "bob");
    sendMessage("carol", direct, "d1");
    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    const std::string conv = group["conv"];
    sendMessage("alice", conv, "a1");
    sendMessage("alice", conv, "a2");
    sendMessage("bob", conv, "b1");  // bob's watermark moves to 3
    sendMessage("alice", conv, "a3");
    const auto copyOf = [&](const std::string& uid) {
        return transport_
            .waitFor("parley/v1/u/" + uid + "/c/" + conv,
                     [](const json& e) {
                         return e.value("ev", json()) == "msg" && e.value("seq", json()) == 4;
                     })
            .payload;
    };
    const json bob = copyOf("bob");
    EXPECT_EQ(bob["unread"], 1);
    EXPECT_EQ(bob["unread_total"], 2) << "1 here and carol's direct message";
    const json carol = copyOf("carol");
    EXPECT_EQ(carol["unread"], 4);
    EXPECT_EQ(carol["unread_total"], 4) << "her own direct message is read";
    const json alice = copyOf("alice");
    EXPECT_FALSE(alice.contains("unread"));
    for (const json* copy : {&bob, &carol, &alice}) {
        EXPECT_EQ((*copy)["cmid"], "a3");
        EXPECT_EQ((*copy)["sender"], "alice");
    }
}

TEST_F(ServerTest, TypingGoesToOthersOnlyAndIsRateLimited) {
    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol"}}});
    const std::string conv = group["conv"];
    auto reply = call("alice", {{"op", "typing"}, {"conv", conv}, {"state", "start"}});
    ASSERT_TRUE(reply["ok"]) << reply;
    for (const char* uid : {"bob", "carol"}) {
        auto event =
            transport_.waitFor(std::string("parley/v1/u/") + uid + "/c/" + conv,
                               [](const json& e) { return e.value("ev", json()) == "typing"; });
        EXPECT_EQ(event.payload["user"], "alice");
        EXPECT_EQ(event.payload["state"], "start");
        EXPECT_EQ(event.message.qos, 0);
    }
    EXPECT_TRUE(transport_.sentTo("parley/v1/u/alice/c/" + conv).empty());
    EXPECT_TRUE(call("alice", {{"op", "typing"}, {"conv", conv}, {"state", "stop"}})["ok"]);
    auto limited = call("alice", {{"op", "typing"}, {"conv", conv}, {"state", "start"}});
    EXPECT_EQ(codeOf(limited), "rate_limited");
    EXPECT_EQ(limited["error"]["retry_after_ms"], 1000);
    clock_.advance(1000);
    EXPECT_TRUE(call("alice", {{"op", "typing"}, {"conv", conv}, {"state", "start"}})["ok"]);
    EXPECT_EQ(codeOf(call("bob", {{"op", "typing"}, {"conv", conv}, {"state", "maybe"}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("eve", {{"op", "typing"}, {"conv", conv}, {"state", "stop"}})),
              "forbidden");
}

TEST_F(ServerTest, GroupsHaveLimitsAndAnnounceThemselves) {
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", json::array()}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"alice"}}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"b", "c", "d", "e"}}})),
              "too_large")
        << "4 members at most, the creator included";
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"b", 7}}})), "bad_request");
    auto group = call(
        "alice", {{"op", "conv.create"}, {"members", {"bob", "carol", "bob"}}, {"title", "Trip"}});
    ASSERT_TRUE(group["ok"]) << group;
    EXPECT_EQ(group["kind"], "group");
    EXPECT_EQ(group["title"], "Trip");
    EXPECT_EQ(group["members"].size(), 3U);
    for (const char* uid : {"alice", "bob", "carol"}) {
        transport_.waitFor(std::string("parley/v1/u/") + uid + "/n",
                           [&](const json& e) { return e.value("conv", json()) == group["conv"]; });
    }
    auto got = call("carol", {{"op", "conv.get"}, {"conv", group["conv"]}});
    EXPECT_EQ(got["title"], "Trip");
    EXPECT_EQ(codeOf(call("dave", {{"op", "conv.get"}, {"conv", group["conv"]}})), "forbidden");
    EXPECT_EQ(codeOf(call("dave", {{"op", "conv.get"}, {"conv", "cmissing"}})), "not_found");
}

TEST_F(ServerTest, ListShowsUnreadAndPagesWithACursor) {
    std::vector<std::string> convs;
    for (int i = 0; i < 5; ++i) {
        convs.push_back(openDirect("p" + std::to_string(i), "zoe"));
        clock_.advance(10);
        sendMessage("p" + std::to_string(i), convs.back(), "m", "from p" + std::to_string(i));
        clock_.advance(10);
    }
    auto first = call("zoe", {{"op", "conv.list"}, {"limit", 2}});
    ASSERT_TRUE(first["ok"]) << first;
    EXPECT_EQ(first["unread_total"], 5);
    ASSERT_EQ(first["convs"].size(), 2U);
    EXPECT_EQ(first["convs"][0]["conv"], convs[4]);
    EXPECT_EQ(first["convs"][0]["unread"], 1);
    EXPECT_EQ(first["convs"][0]["preview"]["body"], "from p4");
    EXPECT_TRUE(first["has_more"]);
    auto second =
        call("zoe", {{"op", "conv.list"}, {"limit", 10}, {"before", first["next_before"]}});
    ASSERT_EQ(second["convs"].size(), 3U);
    EXPECT_EQ(second["convs"][0]["conv"], convs[2]);
    EXPECT_FALSE(second["has_more"]);
    EXPECT_FALSE(second.contains("next_before"));
    EXPECT_EQ(codeOf(call("zoe", {{"op", "conv.list"}, {"before", "garbage"}})), "bad_request");
    EXPECT_EQ(codeOf(call("zoe", {{"op", "conv.list"}, {"limit", 101}})), "bad_request");
}

TEST_F(ServerTest, ListCanBeFilteredByContext) {
    const json bike = {{"type", "listing"}, {"id", "bike"}};
    const std::string aboutBike =
        call("buyer", {{"op", "conv.open"}, {"peer", "seller"}, {"context", bike}})["conv"];
    call("other", {{"op", "conv.open"}, {"peer", "seller"}, {"context", bike}});
    call("buyer", {{"op", "conv.open"}, {"peer", "seller"}});
    auto filtered = call("seller", {{"op", "conv.list"}, {"context", bike}});
    ASSERT_TRUE(filtered["ok"]) << filtered;
    ASSERT_EQ(filtered["convs"].size(), 2U);
    for (const auto& conv : filtered["convs"]) {
        EXPECT_EQ(conv["context"]["id"], "bike");
        EXPECT_TRUE(conv["context"].contains("status"));
    }
    auto mine = call("buyer", {{"op", "conv.list"}, {"context", bike}});
    ASSERT_EQ(mine["convs"].size(), 1U);
    EXPECT_EQ(mine["convs"][0]["conv"], aboutBike);
    EXPECT_EQ(call("seller", {{"op", "conv.list"}})["convs"].size(), 3U);
    EXPECT_EQ(codeOf(call("seller", {{"op", "conv.list"}, {"context", {{"type", "listing"}}}})),
              "bad_request");
}

TEST_F(ServerTest, ProfilesNameMembers) {
    auto set = call("alice", {{"op", "profile.set"}, {"name", "Alice A."}});
    EXPECT_EQ(set["name"], "Alice A.");
    EXPECT_EQ(codeOf(call("alice", {{"op", "profile.set"}, {"name", std::string(65, 'n')}})),
              "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "profile.set"}})), "bad_request");
    auto summary = call("bob", {{"op", "conv.open"}, {"peer", "alice"}});
    bool named = false;
    for (const auto& member : summary["members"]) {
        named = named || (member["user"] == "alice" && member["name"] == "Alice A.");
    }
    EXPECT_TRUE(named) << summary;
    auto profile = call("bob", {{"op", "profile.get"}, {"user", "alice"}});
    EXPECT_EQ(profile["name"], "Alice A.");
    EXPECT_EQ(profile["presence"]["state"], "online");
    auto stranger = call("bob", {{"op", "profile.get"}, {"user", "nobody"}});
    EXPECT_EQ(stranger["presence"]["state"], "offline");
    EXPECT_TRUE(stranger["presence"]["last_seen"].is_null());
}

TEST_F(ServerTest, PresenceIsRetainedAndFollowsActivity) {
    auto reply = call("alice", {{"op", "presence"}, {"state", "online"}});
    EXPECT_EQ(reply["state"], "online");
    auto retained = transport_.waitFor("parley/v1/presence/alice",
                                       [](const json& p) { return p["state"] == "online"; });
    EXPECT_TRUE(retained.message.retain);
    EXPECT_EQ(retained.payload["user"], "alice");
    EXPECT_EQ(retained.payload["last_seen"], clock_.nowMs());

    // Idle past away_after: the sweep marks alice away.
    clock_.advance(1500);
    transport_.waitFor("parley/v1/presence/alice",
                       [](const json& p) { return p["state"] == "away"; });
    // Her next command brings her back.
    call("alice", {{"op", "ping"}});
    auto presences = transport_.sentTo("parley/v1/presence/alice");
    EXPECT_EQ(presences.back().payload["state"], "online");

    // A chosen away is not undone by activity; offline (the last will) is announced.
    call("alice", {{"op", "presence"}, {"state", "away"}});
    clock_.advance(5000);  // past the touch interval
    call("alice", {{"op", "ping"}});
    EXPECT_EQ(transport_.sentTo("parley/v1/presence/alice").back().payload["state"], "away");
    server().onInbound(
        InboundMessage{"parley/v1/c2s/alice", R"({"op":"presence","state":"offline"})", ""});
    transport_.waitFor("parley/v1/presence/alice",
                       [](const json& p) { return p["state"] == "offline"; });
    EXPECT_EQ(codeOf(call("alice", {{"op", "presence"}, {"state", "busy"}})), "bad_request");
}

// A command marked "activity": false (a script acting for the user, e.g. `parley list` from cron)
// leaves presence as it is: offline stays offline, no presence is published, last_seen keeps.
TEST_F(ServerTest, CommandsMarkedNotActivityLeavePresenceAlone) {
    call("alice", {{"op", "presence"}, {"state", "offline"}});
    const auto before = transport_.sentTo("parley/v1/presence/alice");
    ASSERT_EQ(before.back().payload["state"], "offline");
    clock_.advance(60000);  // well past the touch interval
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.list"}, {"activity", false}})), "ok");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "bob"}, {"activity", false}})),
              "ok");
    EXPECT_EQ(transport_.sentTo("parley/v1/presence/alice").size(), before.size());
    const auto stored = store_->user("alice");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->presence.state, store::PresenceState::Offline);
    EXPECT_EQ(stored->presence.lastSeen, before.back().payload["last_seen"].get<int64_t>());

    EXPECT_EQ(codeOf(call("alice", {{"op", "ping"}, {"activity", "no"}})), "bad_request");
    // Unmarked (or marked true), a command is her activity: online again.
    call("alice", {{"op", "ping"}, {"activity", true}});
    EXPECT_EQ(transport_.sentTo("parley/v1/presence/alice").back().payload["state"], "online");
}

TEST_F(ServerTest, HooksCanRejectAndRewriteBeforeStore) {
    std::vector<int64_t> afterSeqs;
    auto& hooks = server().hooks();
    hooks.add(Hook::MessageBeforeStore, "no-spam", [](const HookPayload& payload, auto) {
        MessageDraft& draft = *std::get<MessageDraft*>(payload);
        if (draft.body.find("spam") != std::string::npos) {
            return Verdict::reject(ErrorCode::Forbidden, "no spam here");
        }
        if (draft.body == "shout") {
            draft.body = "SHOUT";
            draft.meta = {{"rewritten", true}};
        }
        return Verdict::proceed();
    });
    hooks.add(Hook::MessageAfterStore, "recorder", [&](const HookPayload& payload, auto) {
        afterSeqs.push_back(std::get<const StoredMessage*>(payload)->message.seq);
        return Verdict::proceed();
    });
    hooks.add(Hook::ConversationBeforeCreate, "no-groups", [](const HookPayload& payload, auto) {
        if (std::get<const ConversationDraft*>(payload)->kind == store::ConversationKind::Group) {
            return Verdict::reject(ErrorCode::Forbidden, "groups are closed");
        }
        return Verdict::proceed();
    });
    const std::string conv = openDirect("alice", "bob");
    auto refused = sendMessage("alice", conv, "m1", "buy spam");
    EXPECT_EQ(codeOf(refused), "forbidden");
    EXPECT_EQ(refused["error"]["message"], "no spam here");
    EXPECT_EQ(store_->conversation(conv)->lastSeq, 0);
    auto rewritten = sendMessage("alice", conv, "m2", "shout");
    ASSERT_TRUE(rewritten["ok"]);
    auto stored = store_->history({conv, {}, {}, 10});
    ASSERT_EQ(stored.messages.size(), 1U);
    EXPECT_EQ(stored.messages[0].body, "SHOUT");
    EXPECT_EQ(stored.messages[0].metaJson, std::string(R"({"rewritten":true})"));
    EXPECT_TRUE(sendMessage("alice", conv, "m2", "shout")["dup"]) << "a resend skips the hooks";
    EXPECT_EQ(afterSeqs, std::vector<int64_t>{1});
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"bob"}}})), "forbidden");
}

TEST_F(ServerTest, ExtensionCommandsAndAdminCommands) {
    config_.admins = {"root"};
    server().hooks().addCommand("demo.echo", "demo", [](const CommandCall& call, auto) {
        if (call.command.args.value("text", "") == "no") {
            return Verdict::reject(ErrorCode::Forbidden, "demo says no");
        }
        return Verdict::replyWith(
            {{"echo", call.command.args.value("text", "")}, {"admin", call.isAdmin}});
    });
    server().hooks().addCommand("demo.silent", "demo",
                                [](const CommandCall&, auto) { return Verdict::defer(); });
    auto echoed = call("root", {{"op", "demo.echo"}, {"text", "hi"}});
    EXPECT_EQ(echoed["echo"], "hi");
    EXPECT_EQ(echoed["admin"], true);
    EXPECT_EQ(call("alice", {{"op", "demo.echo"}})["admin"], false);
    EXPECT_EQ(codeOf(call("alice", {{"op", "demo.echo"}, {"text", "no"}})), "forbidden");
    EXPECT_EQ(codeOf(call("alice", {{"op", "demo.silent"}})), "unknown_op");
    EXPECT_THROW(server().hooks().addCommand("msg.send", "demo", {}), std::invalid_argument);
    EXPECT_THROW(server().hooks().addCommand("noDot", "demo", {}), std::invalid_argument);

    EXPECT_EQ(codeOf(call("alice", {{"op", "admin.extensions"}})), "forbidden");
    auto listed = call("root", {{"op", "admin.extensions"}});
    ASSERT_TRUE(listed["ok"]) << listed;
    EXPECT_TRUE(listed["extensions"].empty());
    bool counted = false;
    for (const auto& entry : listed["stats"]) {
        counted =
            counted || (entry["extension"] == "demo" && entry["point"] == "command demo.echo" &&
                        entry["calls"] == 3 && entry["rejections"] == 1);
    }
    EXPECT_TRUE(counted) << listed["stats"];
    auto reloaded = call("root", {{"op", "admin.reload"}});
    EXPECT_TRUE(reloaded["reloaded"].empty());
}

// Without a user directory (the default), any valid uid may be put in a conversation, seen or not
// (docs/protocol.md says so).
TEST_F(ServerTest, WithoutAUserDirectoryAnyValidUidMayBeAMember) {
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "never-seen"}})), "ok");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"nobody", "noone"}}})),
              "ok");
}

// users.directory: known: conversations take only users Parley knows (registered by an admin or
// seen). Refused: not_found, naming every unknown user, and nothing created or announced.
class UserDirectoryTest : public ServerHarness {
  protected:
    UserDirectoryTest() {
        const auto store = config_.store;
        config_ = loadConfigText("users: {directory: known}\nadmins: [root]\n", "test.yaml");
        config_.store = store;
    }
};

TEST_F(UserDirectoryTest, ConversationsWithUnknownUsersAreRefusedNamingThem) {
    ASSERT_EQ(codeOf(call("root", {{"op", "admin.user.set"}, {"user", "bob"}, {"name", "Bob"}})),
              "ok");
    auto direct = call("alice", {{"op", "conv.open"}, {"peer", "carol"}});
    EXPECT_EQ(codeOf(direct), "not_found") << direct;
    EXPECT_EQ(direct["error"]["users"], json::array({"carol"})) << direct;
    EXPECT_NE(direct["error"]["message"].get<std::string>().find("carol"), std::string::npos);

    auto group = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol", "dave"}}});
    EXPECT_EQ(codeOf(group), "not_found") << group;
    EXPECT_EQ(group["error"]["users"], json::array({"carol", "dave"})) << group;
    EXPECT_TRUE(call("alice", {{"op", "conv.list"}})["convs"].empty()) << "nothing was created";
    EXPECT_TRUE(call("bob", {{"op", "conv.list"}})["convs"].empty());

    // Known once an admin registers them, or once they have used Parley.
    ASSERT_EQ(
        codeOf(call("root", {{"op", "admin.user.set"}, {"user", "carol"}, {"email", "c@x.org"}})),
        "ok");
    ASSERT_EQ(codeOf(call("dave", {{"op", "ping"}})), "ok");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "carol"}})), "ok");
    auto created = call("alice", {{"op", "conv.create"}, {"members", {"bob", "carol", "dave"}}});
    EXPECT_EQ(codeOf(created), "ok") << created;
    EXPECT_EQ(created["members"].size(), 4U);
}

TEST_F(ServerTest, ReservedUidsAreRefused) {
    EXPECT_EQ(codeOf(raw("system", R"({"op":"ping","id":"x"})")), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.open"}, {"peer", "system"}})), "bad_request");
    EXPECT_EQ(codeOf(call("alice", {{"op", "conv.create"}, {"members", {"parleyd"}}})),
              "bad_request");
}

TEST_F(ServerTest, HandlerFailuresBecomeInternalErrors) {
    server().dispatcher().add("explode",
                              [](const Command&) -> json { throw std::runtime_error("boom"); });
    server().dispatcher().add("unavailable", [](const Command&) -> json {
        throw store::StoreUnavailable("database down");
    });
    auto internal = call("alice", {{"op", "explode"}});
    EXPECT_EQ(codeOf(internal), "internal");
    EXPECT_EQ(internal["error"]["message"], "internal error") << "no internals leak";
    auto down = call("alice", {{"op", "unavailable"}});
    EXPECT_EQ(codeOf(down), "unavailable");
    EXPECT_EQ(down["error"]["retry_after_ms"], 1000);
    EXPECT_TRUE(call("alice", {{"op", "ping"}})["ok"]) << "the server goes on";
    EXPECT_THROW(server().dispatcher().add("ping", [](const Command&) { return json(); }),
                 std::invalid_argument);
}

// The dispatcher knows no op by name: what counts as activity is what each handler declared.
TEST(Dispatcher, ActivityIsWhatTheOpsHandlerDeclared) {
    MemoryTransport transport;
    const TopicScheme topics("parley/v1");
    Outbox outbox(transport, topics);
    const HookBus hooks;
    ops::Metrics metrics;
    Dispatcher dispatcher(
        outbox, hooks, [](const std::string&) { return false; }, metrics);
    const auto answer = [](const Command&) { return nlohmann::json::object(); };
    dispatcher.add("plain", answer);
    dispatcher.add("quiet", answer, OpTraits{.isActivity = false});

    const auto command = [](std::string op, bool activity) {
        Command made;
        made.uid = "alice";
        made.op = std::move(op);
        made.activity = activity;
        return made;
    };
    EXPECT_TRUE(dispatcher.isActivity(command("plain", true)));
    EXPECT_FALSE(dispatcher.isActivity(command("plain", false))) << "\"activity\": false";
    EXPECT_FALSE(dispatcher.isActivity(command("quiet", true)));
    EXPECT_TRUE(dispatcher.isActivity(command("ext.op", true))) << "extensions' ops count";
}

}  // namespace
}  // namespace parley::testing
