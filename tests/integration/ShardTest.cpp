// Users sharded over independent brokers (docs/scaling.md, "Users sharded over brokers"): two
// Mosquitto shards, three parleyd each connected to both on one shared subscription per shard,
// one MariaDB. Each user connects to the shard shardOfUser picks. Live delivery, typing and
// presence cross shards; a shard killed with kill -9 mid-load holds up only its own users, and
// when it is back every acknowledged message is stored once with a gapless seq and reached every
// member live or by catch-up.

#include <gtest/gtest.h>

#include <iostream>
#include <thread>

#include "ChatLoad.h"
#include "ClusterLoadSteps.h"
#include "MqttTestClient.h"
#include "ParleydCluster.h"
#include "Stack.h"
#include "parley/wire/UserShard.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

ParleydCluster::Options twoShards() {
    ParleydCluster::Options options;
    options.instances = 3;
    options.users = 30;
    options.brokerShards = 2;
    return options;
}

// The first load user (c1, c2, ...) on `shard`, other than `besides`.
LoadUser userOn(ParleydCluster& cluster, size_t shard, const std::string& besides = "") {
    for (const auto& user : cluster.loadUsers()) {
        if (cluster.shardOf(user.uid) == shard && user.uid != besides) {
            return user;
        }
    }
    throw std::runtime_error("no load user on shard " + std::to_string(shard));
}

// Acknowledged messages so far whose sender is on `shard`.
size_t acknowledgedFrom(ChatLoad& load, ParleydCluster& cluster, size_t shard) {
    size_t count = 0;
    for (const auto& [cmid, ack] : load.acknowledgedMessages()) {
        count += cluster.shardOf(ack.sender) == shard ? 1 : 0;
    }
    return count;
}

bool isEvent(const Received& message, const std::string& topic, const std::string& event) {
    return message.topic == topic && message.payload.is_object() &&
           message.payload.value("ev", "") == event;
}

TEST(BrokerShards, UsersOnBothShardsChatLiveWithTypingAndPresence) {
    ParleydCluster cluster(sharedMariaDb(), twoShards());
    const auto alice = userOn(cluster, 0);
    const auto bob = userOn(cluster, 1);
    const auto carol = userOn(cluster, 1, bob.uid);
    // Each on the broker of their shard; none of them could hear the others on one broker.
    MqttTestClient a(cluster.brokerShard(0).uri(), alice.uid, alice.password);
    MqttTestClient b(cluster.brokerShard(1).uri(), bob.uid, bob.password);
    MqttTestClient c(cluster.brokerShard(1).uri(), carol.uid, carol.password);
    a.subscribe("parley/v1/presence/" + bob.uid);
    b.subscribe("parley/v1/presence/" + alice.uid);

    auto group =
        a.request({{"op", "conv.create"}, {"members", {bob.uid, carol.uid}}, {"title", "x"}});
    ASSERT_EQ(codeOf(group), "ok") << group;
    const std::string conv = group["conv"];
    // Commands arrive through both shards' shared subscriptions; several instances answer.
    for (int i = 0; i < 6; ++i) {
        const std::string cmid = "a" + std::to_string(i);
        auto sent = a.request({{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", cmid}});
        ASSERT_EQ(codeOf(sent), "ok") << sent;
        EXPECT_EQ(sent["seq"], 2 * i + 1);
        for (MqttTestClient* member : {&b, &c}) {
            member->waitFor([&](const Received& m) {
                return isEvent(m, "parley/v1/u/" + member->uid() + "/c/" + conv, "msg") &&
                       m.payload.value("cmid", "") == cmid;
            });
        }
        const std::string reply = "b" + std::to_string(i);
        auto answer =
            b.request({{"op", "msg.send"}, {"conv", conv}, {"cmid", reply}, {"body", reply}});
        ASSERT_EQ(codeOf(answer), "ok") << answer;
        EXPECT_EQ(answer["seq"], 2 * i + 2);
        a.waitFor([&](const Received& m) {
            return isEvent(m, "parley/v1/u/" + alice.uid + "/c/" + conv, "msg") &&
                   m.payload.value("cmid", "") == reply;
        });
    }

    // Typing from shard 1 reaches shard 0, and back.
    ASSERT_EQ(codeOf(b.request({{"op", "typing"}, {"conv", conv}, {"state", "start"}})), "ok");
    a.waitFor([&](const Received& m) {
        return isEvent(m, "parley/v1/u/" + alice.uid + "/c/" + conv, "typing");
    });
    ASSERT_EQ(codeOf(a.request({{"op", "typing"}, {"conv", conv}, {"state", "start"}})), "ok");
    c.waitFor([&](const Received& m) {
        return isEvent(m, "parley/v1/u/" + carol.uid + "/c/" + conv, "typing");
    });

    // Presence is retained on every shard: watched from the other shard, live and on subscribe.
    ASSERT_EQ(codeOf(b.request({{"op", "presence"}, {"state", "online"}})), "ok");
    a.waitFor([&](const Received& m) {
        return m.topic == "parley/v1/presence/" + bob.uid &&
               m.payload.value("state", "") == "online";
    });
    ASSERT_EQ(codeOf(a.request({{"op", "presence"}, {"state", "away"}})), "ok");
    b.waitFor([&](const Received& m) {
        return m.topic == "parley/v1/presence/" + alice.uid &&
               m.payload.value("state", "") == "away";
    });
    c.subscribe("parley/v1/presence/" + alice.uid);
    auto retained = c.waitFor([&](const Received& m) {
        return m.topic == "parley/v1/presence/" + alice.uid &&
               m.payload.value("state", "") == "away";
    });
    EXPECT_TRUE(retained.retained);

    // Nothing of alice's reached shard 1's broker, nothing of bob's shard 0's: events travel on
    // the recipient's shard only (an inbox event on the wrong broker would have no subscriber).
    EXPECT_EQ(cluster.brokerShard(1).log().find("parley/v1/u/" + alice.uid + "/"),
              std::string::npos);
    EXPECT_EQ(cluster.brokerShard(0).log().find("parley/v1/u/" + bob.uid + "/"), std::string::npos);
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_NE(cluster.instance(i).log().find("subscribed on all 2 broker shards"),
                  std::string::npos)
            << cluster.instance(i).log();
    }
}

TEST(BrokerShards, ShardKilledMidLoadDelaysOnlyItsUsers) {
    ParleydCluster cluster(sharedMariaDb(), twoShards());
    auto options = loadOn(cluster, 150);
    ChatLoad load(options);
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 300, "before the shard is killed");

    cluster.brokerShard(1).kill9();
    // Shard 0's users keep chatting, also with members on the dead shard (their events wait in
    // parleyd's buffer for shard 1, or in msg.history).
    const size_t fromShard0 = acknowledgedFrom(load, cluster, 0);
    const auto deadline = std::chrono::steady_clock::now() + kProgressTimeout;
    while (acknowledgedFrom(load, cluster, 0) < fromShard0 + 150 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    const size_t fromShard1 = acknowledgedFrom(load, cluster, 1);
    EXPECT_GE(acknowledgedFrom(load, cluster, 0), fromShard0 + 150)
        << "shard 0's users stalled while shard 1 was down\n"
        << tail(cluster.logs());
    std::this_thread::sleep_for(500ms);
    // Shard 1's users cannot reach parleyd at all (a few replies may still be on the wire).
    EXPECT_LE(acknowledgedFrom(load, cluster, 1), fromShard1 + 15);

    cluster.brokerShard(1).start();
    const size_t fromShard1AtRestart = acknowledgedFrom(load, cluster, 1);
    expectProgress(load, cluster, 300, "after the shard is back");
    EXPECT_GT(acknowledgedFrom(load, cluster, 1), fromShard1AtRestart)
        << "shard 1's users did not come back";
    auto database = cluster.openDatabase();
    expectPromisesKept(load, cluster, "shard kill -9", *database);
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
    }
}

// A broker that knows its shard refuses a password login of a user who belongs on another
// (tokens: tests/broker/JwtVerifierTest.cpp, JwtShards), and lets parleyd's account in.
TEST(BrokerShards, ABrokerRefusesAUserOfAnotherShard) {
    ASSERT_EQ(shardOfUser("alice", 2), 1u);
    ASSERT_EQ(shardOfUser("bob", 2), 0u);
    MosquittoServer shard1(
        {{"alice", "pw-alice"}, {"bob", "pw-bob"}, {"parleyd", "parleyd-secret"}},
        {.pluginOptions = "plugin_opt_shard 1\nplugin_opt_shard_count 2"});
    MqttTestClient alice(shard1.uri(), "alice", "pw-alice");
    EXPECT_TRUE(alice.connected());
    EXPECT_THROW(MqttTestClient(shard1.uri(), "bob", "pw-bob"), std::runtime_error);
    EXPECT_NE(shard1.log().find("user belongs on broker shard 0 of 2, this is shard 1"),
              std::string::npos)
        << shard1.log();
    MqttTestClient service(shard1.uri(), "parleyd", "parleyd-secret");
    EXPECT_TRUE(service.connected());
}

}  // namespace
}  // namespace parley::testing
