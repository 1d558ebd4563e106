// parleyd under more commands than its queues hold: it must slow the broker down, never stop.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {
namespace {

TEST(Backpressure, FullQueuesWhileFanningOutDoNotStopParleyd) {
    // Tiny queues (one command per worker) and a group with many members: workers publish a lot
    // while the MQTT receive thread waits for room in a queue. That wait once held Paho's lock,
    // the workers' publishes waited for it, and parleyd stopped for good.
    std::vector<BrokerUser> users{{"parleyd", "pd"}};
    for (int i = 1; i <= 20; ++i) {
        users.push_back({"g" + std::to_string(i), "pw"});
    }
    // One user fills the queues on purpose: the broker's publish rate limit is off too.
    MosquittoServer broker(users, {.pluginOptions = "plugin_opt_publish_rate 0"});
    ParleydProcess parleyd("broker: {uri: " + broker.uri() +
                           ", username: parleyd, password: pd, client_id: parleyd-bp}\n"
                           "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: "
                           "normal}}\n"
                           "server: {workers: 2, queue_capacity: 2}\n"
                           // One user fills the queues on purpose: no per-user ingress limits.
                           "limits: {user_commands_per_second: 0, user_queued_commands: 0}\n");
    MqttTestClient sender(broker.uri(), "g1", "pw");
    std::vector<std::string> others;
    for (int i = 2; i <= 20; ++i) {
        others.push_back("g" + std::to_string(i));
    }
    auto group = sender.request({{"op", "conv.create"}, {"members", others}});
    ASSERT_TRUE(group["ok"]) << group;
    const std::string conv = group["conv"];

    constexpr int kMessages = 400;
    for (int i = 0; i < kMessages; ++i) {
        const nlohmann::json command = {{"op", "msg.send"},
                                        {"id", "f" + std::to_string(i)},
                                        {"conv", conv},
                                        {"cmid", "f" + std::to_string(i)},
                                        {"body", "flood " + std::to_string(i)}};
        ASSERT_EQ(sender.publishRaw("parley/v1/c2s/g1", command.dump()), 0);
    }
    std::set<long long> seqs;
    for (int i = 0; i < kMessages; ++i) {
        const std::string id = "f" + std::to_string(i);
        auto reply = sender.waitFor(
            [&](const Received& m) {
                return m.topic == "parley/v1/u/g1/resp" && m.payload.is_object() &&
                       m.payload.value("id", "") == id;
            },
            std::chrono::seconds(60));
        ASSERT_TRUE(reply.payload["ok"]) << reply.payload;
        seqs.insert(reply.payload["seq"].get<long long>());
    }
    EXPECT_EQ(seqs.size(), static_cast<size_t>(kMessages));
    EXPECT_EQ(*seqs.rbegin(), kMessages) << "gapless";
    // Still serving.
    EXPECT_TRUE(sender.request({{"op", "ping"}})["ok"]);
}

}  // namespace
}  // namespace parley::testing
