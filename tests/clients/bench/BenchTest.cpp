// parley-bench end to end: the built load generator run as a child process against a real
// Mosquitto, with parleyd (SQLite) or with its own `relay` in the middle (docs/clients.md). The
// report must count what was sent, stored and delivered, and --timeline must write one line per
// reply.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../parleyctl/CommandRun.h"
#include "ChildProcess.h"
#include "MosquittoConnection.h"
#include "MosquittoServer.h"
#include "ParleydProcess.h"
#include "ProcessStats.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kServicePassword = "bench-test-service";
constexpr const char* kUserPassword = "bench-test-pw";
constexpr int kUsers = 4;

std::vector<BrokerUser> brokerUsers() {
    std::vector<BrokerUser> users{{"parleyd", kServicePassword}};
    char name[32];
    for (int i = 1; i <= kUsers; ++i) {
        std::snprintf(name, sizeof(name), "bench-%04d", i);
        users.push_back({name, kUserPassword});
    }
    return users;
}

std::string parleydYaml(const MosquittoServer& broker) {
    return "broker:\n  uri: " + broker.uri() +
           "\n  client_id: parleyd-bench-test\n  username: parleyd\n  password: " +
           kServicePassword +
           "\nstore:\n  backend: sqlite\n  sqlite: {path: parley.db}\nlog: {level: info}\n";
}

// kUsers users in 1:1 pairs, 40 msg/s offered for 1 s (unless `extra` gives another --rate).
CommandResult runBench(const MosquittoServer& broker, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {PARLEY_BENCH_PATH,
                                     "--uri",
                                     broker.uri(),
                                     "--password",
                                     kUserPassword,
                                     "--users",
                                     std::to_string(kUsers),
                                     "--rate",
                                     "40",
                                     "--seconds",
                                     "1",
                                     "--drain",
                                     "10",
                                     "--json",
                                     "--quiet"};
    if (std::find(extra.begin(), extra.end(), "--rate") != extra.end()) {
        argv.erase(argv.begin() + 7, argv.begin() + 9);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return runCommand(argv, {}, 60s);
}

std::vector<std::string> linesOf(const std::string& path) {
    std::ifstream file(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) {
        lines.push_back(line);
    }
    return lines;
}

// What a clean run reports: everything sent was stored once and reached the other member once.
void expectCleanReport(const json& report) {
    const long long sent = report.at("sent");
    EXPECT_GE(sent, 30) << "40 msg/s offered for 1 s";
    EXPECT_LE(sent, 50);
    EXPECT_EQ(report.at("stored"), sent);
    EXPECT_EQ(report.at("unanswered"), 0);
    EXPECT_EQ(report.at("duplicate_stores"), 0);
    EXPECT_EQ(report.at("seq_gaps"), 0);
    EXPECT_EQ(report.at("deliveries_expected"), 2 * sent)
        << "1:1: both members' inboxes, the sender's own (other devices) included";
    EXPECT_EQ(report.at("delivered"), 2 * sent);
    EXPECT_EQ(report.at("lost_deliveries"), 0);
    EXPECT_EQ(report.at("duplicate_deliveries"), 0);
    EXPECT_EQ(report.at("reply_latency").at("count"), sent);
    EXPECT_GT(report.at("reply_latency").at("p50_ms").get<double>(), 0.0);
    const double steal = report.at("machine_steal_percent");
    EXPECT_GE(steal, 0.0) << "read from /proc/stat";
    EXPECT_LE(steal, 100.0);
    EXPECT_GE(report.at("machine_runqueue_wait_ms").get<double>(), 0.0)
        << "read from /proc/*/task/*/schedstat";
}

TEST(ParleyBench, CountsEveryMessageThroughParleydAndWritesTheTimeline) {
    MosquittoServer broker(brokerUsers());
    ParleydProcess parleyd(parleydYaml(broker));
    TempDir dir("parley-bench-test");
    const std::string timeline = dir.file("replies.csv");

    const auto result =
        runBench(broker, {"--timeline", timeline, "--server-pid", std::to_string(parleyd.pid())});
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
    const json report = json::parse(result.out);
    expectCleanReport(report);
    EXPECT_GT(report.at("server_rss_max_kib").get<double>(), 0.0) << "parleyd's memory, read";
    EXPECT_GE(report.at("server_runqueue_wait_ms").get<double>(), 0.0) << "parleyd's threads, read";

    const auto lines = linesOf(timeline);
    ASSERT_GE(lines.size(), 2U);
    EXPECT_EQ(lines[0].rfind("# sending started at monotonic ", 0), 0U) << lines[0];
    EXPECT_EQ(lines[1], "sent_ms,reply_ms");
    ASSERT_EQ(static_cast<long long>(lines.size() - 2), report.at("stored").get<long long>())
        << "a line per reply";
    double previousSent = -1;
    double slowest = 0;
    for (size_t i = 2; i < lines.size(); ++i) {
        double sentMs = -1, replyMs = -1;
        char comma = 0;
        std::istringstream line(lines[i]);
        line >> sentMs >> comma >> replyMs;
        ASSERT_TRUE(line && comma == ',') << "line " << i << ": " << lines[i];
        EXPECT_GE(sentMs, previousSent) << "in the order they were sent";
        EXPECT_LT(sentMs, 2000.0) << "sent within the 1 s of sending";
        EXPECT_GT(replyMs, 0.0);
        previousSent = sentMs;
        slowest = std::max(slowest, replyMs);
    }
    EXPECT_NEAR(slowest, report.at("reply_latency").at("max_ms").get<double>(), 0.01)
        << "the timeline and the report's max agree";
}

TEST(ParleyBench, CountsEveryMessageThroughTheRawRelay) {
    MosquittoServer broker(brokerUsers());
    TempDir dir("parley-bench-relay-test");
    ChildProcess relay(
        {PARLEY_BENCH_PATH, "--uri", broker.uri(), "relay", "--relay-password", kServicePassword},
        dir.file("relay.log"));
    ASSERT_TRUE(relay.waitForLog("relay ready", 10s)) << relay.log();

    // The senders in turns here (drawn at random in the test above): both orders count alike.
    const auto result = runBench(broker, {"--senders-in-turns"});
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
    expectCleanReport(json::parse(result.out));
    EXPECT_EQ(relay.terminate(5s), 0) << relay.log();
}

TEST(ParleyBench, TheOldPahoGeneratorAndTheBareLoopCountThroughTheRawRelayToo) {
    MosquittoServer broker(brokerUsers());
    TempDir dir("parley-bench-relay-test");
    ChildProcess relay(
        {PARLEY_BENCH_PATH, "--uri", broker.uri(), "relay", "--relay-password", kServicePassword},
        dir.file("relay.log"));
    ASSERT_TRUE(relay.waitForLog("relay ready", 10s)) << relay.log();

    const auto paho = runBench(broker, {"--paho"});
    ASSERT_EQ(paho.exitCode, 0) << paho.out << paho.err;
    const json pahoReport = json::parse(paho.out);
    expectCleanReport(pahoReport);
    EXPECT_EQ(pahoReport.at("generator"), "Paho, a thread per connection");

    // The plain loop parses nothing: it counts replies and copies, and its own CPU.
    const auto bare = runBench(broker, {"--bare"});
    ASSERT_EQ(bare.exitCode, 0) << bare.out << bare.err;
    const json report = json::parse(bare.out);
    const long long sent = report.at("sent");
    EXPECT_GE(sent, 30);
    EXPECT_EQ(report.at("stored"), sent);
    EXPECT_EQ(report.at("unanswered"), 0);
    EXPECT_EQ(report.at("delivered"), 2 * sent);
    EXPECT_EQ(report.at("lost_deliveries"), 0);
    EXPECT_EQ(report.at("generator"), "bare libmosquitto poll() loop");
    EXPECT_GT(report.at("bench_cpu_us_per_message").get<double>(), 0.0);
    EXPECT_EQ(relay.terminate(5s), 0) << relay.log();
    EXPECT_NE(relay.log().find(" µs per command"), std::string::npos)
        << "the relay prints its own CPU per command when it stops: " << relay.log();
}

// libmosquitto opens a wake-up socket pair per client beside its socket: three descriptors per
// user capped one generator process at about 6,600 users (20,000 descriptors). The generator goes
// without the pair; the plain poll() loop of the generator check keeps it, so under the same
// limit it must fail where the generator holds every user.
TEST(ParleyBench, TheGeneratorHoldsEachUserOnOneDescriptor) {
    constexpr int kManyUsers = 40;
    constexpr int kDescriptors = 80;  // 40 sockets and the process's own; not 3 x 40
    std::vector<BrokerUser> users{{"parleyd", kServicePassword}};
    char name[32];
    for (int i = 1; i <= kManyUsers; ++i) {
        std::snprintf(name, sizeof(name), "bench-%04d", i);
        users.push_back({name, kUserPassword});
    }
    MosquittoServer broker(users);
    TempDir dir("parley-bench-relay-test");
    ChildProcess relay(
        {PARLEY_BENCH_PATH, "--uri", broker.uri(), "relay", "--relay-password", kServicePassword},
        dir.file("relay.log"));
    ASSERT_TRUE(relay.waitForLog("relay ready", 10s)) << relay.log();
    const auto underLimit = [&](const std::vector<std::string>& extra) {
        std::vector<std::string> argv = {
            "/bin/sh",
            "-c",
            "ulimit -n " + std::to_string(kDescriptors) + " && exec \"$@\"",
            "sh",
            PARLEY_BENCH_PATH,
            "--uri",
            broker.uri(),
            "--password",
            kUserPassword,
            "--users",
            std::to_string(kManyUsers),
            "--rate",
            "40",
            "--seconds",
            "1",
            "--drain",
            "10",
            "--json",
            "--quiet"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return runCommand(argv, {}, 60s);
    };

    const auto generator = underLimit({});
    ASSERT_EQ(generator.exitCode, 0) << generator.out << generator.err;
    const json report = json::parse(generator.out);
    EXPECT_EQ(report.at("generator"), "libmosquitto epoll loop");
    expectCleanReport(report);

    const auto bare = underLimit({"--bare"});
    EXPECT_NE(bare.exitCode, 0) << "three descriptors per user do not fit: " << bare.out;
    EXPECT_NE(bare.err.find("Too many open files"), std::string::npos) << bare.err;
    EXPECT_EQ(relay.terminate(5s), 0) << relay.log();
}

TEST(ParleyBench, AFloodKeepsAWindowInFlightPerSenderAndStopsAtTheCount) {
    MosquittoServer broker(brokerUsers());
    ParleydProcess parleyd(parleydYaml(broker));
    const auto result = runBench(broker, {"--rate", "0", "--window", "7", "--count", "300",
                                          "--server-pid", std::to_string(parleyd.pid())});
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
    const json report = json::parse(result.out);
    EXPECT_EQ(report.at("window"), 7);
    EXPECT_EQ(report.at("sent"), 300) << "a refill stops at the count";
    EXPECT_EQ(report.at("stored"), 300);
    EXPECT_EQ(report.at("unanswered"), 0);
    EXPECT_EQ(report.at("seq_gaps"), 0);
    EXPECT_EQ(report.at("duplicate_stores"), 0);
    EXPECT_EQ(report.at("delivered"), 600);
    EXPECT_EQ(report.at("lost_deliveries"), 0);
    EXPECT_EQ(report.at("duplicate_deliveries"), 0);
    EXPECT_GT(report.at("server_cpu_us_per_message").get<double>(), 0.0);
    EXPECT_GT(report.at("bench_cpu_us_per_message").get<double>(), 0.0);
}

// The retained presence of `uid` as another bench user reads it.
std::string presenceOf(const MosquittoServer& broker, const std::string& uid) {
    std::string state;
    bench::MosquittoConnection reader(
        broker.uri(), {}, "presence-reader", "bench-0004", kUserPassword, 10,
        [&](bench::MosquittoConnection&, std::string_view, std::string_view payload) {
            state = json::parse(payload).value("state", "");
        });
    reader.startConnect();
    const std::vector<bench::MosquittoConnection*> connections{&reader};
    EXPECT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return reader.connected(); }, 10s));
    reader.subscribe("parley/v1/presence/" + uid, 1);
    EXPECT_TRUE(bench::MosquittoConnection::runUntil(
        connections, [&] { return !state.empty(); }, 10s))
        << "no retained presence for " << uid;
    return state;
}

TEST(ParleyBench, AwayUsersStayAwayWhileTheySend) {
    MosquittoServer broker(brokerUsers());
    ParleydProcess parleyd(parleydYaml(broker));
    const auto sending = runBench(broker, {});
    ASSERT_EQ(sending.exitCode, 0) << sending.out << sending.err;
    EXPECT_EQ(presenceOf(broker, "bench-0001"), "online") << "sending made them online";

    const auto away = runBench(broker, {"--away"});
    ASSERT_EQ(away.exitCode, 0) << away.out << away.err;
    expectCleanReport(json::parse(away.out));
    EXPECT_EQ(presenceOf(broker, "bench-0001"), "away")
        << "chosen away, and still away after sending (what the notify plugin needs)";
}

TEST(ParleyBench, AFlooderInAProcessOfItsOwnIsCountedAndCostsTheOthersNothingLost) {
    // The broker plugin's rate limit, small so the flood meets it: what it drops, what parleyd
    // stores or answers rate_limited, and nothing unanswered, all in the report.
    auto users = brokerUsers();
    users.push_back({"bench-0005", kUserPassword});  // the flooder: the name after the others
    MosquittoServer broker(users, {.pluginOptions = "plugin_opt_publish_rate 50\n"
                                                    "plugin_opt_publish_burst 50\n"
                                                    "plugin_opt_publish_disconnect_after 0\n"});
    ParleydProcess parleyd(parleydYaml(broker));
    const auto result = runBench(broker, {"--flooder", "3000"});
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
    const json report = json::parse(result.out);
    expectCleanReport(report);
    const json flooder = report.at("flooder");
    EXPECT_EQ(flooder.at("sent"), 3000);
    const long long dropped = flooder.at("refused_at_broker");
    const long long stored = flooder.at("stored");
    long long refused = 0;
    for (const auto& [code, count] : flooder.at("refused").items()) {
        EXPECT_EQ(code, "rate_limited");
        refused += count.get<long long>();
    }
    EXPECT_GT(dropped, 0) << "the broker's limit dropped part of the flood";
    EXPECT_GT(stored, 0);
    EXPECT_EQ(flooder.at("publishes_failed"), 0);
    EXPECT_EQ(flooder.at("unanswered"), 0);
    EXPECT_EQ(dropped + stored + refused, 3000) << flooder;
    // It ran as its own process, under a client id of its own.
    EXPECT_NE(broker.log().find("as bench-0005-flood "), std::string::npos);
}

TEST(ParleyBench, StealIsTheHypervisorsShareOfTheTicksBetweenTwoSamples) {
    bench::MachineSample before{true, 1000, 10};
    bench::MachineSample after{true, 1200, 30};
    EXPECT_DOUBLE_EQ(bench::stealPercent(before, after), 10.0);
    EXPECT_EQ(bench::stealPercent(before, before), -1) << "no time passed";
    EXPECT_EQ(bench::stealPercent({}, after), -1) << "a sample that could not be read";

    const auto now = bench::sampleMachine();
    ASSERT_TRUE(now.valid) << "/proc/stat's cpu line";
    EXPECT_GT(now.total, 0U);
    EXPECT_LE(now.steal, now.total);
}

TEST(ParleyBench, CpuWaitIsTheWaitPerTimesliceOfTheThreadsInBothSamples) {
    bench::RunQueueSample before{true,
                                 {{10, {1'000'000, 10}}, {11, {0, 0}}, {12, {5'000'000, 50}}}};
    bench::RunQueueSample after{true,
                                {{10, {4'000'000, 20}},   // 3 ms over 10 timeslices
                                 {11, {1'000'000, 10}},   // 1 ms over 10
                                 {12, {0, 1}},            // another thread with a reused id
                                 {13, {9'000'000, 1}}}};  // not in the first sample
    EXPECT_DOUBLE_EQ(bench::meanRunQueueWaitMs(before, after), 0.2) << "4 ms over 20 timeslices";
    EXPECT_EQ(bench::meanRunQueueWaitMs(before, before), -1) << "no thread ran";
    EXPECT_EQ(bench::meanRunQueueWaitMs({}, after), -1) << "a sample that could not be read";

    const auto mine = bench::sampleRunQueue(getpid());
    ASSERT_TRUE(mine.valid) << "/proc/<pid>/task/*/schedstat";
    EXPECT_EQ(mine.threads.count(static_cast<pid_t>(gettid())), 1U) << "this thread among them";
    const auto machine = bench::sampleRunQueue();
    EXPECT_GT(machine.threads.size(), mine.threads.size()) << "every process's threads";
}

}  // namespace
}  // namespace parley::testing
