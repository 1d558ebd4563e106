// Parley end to end: real MQTT clients (Paho, and Mosquitto's own clients where a killed process
// is needed), a real Mosquitto with Parley's ACL and settings, parleyd on SQLite and on MariaDB.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "ChildProcess.h"
#include "Stack.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Chat : public ::testing::TestWithParam<std::string> {
  protected:
    Stack& stack() { return Stack::forBackend(GetParam()); }

    std::unique_ptr<MqttTestClient> newClient() { return stack().connect(stack().newUser()); }

    static json ok(const json& reply) {
        EXPECT_TRUE(reply.value("ok", false)) << reply;
        return reply;
    }

    static std::string open(MqttTestClient& from, const std::string& peer,
                            const json& context = nullptr) {
        json command = {{"op", "conv.open"}, {"peer", peer}};
        if (!context.is_null()) {
            command["context"] = context;
        }
        auto reply = ok(from.request(command));
        return reply.value("conv", "");
    }

    static json send(MqttTestClient& from, const std::string& conv, const std::string& cmid,
                     const std::string& body) {
        return from.request({{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", body}});
    }

    // The first event on `topic` (of the client's inbox) whose "ev" is `ev` and that `match`es.
    static json event(
        MqttTestClient& client, const std::string& topic, const std::string& ev,
        const std::function<bool(const json&)>& match = [](const json&) { return true; }) {
        return client
            .waitFor([&](const Received& r) {
                return r.topic == topic && r.payload.is_object() &&
                       r.payload.value("ev", "") == ev && match(r.payload);
            })
            .payload;
    }

    static std::string convTopic(const MqttTestClient& client, const std::string& conv) {
        return "parley/v1/u/" + client.uid() + "/c/" + conv;
    }
    static std::string userTopic(const MqttTestClient& client) {
        return "parley/v1/u/" + client.uid() + "/n";
    }
};

TEST_P(Chat, TwoUsersChat) {
    auto alice = newClient();
    auto bob = newClient();
    ok(alice->request({{"op", "profile.set"}, {"name", "Alice"}}));
    const std::string conv = open(*alice, bob->uid());
    auto created = event(*bob, userTopic(*bob), "conv");
    EXPECT_EQ(created["conv"], conv);
    EXPECT_EQ(created["reason"], "created");

    auto sent = ok(send(*alice, conv, "m1", "Hello Bob \xF0\x9F\x91\x8B"));
    EXPECT_EQ(sent["seq"], 1);
    auto received = event(*bob, convTopic(*bob, conv), "msg");
    EXPECT_EQ(received["body"], "Hello Bob \xF0\x9F\x91\x8B");
    EXPECT_EQ(received["sender"], alice->uid());
    EXPECT_EQ(received["seq"], 1);
    EXPECT_EQ(received["ts"], sent["ts"]);
    auto mine = event(*alice, convTopic(*alice, conv), "msg");
    EXPECT_EQ(mine["cmid"], "m1") << "the sender's other devices get it too";
    EXPECT_EQ(received["unread"], 1) << "the recipient's copy carries the counts";
    EXPECT_EQ(received["unread_total"], 1);
    EXPECT_FALSE(mine.contains("unread")) << "the sender's counts did not move";

    auto answer = ok(send(*bob, conv, "b1", "Hi Alice"));
    EXPECT_EQ(answer["seq"], 2);
    EXPECT_EQ(event(*alice, convTopic(*alice, conv), "msg",
                    [](const json& e) { return e.value("seq", json()) == 2; })["body"],
              "Hi Alice");

    auto list = ok(bob->request({{"op", "conv.list"}}));
    ASSERT_EQ(list["convs"].size(), 1U);
    EXPECT_EQ(list["convs"][0]["preview"]["body"], "Hi Alice");
    EXPECT_EQ(list["convs"][0]["unread"], 0) << "bob's own message read up to seq 2";
    bool named = false;
    for (const auto& member : list["convs"][0]["members"]) {
        named = named || (member["user"] == alice->uid() && member["name"] == "Alice");
    }
    EXPECT_TRUE(named) << list;
}

TEST_P(Chat, HistoryPagesBackAndCatchesUp) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    for (int i = 1; i <= 130; ++i) {
        ok(send(*alice, conv, "h" + std::to_string(i), "message " + std::to_string(i)));
    }
    // Bob was "offline" for all of it: he pages back from the newest.
    std::vector<int64_t> seen;
    json page = ok(bob->request({{"op", "msg.history"}, {"conv", conv}, {"limit", 100}}));
    EXPECT_EQ(page["msgs"].size(), 100U);
    EXPECT_TRUE(page["has_more"]);
    for (const auto& m : page["msgs"]) {
        seen.push_back(m["seq"]);
    }
    page = ok(bob->request(
        {{"op", "msg.history"}, {"conv", conv}, {"before", seen.front()}, {"limit", 100}}));
    EXPECT_FALSE(page["has_more"]);
    std::vector<int64_t> older;
    for (const auto& m : page["msgs"]) {
        older.push_back(m["seq"]);
    }
    seen.insert(seen.begin(), older.begin(), older.end());
    ASSERT_EQ(seen.size(), 130U);
    for (size_t i = 0; i < seen.size(); ++i) {
        ASSERT_EQ(seen[i], static_cast<int64_t>(i + 1));
    }
    // Catching up forward from what he had.
    page = ok(bob->request({{"op", "msg.history"}, {"conv", conv}, {"after", 125}}));
    ASSERT_EQ(page["msgs"].size(), 5U);
    EXPECT_EQ(page["msgs"][0]["seq"], 126);
    EXPECT_EQ(page["msgs"][4]["body"], "message 130");
    EXPECT_FALSE(page["has_more"]);
}

TEST_P(Chat, ResendWithTheSameCmidIsStoredOnce) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    auto first = ok(send(*alice, conv, "once", "only once"));
    // The same command again, as after a lost reply: same id, same cmid.
    auto again = ok(alice->request({{"op", "msg.send"},
                                    {"id", "resend-1"},
                                    {"conv", conv},
                                    {"cmid", "once"},
                                    {"body", "only once"}}));
    auto third = ok(alice->request({{"op", "msg.send"},
                                    {"id", "resend-1"},
                                    {"conv", conv},
                                    {"cmid", "once"},
                                    {"body", "only once"}}));
    EXPECT_EQ(again["seq"], first["seq"]);
    EXPECT_EQ(third["seq"], first["seq"]);
    EXPECT_TRUE(again["dup"]);
    auto history = ok(bob->request({{"op", "msg.history"}, {"conv", conv}}));
    EXPECT_EQ(history["msgs"].size(), 1U);
    auto next = ok(send(*alice, conv, "twice", "next one"));
    EXPECT_EQ(next["seq"], 2) << "no seq was burnt by the resends";
}

TEST_P(Chat, ReadReceiptsAndUnreadCounts) {
    auto alice = newClient();
    auto bob = newClient();
    auto carol = newClient();
    const std::string withBob = open(*alice, bob->uid());
    const std::string group = ok(
        alice->request({{"op", "conv.create"}, {"members", {bob->uid(), carol->uid()}}}))["conv"];
    for (int i = 1; i <= 4; ++i) {
        ok(send(*alice, withBob, "d" + std::to_string(i), "direct"));
    }
    for (int i = 1; i <= 3; ++i) {
        ok(send(*carol, group, "g" + std::to_string(i), "group"));
    }
    EXPECT_EQ(ok(bob->request({{"op", "conv.list"}}))["unread_total"], 7);

    auto read = ok(bob->request({{"op", "msg.read"}, {"conv", withBob}, {"seq", 3}}));
    EXPECT_EQ(read["read_seq"], 3);
    EXPECT_EQ(read["unread"], 1);
    EXPECT_EQ(read["unread_total"], 4);
    auto receipt = event(*alice, convTopic(*alice, withBob), "read");
    EXPECT_EQ(receipt["user"], bob->uid());
    EXPECT_EQ(receipt["seq"], 3);
    auto counts = event(*bob, userTopic(*bob), "unread",
                        [](const json& e) { return e.value("unread_total", json()) == 4; });
    EXPECT_EQ(counts["conv"], withBob);
    EXPECT_EQ(ok(bob->request({{"op", "msg.read"}, {"conv", withBob}, {"seq", 1}}))["read_seq"], 3)
        << "a watermark never moves back";
    ok(bob->request({{"op", "msg.read"}, {"conv", group}, {"seq", 1000}}));
    auto list = ok(bob->request({{"op", "conv.list"}}));
    EXPECT_EQ(list["unread_total"], 1);
    for (const auto& summary : list["convs"]) {
        EXPECT_EQ(summary["unread"],
                  summary["last_seq"].get<int64_t>() - summary["read_seq"].get<int64_t>());
    }
}

TEST_P(Chat, TypingReachesOthersAndIsRateLimited) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    ok(alice->request({{"op", "typing"}, {"conv", conv}, {"state", "start"}}));
    auto typing = event(*bob, convTopic(*bob, conv), "typing");
    EXPECT_EQ(typing["user"], alice->uid());
    EXPECT_EQ(typing["state"], "start");
    json limited;
    for (int i = 0; i < 10 && limited.is_null(); ++i) {
        auto reply = alice->request({{"op", "typing"}, {"conv", conv}, {"state", "stop"}});
        if (codeOf(reply) == "rate_limited") {
            limited = reply;
        }
    }
    ASSERT_FALSE(limited.is_null()) << "the default burst is 5";
    EXPECT_GT(limited["error"]["retry_after_ms"].get<int64_t>(), 0);
    for (const auto& message : alice->received()) {
        EXPECT_NE(message.payload.value("ev", ""), "typing")
            << "typing is not echoed to its sender";
    }
}

TEST_P(Chat, GroupConversation) {
    auto alice = newClient();
    auto bob = newClient();
    auto carol = newClient();
    auto group = ok(alice->request({{"op", "conv.create"},
                                    {"members", {bob->uid(), carol->uid()}},
                                    {"title", "Saturday climbing"}}));
    EXPECT_EQ(group["kind"], "group");
    EXPECT_EQ(group["members"].size(), 3U);
    const std::string conv = group["conv"];
    for (auto* member : {bob.get(), carol.get()}) {
        EXPECT_EQ(event(*member, userTopic(*member), "conv")["title"], "Saturday climbing");
    }
    ok(send(*bob, conv, "g1", "I'm in"));
    for (auto* member : {alice.get(), bob.get(), carol.get()}) {
        EXPECT_EQ(event(*member, convTopic(*member, conv), "msg")["body"], "I'm in");
    }
    auto outsider = newClient();
    EXPECT_EQ(codeOf(send(*outsider, conv, "x", "let me in")), "forbidden");
    EXPECT_EQ(codeOf(outsider->request({{"op", "msg.history"}, {"conv", conv}})), "forbidden");
    json tooMany = json::array();
    for (int i = 0; i < 101; ++i) {
        tooMany.push_back("z" + std::to_string(i));
    }
    EXPECT_EQ(codeOf(alice->request({{"op", "conv.create"}, {"members", tooMany}})), "too_large");
}

TEST_P(Chat, ListingContextThreads) {
    auto buyer = newClient();
    auto seller = newClient();
    const json bike = {{"type", "listing"}, {"id", "bike-42"}, {"title", "Blue bike"}};
    const json lamp = {{"type", "listing"}, {"id", "lamp-7"}, {"title", "Desk lamp"}};
    const std::string aboutBike = open(*buyer, seller->uid(), bike);
    const std::string aboutLamp = open(*buyer, seller->uid(), lamp);
    const std::string plain = open(*buyer, seller->uid());
    EXPECT_EQ(std::set<std::string>({aboutBike, aboutLamp, plain}).size(), 3U)
        << "one thread per listing, and one without";
    auto reopened = ok(seller->request({{"op", "conv.open"},
                                        {"peer", buyer->uid()},
                                        {"context", {{"type", "listing"}, {"id", "bike-42"}}}}));
    EXPECT_EQ(reopened["conv"], aboutBike);
    EXPECT_FALSE(reopened["created"]);
    EXPECT_EQ(reopened["context"]["title"], "Blue bike");
    ok(send(*buyer, aboutLamp, "l1", "Does it still work?"));
    auto list = ok(seller->request({{"op", "conv.list"}}));
    ASSERT_EQ(list["convs"].size(), 3U);
    EXPECT_EQ(list["convs"][0]["conv"], aboutLamp) << "newest activity first";
    EXPECT_EQ(list["convs"][0]["context"]["id"], "lamp-7");
}

TEST_P(Chat, EveryBadInputGetsACodeAndChangesNothing) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    const std::string resp = "parley/v1/u/" + alice->uid() + "/resp";
    const std::string c2s = "parley/v1/c2s/" + alice->uid();
    // Raw payloads that are not commands: answered with id null.
    const std::vector<std::pair<std::string, std::string>> raw = {
        {"not json", "bad_request"},
        {"{\"op\":\"ping\",\"id\":\"x\",", "bad_request"},
        {"[\"op\",\"ping\"]", "bad_request"},
        {"{\"op\":\"ping\",\"id\":\"caf\xC3\"}", "bad_request"},
        {"{\"op\":\"msg.send\",\"body\":\"\xFF\xFE\"}", "bad_request"},
        {std::string(70000, 'x'), "too_large"},
        {"{\"op\":\"ping\",\"x\":" + std::string(100, '[') + std::string(100, ']') + "}",
         "bad_request"},
    };
    for (const auto& [payload, code] : raw) {
        alice->clearReceived();
        ASSERT_EQ(alice->publishRaw(c2s, payload), 0);
        auto reply = alice->waitFor([&](const Received& r) { return r.topic == resp; }).payload;
        EXPECT_EQ(codeOf(reply), code) << payload.substr(0, 80);
        EXPECT_TRUE(reply["id"].is_null()) << payload.substr(0, 80);
    }
    // Readable commands with bad arguments: answered with their id.
    const std::vector<std::pair<json, std::string>> commands = {
        {{{"op", "warp"}}, "unknown_op"},
        {{{"op", 7}}, "bad_request"},
        {{{"op", "conv.open"}}, "bad_request"},
        {{{"op", "conv.open"}, {"peer", "a+b"}}, "bad_request"},
        {{{"op", "conv.open"}, {"peer", "a#"}}, "bad_request"},
        {{{"op", "conv.open"}, {"peer", "a/b"}}, "bad_request"},
        {{{"op", "conv.open"}, {"peer", alice->uid()}}, "bad_request"},
        {{{"op", "conv.open"}, {"peer", bob->uid()}, {"context", {{"id", "1"}}}}, "bad_request"},
        {{{"op", "conv.create"}, {"members", {"ok", "not ok"}}}, "bad_request"},
        {{{"op", "conv.create"}, {"members", "bob"}}, "bad_request"},
        {{{"op", "conv.list"}, {"limit", "ten"}}, "bad_request"},
        {{{"op", "msg.send"}, {"conv", conv}, {"cmid", 5}, {"body", "x"}}, "bad_request"},
        {{{"op", "msg.send"}, {"conv", conv}, {"cmid", "c"}, {"body", {{"a", 1}}}}, "bad_request"},
        {{{"op", "msg.send"}, {"conv", conv}, {"cmid", "c"}, {"body", std::string(16385, 'b')}},
         "too_large"},
        {{{"op", "msg.send"}, {"conv", "c+x"}, {"cmid", "c"}, {"body", "x"}}, "bad_request"},
        {{{"op", "msg.send"}, {"conv", "cunknown"}, {"cmid", "c"}, {"body", "x"}}, "not_found"},
        {{{"op", "msg.history"}, {"conv", conv}, {"before", "yesterday"}}, "bad_request"},
        {{{"op", "msg.read"}, {"conv", conv}, {"seq", -3}}, "bad_request"},
        {{{"op", "typing"}, {"conv", conv}, {"state", true}}, "bad_request"},
        {{{"op", "presence"}, {"state", "invisible"}}, "bad_request"},
        {{{"op", "profile.set"}, {"name", 42}}, "bad_request"},
    };
    for (const auto& [command, code] : commands) {
        auto reply = alice->request(command);
        EXPECT_EQ(codeOf(reply), code) << command.dump().substr(0, 120);
        EXPECT_TRUE(reply["error"]["message"].is_string());
    }
    // Nothing changed, and parleyd is still there.
    EXPECT_EQ(ok(bob->request({{"op", "conv.list"}}))["convs"].size(), 1U);
    EXPECT_EQ(ok(bob->request({{"op", "msg.history"}, {"conv", conv}}))["msgs"].size(), 0U);
    EXPECT_EQ(ok(alice->request({{"op", "conv.list"}}))["convs"].size(), 1U);
    ok(alice->request({{"op", "ping"}}));
    EXPECT_TRUE(stack().parleyd().running());
}

TEST_P(Chat, ACommandFollowedByANulByteIsRefusedWhole) {
    using namespace std::string_literals;
    auto alice = newClient();
    const std::string resp = "parley/v1/u/" + alice->uid() + "/resp";
    const std::string c2s = "parley/v1/c2s/" + alice->uid();
    // Whatever follows the object, a NUL byte included, makes the payload bad_request, and a
    // second command after the NUL never runs.
    const std::vector<std::string> payloads = {
        R"({"op":"ping","id":"z1"})"s + '\0',
        R"({"op":"ping","id":"z2"})"s + "\0garbage{"s,
        R"({"op":"ping","id":"z3"})"s + '\0' + R"({"op":"ping","id":"z4"})"s,
    };
    alice->clearReceived();
    for (const auto& payload : payloads) {
        ASSERT_EQ(alice->publishRaw(c2s, payload), 0);
    }
    // The ping after them is answered last: by then every reply to the three has arrived.
    ok(alice->request({{"op", "ping"}, {"id", "after"}}));
    std::vector<json> replies;
    for (const auto& received : alice->received()) {
        if (received.topic == resp) {
            replies.push_back(received.payload);
        }
    }
    ASSERT_EQ(replies.size(), 4U) << json(replies);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(codeOf(replies[i]), "bad_request") << replies[i];
        EXPECT_TRUE(replies[i]["id"].is_null()) << replies[i];
    }
    EXPECT_EQ(replies[3]["id"], "after");
}

TEST_P(Chat, TheBrokerKeepsUsersInTheirOwnTopics) {
    auto alice = newClient();
    auto bob = newClient();
    auto mallory = stack().connect("mallory");
    const std::string conv = open(*alice, bob->uid());
    // Subscribing to someone else's inbox is refused by Parley's broker plugin (the acl_file
    // alone would grant it and deliver nothing).
    EXPECT_EQ(mallory->subscribeReasonCode("parley/v1/u/" + alice->uid() + "/#"), 0x87);
    EXPECT_EQ(mallory->subscribeReasonCode("parley/v1/u/+/c/#"), 0x87);
    // Speaking for alice is refused by the broker.
    EXPECT_EQ(mallory->publishRaw("parley/v1/c2s/" + alice->uid(), json({{"op", "msg.send"},
                                                                         {"id", "forged"},
                                                                         {"conv", conv},
                                                                         {"cmid", "forged"},
                                                                         {"body", "I am alice"}})
                                                                       .dump()),
              0x87);
    EXPECT_EQ(mallory->publishRaw("parley/v1/u/" + bob->uid() + "/c/" + conv, "{}"), 0x87);
    EXPECT_EQ(mallory->publishRaw("parley/v1/presence/" + alice->uid(), "{}"), 0x87);
    ok(send(*alice, conv, "real", "the real alice"));
    event(*bob, convTopic(*bob, conv), "msg");
    std::this_thread::sleep_for(300ms);
    for (const auto& message : mallory->received()) {
        EXPECT_EQ(message.topic.rfind("parley/v1/u/mallory/", 0), 0U)
            << "mallory read " << message.topic;
    }
    auto history = ok(bob->request({{"op", "msg.history"}, {"conv", conv}}));
    ASSERT_EQ(history["msgs"].size(), 1U);
    EXPECT_EQ(history["msgs"][0]["body"], "the real alice");
    for (const auto& message : alice->received()) {
        EXPECT_NE(message.payload.value("id", json()), "forged");
    }
}

TEST_P(Chat, RepliesCarryTheCorrelationData) {
    auto alice = newClient();
    const char bytes[] = "\x00\x01corr-\xFF";  // binary, with a NUL first
    const std::string correlation(bytes, sizeof bytes - 1);
    ASSERT_EQ(alice->publishRaw("parley/v1/c2s/" + alice->uid(), R"({"op":"ping","id":"c1"})",
                                correlation),
              0);
    auto reply = alice->waitFor([](const Received& r) {
        return r.topic.ends_with("/resp") && r.payload.value("id", "") == "c1";
    });
    EXPECT_EQ(reply.correlationData, correlation);
    EXPECT_TRUE(reply.payload["ok"]);
}

TEST_P(Chat, PresenceThroughAKilledClientsLastWill) {
    auto watcher = newClient();
    const std::string carol = stack().newUser();
    watcher->subscribe("parley/v1/presence/" + carol);
    const std::string presenceTopic = "parley/v1/presence/" + carol;
    // carol's phone: a real client process with Parley's last will.
    TempDir dir;
    ChildProcess phone(
        {"mosquitto_sub", "-p", std::to_string(stack().broker().port()), "-V", "mqttv5", "-u",
         carol, "-P", Stack::passwordOf(carol), "-i", carol + "-phone", "-t",
         "parley/v1/u/" + carol + "/#", "--will-topic", "parley/v1/c2s/" + carol, "--will-qos", "1",
         "--will-payload", R"({"op":"presence","state":"offline"})"},
        dir.file("phone.log"));
    // carol announces herself (from a second connection of hers).
    auto carolCommands = stack().connect(carol);
    ok(carolCommands->request({{"op", "presence"}, {"state", "online"}}));
    auto online = watcher->waitFor([&](const Received& r) {
        return r.topic == presenceTopic && r.payload.value("state", "") == "online";
    });
    EXPECT_EQ(online.payload["user"], carol);
    EXPECT_TRUE(online.payload["last_seen"].is_number());
    // The phone dies without a word: the broker publishes its will, parleyd marks carol offline.
    phone.kill9();
    auto offline = watcher->waitFor(
        [&](const Received& r) {
            return r.topic == presenceTopic && r.payload.value("state", "") == "offline";
        },
        10s);
    EXPECT_GE(offline.payload["last_seen"].get<int64_t>(),
              online.payload["last_seen"].get<int64_t>());
    // Presence is retained: a newcomer learns it at once.
    auto latecomer = newClient();
    latecomer->subscribe(presenceTopic);
    auto retained = latecomer->waitFor([&](const Received& r) { return r.topic == presenceTopic; });
    EXPECT_TRUE(retained.retained);
    EXPECT_EQ(retained.payload["state"], "offline");
    auto profile = ok(watcher->request({{"op", "profile.get"}, {"user", carol}}));
    EXPECT_EQ(profile["presence"]["state"], "offline");
}

TEST_P(Chat, IdleUsersBecomeAwayAndComeBack) {
    auto watcher = newClient();
    auto dave = newClient();
    const std::string topic = "parley/v1/presence/" + dave->uid();
    watcher->subscribe(topic);
    ok(dave->request({{"op", "presence"}, {"state", "online"}}));
    // This parleyd shows users away after 2 s without a command.
    watcher->waitFor(
        [&](const Received& r) {
            return r.topic == topic && r.payload.value("state", "") == "away";
        },
        10s);
    ok(dave->request({{"op", "ping"}}));
    watcher->waitFor([&](const Received& r) {
        return r.topic == topic && r.payload.value("state", "") == "online" && !r.retained;
    });
}

// The broker keeps parleyd's session (MQTT 5 session expiry, which Paho C++ 1.2.0 drops unless set
// just so): a command sent while parleyd is down is answered when it comes back.
TEST_P(Chat, CommandsSentWhileParleydIsDownAreAnsweredAfterRestart) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    stack().parleyd().kill9();
    const json command = {{"op", "msg.send"},
                          {"id", "while-down"},
                          {"conv", conv},
                          {"cmid", "while-down"},
                          {"body", "are you there?"}};
    ASSERT_EQ(alice->publishRaw("parley/v1/c2s/" + alice->uid(), command.dump()), 0);
    stack().parleyd().start();
    auto reply = alice->waitFor(
        [](const Received& r) {
            return r.topic.ends_with("/resp") && r.payload.value("id", "") == "while-down";
        },
        15s);
    EXPECT_TRUE(reply.payload["ok"]) << reply.payload;
    EXPECT_EQ(reply.payload["seq"], 1);
    EXPECT_EQ(event(*bob, convTopic(*bob, conv), "msg")["body"], "are you there?");
}

// SIGTERM in the middle of a burst: whatever was acknowledged is stored, and resending whatever was
// not leaves every message stored exactly once, in a gapless sequence.
TEST_P(Chat, GracefulRestartLosesAndDuplicatesNothing) {
    auto alice = newClient();
    auto bob = newClient();
    const std::string conv = open(*alice, bob->uid());
    constexpr int kMessages = 150;
    auto commandFor = [&](int i) {
        return json{{"op", "msg.send"},
                    {"id", "g" + std::to_string(i)},
                    {"conv", conv},
                    {"cmid", "g" + std::to_string(i)},
                    {"body", "burst " + std::to_string(i)}};
    };
    {
        std::jthread stopper;  // joined at the end of the block, also when an assertion returns
        for (int i = 0; i < kMessages; ++i) {
            ASSERT_EQ(alice->publishRaw("parley/v1/c2s/" + alice->uid(), commandFor(i).dump()), 0);
            if (i == kMessages / 2) {
                stopper = std::jthread([&] { stack().parleyd().stop(); });
            }
        }
    }  // the stop has completed: parleyd exited and was reaped
    ASSERT_FALSE(stack().parleyd().running());
    std::map<std::string, int64_t> acknowledged;
    for (const auto& message : alice->received()) {
        const auto& reply = message.payload;
        if (message.topic.ends_with("/resp") && reply.value("ok", false) &&
            reply.value("id", "").starts_with("g")) {
            acknowledged[reply["id"].get<std::string>()] = reply["seq"].get<int64_t>();
        }
    }
    const size_t answeredBeforeRestart = acknowledged.size();
    RecordProperty("answered_before_restart", static_cast<int>(answeredBeforeRestart));
    EXPECT_GT(answeredBeforeRestart, 0U);
    stack().parleyd().start();
    // The client resends everything it has no reply for. The broker also hands the restarted
    // parleyd the commands the stopped one had received but not acknowledged; when that is more
    // than limits.user_queued_commands, the excess is answered rate_limited, and a client (like
    // this one) that meets such an answer waits retry_after_ms and sends again.
    for (int i = 0; i < kMessages; ++i) {
        const json command = commandFor(i);
        const std::string id = command["id"];
        if (acknowledged.count(id)) {
            continue;
        }
        // Earlier replies with this id (to the stale copies) must not pass for the answer.
        alice->clearReceived();
        json reply = alice->request(command, 15s);
        for (int attempt = 0; attempt < 20; ++attempt) {
            const json error = reply.value("error", json::object());
            if (error.value("code", "") != "rate_limited") {
                break;
            }
            std::this_thread::sleep_for(
                std::chrono::milliseconds(error.value("retry_after_ms", 250)));
            alice->clearReceived();
            reply = alice->request(command, 15s);
        }
        acknowledged[id] = ok(reply)["seq"].get<int64_t>();
    }
    std::vector<json> stored;
    for (std::optional<int64_t> after = 0;;) {
        auto page = ok(bob->request(
            {{"op", "msg.history"}, {"conv", conv}, {"after", *after}, {"limit", 100}}));
        for (const auto& m : page["msgs"]) {
            stored.push_back(m);
        }
        if (!page["has_more"]) {
            break;
        }
        after = stored.back()["seq"].get<int64_t>();
    }
    ASSERT_EQ(stored.size(), static_cast<size_t>(kMessages));
    std::set<std::string> cmids;
    for (size_t i = 0; i < stored.size(); ++i) {
        EXPECT_EQ(stored[i]["seq"], static_cast<int64_t>(i + 1)) << "gapless";
        EXPECT_TRUE(cmids.insert(stored[i]["cmid"]).second) << "stored twice: " << stored[i];
        EXPECT_EQ(acknowledged[stored[i]["cmid"].get<std::string>()], stored[i]["seq"])
            << "the acknowledged seq is the stored one";
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, Chat, ::testing::Values("sqlite", "mariadb"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace parley::testing
