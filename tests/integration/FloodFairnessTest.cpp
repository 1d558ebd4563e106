// One user floods with 10,000 commands as fast as a client can publish them while four others
// chat: the broker plugin's per-connection rate limit drops most of the flood at the broker
// (PUBACK "not authorized"), parleyd's per-user ingress limits answer what passes beyond theirs
// rate_limited, every command is accounted for, the others lose nothing and their replies stay
// fast.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "BenchClient.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// Generous on purpose: a loaded two-core CI machine runs the broker, parleyd and every client.
// Without the ingress limits the others' replies waited behind the whole flood (tens of seconds).
#ifdef PARLEY_SANITIZED
// The suite under ASan + UBSan at -O0 (what CI runs) turns the flooder's answers away 3-5 times
// slower, and the others wait behind them at the broker: 4.8 s seen against 2 s. Still far from
// the tens of seconds without limits; the plain build keeps the 2 s bound (docs/testing.md).
constexpr double kOthersP99BoundSeconds = 8.0;
#else
constexpr double kOthersP99BoundSeconds = 2.0;
#endif
constexpr long long kFloodCommands = 10000;
constexpr int kMessagesPerUser = 40;

TEST(FloodFairness, FlooderIsRateLimitedWhileOthersStayFastAndLoseNothing) {
    // The broker plugin's limit at twice its default (parleyd's own limits), so that part of the
    // flood passes the broker and meets parleyd's ingress limits too: both layers at work. Without
    // the disconnect after a sustained excess (tests/broker/BrokerPluginTest.cpp has it): on a
    // slow machine this flood could last long enough to be cut short, and the test counts every
    // command.
    MosquittoServer broker({{"parleyd", "pd"},
                            {"flooder", "pw"},
                            {"sink", "pw"},
                            {"u1", "pw"},
                            {"u2", "pw"},
                            {"u3", "pw"},
                            {"u4", "pw"}},
                           {.pluginOptions = "plugin_opt_publish_rate 200\n"
                                             "plugin_opt_publish_burst 600\n"
                                             "plugin_opt_publish_disconnect_after 0"});
    // Default limits (100 commands/s, burst 300, 100 queued per user) and default workers.
    ParleydProcess parleyd("broker: {uri: " + broker.uri() +
                           ", username: parleyd, password: pd, client_id: parleyd-flood}\n"
                           "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: "
                           "normal}}\n");

    std::vector<std::unique_ptr<MqttTestClient>> users;
    for (const char* uid : {"u1", "u2", "u3", "u4"}) {
        users.push_back(std::make_unique<MqttTestClient>(broker.uri(), uid, "pw"));
    }
    std::vector<std::string> convs;
    for (size_t pair = 0; pair < 2; ++pair) {
        auto opened =
            users[2 * pair]->request({{"op", "conv.open"}, {"peer", users[2 * pair + 1]->uid()}});
        ASSERT_EQ(codeOf(opened), "ok") << opened;
        convs.push_back(opened["conv"]);
    }

    // Before the flooder's client: Paho calls it until that client is gone.
    bench::PublishTally flooderPubacks;
    std::mutex codesMutex;
    std::map<std::string, long long> flooderCodes;
    std::atomic<long long> flooderAnswered{0};
    std::string floodConv;
    std::atomic<bool> openAnswered{false};
    bench::BenchClient flooder(broker.uri(), TlsSettings{}, "parley/v1", "flooder", "pw",
                               [&](bench::BenchClient&, const std::string& suffix, json&& reply,
                                   bench::Clock::time_point) {
                                   if (suffix != "resp") {
                                       return;
                                   }
                                   const std::string id = reply.value("id", "");
                                   std::lock_guard lock(codesMutex);
                                   if (id == "open") {
                                       floodConv = reply.value("conv", "");
                                       openAnswered = true;
                                   } else if (!id.empty() && id[0] == 'f') {
                                       ++flooderCodes[codeOf(reply)];
                                       ++flooderAnswered;
                                   }
                               });
    flooder.connect();
    flooder.publish(json{{"op", "conv.open"}, {"id", "open"}, {"peer", "sink"}}.dump());
    for (int i = 0; i < 100 && !openAnswered; ++i) {
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(openAnswered);
    ASSERT_FALSE(floodConv.empty());

    // The flood: published without waiting for anything.
    std::thread flood([&] {
        for (long long i = 0; i < kFloodCommands; ++i) {
            const std::string n = std::to_string(i);
            flooder.publish(R"({"op":"msg.send","id":"f)" + n + R"(","conv":")" + floodConv +
                                R"(","cmid":"f)" + n + R"(","body":"flood"})",
                            &flooderPubacks);
        }
    });
    // Meanwhile the others chat, each waiting for its reply before the next message.
    std::mutex latencyMutex;
    std::vector<double> latencies;
    std::atomic<int> othersFailed{0};
    std::vector<std::thread> chatters;
    for (size_t u = 0; u < users.size(); ++u) {
        chatters.emplace_back([&, u] {
            const std::string& conv = convs[u / 2];
            for (int i = 0; i < kMessagesPerUser; ++i) {
                const auto started = std::chrono::steady_clock::now();
                json reply;
                try {
                    reply = users[u]->request({{"op", "msg.send"},
                                               {"conv", conv},
                                               {"cmid", "c" + std::to_string(i)},
                                               {"body", "hello " + std::to_string(i)}},
                                              30s);
                } catch (const std::exception&) {
                    ++othersFailed;
                    continue;
                }
                const double took =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                        .count();
                if (codeOf(reply) != "ok") {
                    ++othersFailed;
                }
                std::lock_guard lock(latencyMutex);
                latencies.push_back(took);
            }
        });
    }
    for (auto& chatter : chatters) {
        chatter.join();
    }
    flood.join();
    // Every flood command is answered by parleyd or refused by the broker (bounded wait).
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while ((flooderPubacks.settled() < kFloodCommands ||
            flooderAnswered + flooderPubacks.refused < kFloodCommands) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }

    EXPECT_EQ(othersFailed, 0);
    ASSERT_EQ(latencies.size(), users.size() * kMessagesPerUser);
    std::sort(latencies.begin(), latencies.end());
    const double p50 = latencies[latencies.size() / 2];
    const double p99 = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    RecordProperty("others_p50_ms", static_cast<int>(p50 * 1000));
    RecordProperty("others_p99_ms", static_cast<int>(p99 * 1000));
    std::cout << "others' reply latency during the flood: p50 " << p50 * 1000 << " ms, p99 "
              << p99 * 1000 << " ms, max " << latencies.back() * 1000 << " ms\n";
    EXPECT_LT(p99, kOthersP99BoundSeconds);

    std::map<std::string, long long> codes;
    {
        std::lock_guard lock(codesMutex);
        codes = flooderCodes;
    }
    const long long droppedAtBroker = flooderPubacks.refused;
    std::cout << "flooder: " << droppedAtBroker << " dropped by the broker, " << flooderAnswered
              << " answered by parleyd:";
    for (const auto& [code, count] : codes) {
        std::cout << ' ' << code << '=' << count;
    }
    std::cout << '\n';
    EXPECT_EQ(flooderPubacks.failed, 0);
    EXPECT_EQ(flooderPubacks.acknowledged + droppedAtBroker, kFloodCommands);
    EXPECT_EQ(flooderAnswered, flooderPubacks.acknowledged)
        << "every command the broker let through is answered";
    EXPECT_GT(droppedAtBroker, 0) << "the broker's rate limit did not drop anything";
    EXPECT_GT(codes["rate_limited"], 0);
    EXPECT_GT(codes["ok"], 0);
    EXPECT_EQ(codes["ok"] + codes["rate_limited"], flooderAnswered);

    // Nothing of the others was lost: each conversation holds both members' messages, gapless.
    for (size_t pair = 0; pair < convs.size(); ++pair) {
        std::set<std::string> cmids;
        int64_t expectedSeq = 1;
        for (std::optional<int64_t> after = 0; after;) {
            auto page = users[2 * pair]->request(
                {{"op", "msg.history"}, {"conv", convs[pair]}, {"after", *after}, {"limit", 100}},
                10s);
            ASSERT_EQ(codeOf(page), "ok") << page;
            after.reset();
            for (const auto& message : page["msgs"]) {
                EXPECT_EQ(message["seq"].get<int64_t>(), expectedSeq++);
                cmids.insert(message["sender"].get<std::string>() + "/" +
                             message["cmid"].get<std::string>());
                after = message["seq"].get<int64_t>();
            }
            if (!page.value("has_more", false)) {
                break;
            }
        }
        EXPECT_EQ(cmids.size(), 2U * kMessagesPerUser);
    }
    // The flooder's accepted messages are stored once each, in order.
    auto last = users[0]->request({{"op", "ping"}});
    EXPECT_EQ(codeOf(last), "ok");
    EXPECT_NE(parleyd.log().find("ingress: uid=flooder over its"), std::string::npos);
    EXPECT_NE(broker.log().find("jwt_auth: user 'flooder' (client 'flooder-bench') publishes "
                                "faster than 200/s"),
              std::string::npos);
}

}  // namespace
}  // namespace parley::testing
