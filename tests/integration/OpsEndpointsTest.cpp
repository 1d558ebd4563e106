// parleyd's operations endpoint (http: in the YAML) with a real broker and real clients:
// /healthz, /readyz following the broker going away and coming back, /metrics counting real
// commands by op and outcome.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "HttpProbe.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// The value of one sample in a /metrics text (`name{labels}` exactly as written), or -1.
double sample(const std::string& metrics, const std::string& series) {
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(series + " ", 0) == 0) {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return -1;
}

class OpsEndpoints : public ::testing::Test {
  protected:
    OpsEndpoints()
        : broker_({{"parleyd", "pd"}, {"alice", "pw"}, {"bob", "pw"}, {"carol", "pw"}}),
          parleyd_("broker: {uri: " + broker_.uri() +
                   ", username: parleyd, password: pd, client_id: parleyd-ops}\n"
                   "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
                   "http: {listen: 127.0.0.1, port: 0}\n") {
        port_ = parleyd_.httpPort();
    }

    MosquittoServer broker_;
    ParleydProcess parleyd_;
    int port_ = -1;
};

TEST_F(OpsEndpoints, HealthAndReadinessFollowTheBroker) {
    ASSERT_GT(port_, 0) << parleyd_.log();
    EXPECT_EQ(httpGet(port_, "/healthz").status, 200);
    ASSERT_TRUE(waitForHttpStatus(port_, "/readyz", 200, 10s)) << httpGet(port_, "/readyz").body;
    const auto ready = json::parse(httpGet(port_, "/readyz").body);
    EXPECT_EQ(ready["broker"], "connected");
    EXPECT_EQ(ready["database"], "ok");
    EXPECT_EQ(httpGet(port_, "/nothing-here").status, 404);

    broker_.stop();
    ASSERT_TRUE(waitForHttpStatus(port_, "/readyz", 503, 15s)) << httpGet(port_, "/readyz").body;
    const auto notReady = httpGet(port_, "/readyz");
    EXPECT_EQ(json::parse(notReady.body)["broker"], "disconnected") << notReady.body;
    EXPECT_EQ(json::parse(notReady.body)["ready"], false);
    EXPECT_EQ(httpGet(port_, "/healthz").status, 200) << "alive even without its broker";
    EXPECT_EQ(sample(httpGet(port_, "/metrics").body, "parley_broker_connected"), 0);

    broker_.start();
    ASSERT_TRUE(waitForHttpStatus(port_, "/readyz", 200, 30s)) << httpGet(port_, "/readyz").body;
    // And it serves again.
    MqttTestClient alice(broker_.uri(), "alice", "pw");
    EXPECT_EQ(codeOf(alice.request({{"op", "ping"}}, 10s)), "ok");
}

TEST_F(OpsEndpoints, MetricsCountRealCommandsByOutcome) {
    ASSERT_GT(port_, 0) << parleyd_.log();
    MqttTestClient alice(broker_.uri(), "alice", "pw");
    MqttTestClient carol(broker_.uri(), "carol", "pw");
    auto opened = alice.request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened;
    const std::string conv = opened["conv"];

    const std::string before = httpGet(port_, "/metrics").body;
    const double okBefore = sample(before, R"(parley_commands_total{op="msg.send",outcome="ok"})");
    ASSERT_EQ(okBefore, 0) << before;  // listed from the start, at 0
    const double storedBefore = sample(before, "parley_messages_stored_total");

    ASSERT_EQ(codeOf(alice.request(
                  {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m1"}, {"body", "hello"}})),
              "ok");
    // carol is no member: refused with forbidden.
    ASSERT_EQ(codeOf(carol.request(
                  {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m2"}, {"body", "let me in"}})),
              "forbidden");
    ASSERT_EQ(codeOf(carol.request({{"op", "no.such.op"}})), "unknown_op");

    const auto metrics = httpGet(port_, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    const std::string& text = metrics.body;
    EXPECT_EQ(sample(text, R"(parley_commands_total{op="msg.send",outcome="ok"})"), 1) << text;
    EXPECT_EQ(sample(text, R"(parley_commands_total{op="msg.send",outcome="forbidden"})"), 1)
        << text;
    EXPECT_EQ(sample(text, R"(parley_commands_total{op="unknown",outcome="unknown_op"})"), 1)
        << text;
    EXPECT_EQ(sample(text, "parley_messages_stored_total"), storedBefore + 1) << text;
    EXPECT_EQ(sample(text, R"(parley_command_duration_seconds_count{op="msg.send"})"), 2) << text;
    EXPECT_GE(sample(text, R"(parley_store_duration_seconds_count{method="appendMessage"})"), 2)
        << text;
    // Group commit: alice's message went through a batch (carol's too, if it got that far).
    const double batches = sample(text, "parley_store_append_batches_total");
    EXPECT_GE(batches, 1) << text;
    EXPECT_GE(sample(text, "parley_store_append_batch_messages_total"), batches) << text;
    EXPECT_EQ(sample(text, "parley_store_append_batch_duration_seconds_count"), batches) << text;
    EXPECT_EQ(sample(text, "parley_broker_connected"), 1) << text;
    EXPECT_EQ(sample(text, "parley_database_up"), 1) << text;
    EXPECT_GE(sample(text, "parley_worker_queue_depth"), 0) << text;
    EXPECT_GT(sample(text, "process_start_time_seconds"), 1.7e9) << text;
    EXPECT_NE(text.find("# TYPE parley_command_duration_seconds histogram"), std::string::npos);
    // The presence count is refreshed every 15 s; alice and carol are online by then.
    const auto deadline = std::chrono::steady_clock::now() + 25s;
    double online = -1;
    while (std::chrono::steady_clock::now() < deadline) {
        online =
            sample(httpGet(port_, "/metrics").body, R"(parley_connected_users{state="online"})");
        if (online >= 2) {
            break;
        }
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_GE(online, 2);
}

// When the kernel started process `pid`, in seconds since the Unix epoch: its start in clock
// ticks after boot (/proc/PID/stat, field 22) plus the boot time (/proc/stat, btime).
double processStartSeconds(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    const std::string line{std::istreambuf_iterator<char>(stat), {}};
    std::istringstream fields(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    for (int i = 3; i < 22; ++i) {
        fields >> field;
    }
    long long ticks = 0;
    fields >> ticks;
    std::ifstream system("/proc/stat");
    long long bootTime = 0;
    for (std::string key; system >> key;) {
        if (key == "btime") {
            system >> bootTime;
            break;
        }
    }
    return static_cast<double>(bootTime) +
           static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Prometheus computes uptime as time() - process_start_time_seconds: it must be the real start,
// to the second (it was printed with 9 significant digits: 10-second steps).
TEST_F(OpsEndpoints, ProcessStartTimeIsTheRealStartToTheSecond) {
    ASSERT_GT(port_, 0) << parleyd_.log();
    const std::string text = httpGet(port_, "/metrics").body;
    const double reported = sample(text, "process_start_time_seconds");
    const double real = processStartSeconds(parleyd_.pid());
    ASSERT_GT(real, 1.7e9);
    EXPECT_NEAR(reported, real, 1.0)
        << std::fixed << "reported " << reported << ", started " << real << "\n"
        << text;
    // Milliseconds, as measured: at most 3 decimals, never an exponent.
    std::smatch line;
    ASSERT_TRUE(
        std::regex_search(text, line, std::regex(R"(\nprocess_start_time_seconds (\S+)\n)")))
        << text;
    EXPECT_TRUE(std::regex_match(line[1].str(), std::regex(R"([0-9]{10}(\.[0-9]{1,3})?)")))
        << line[1];
}

}  // namespace
}  // namespace parley::testing
