// The pieces of parleyd's operations endpoint and ingress limits that need no network: the
// per-user ingress limiter, histograms and the Prometheus text, the timing store, the config keys,
// and the limiter inside the whole server (through ServerHarness).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <thread>

#include "config/ConfigLoader.h"
#include "ops/Exposition.h"
#include "ops/Metrics.h"
#include "ops/StoreMetrics.h"
#include "parley/testing/ServerHarness.h"
#include "server/IngressLimiter.h"

namespace parley {
namespace {

using Kind = IngressLimiter::Verdict::Kind;

TEST(IngressLimiter, TokenBucketRefusesPastTheBurstAndRefills) {
    IngressLimiter limiter(10, 3, 0);  // 10/s, burst 3, no queue cap
    for (int i = 0; i < 3; ++i) {
        auto verdict = limiter.admit("flooder", 1000);
        ASSERT_TRUE(verdict.admitted());
        limiter.release("flooder");
    }
    auto refused = limiter.admit("flooder", 1000);
    EXPECT_EQ(refused.kind, Kind::OverRate);
    EXPECT_EQ(refused.retryAfterMs, 100);  // one token at 10/s
    EXPECT_EQ(refused.refusalsToLog, 1U);
    // Another user is not affected.
    EXPECT_TRUE(limiter.admit("other", 1000).admitted());
    // 100 ms later one token is back, and only one.
    EXPECT_TRUE(limiter.admit("flooder", 1100).admitted());
    EXPECT_EQ(limiter.admit("flooder", 1100).kind, Kind::OverRate);
}

TEST(IngressLimiter, ABudgetOfBytesChargesEachCommandItsCostAndRepliesAfterwards) {
    IngressLimiter bytes(1000, 5000, 0);  // 1000 bytes/s, burst 5000
    ASSERT_TRUE(bytes.admit("u", 0, 3000).admitted());
    auto refused = bytes.admit("u", 0, 3000);
    EXPECT_EQ(refused.kind, Kind::OverRate);
    EXPECT_EQ(refused.retryAfterMs, 1000);  // 1000 bytes missing at 1000/s
    EXPECT_TRUE(bytes.admit("u", 0, 2000).admitted());
    // A reply's bytes go into debt: the next command waits for them too.
    bytes.charge("u", 0, 1500);
    EXPECT_EQ(bytes.admit("u", 0, 500).retryAfterMs, 2000);
    EXPECT_TRUE(bytes.admit("u", 2000, 500).admitted());
    // A cost above the burst costs the burst, so it is admitted once the bucket is full.
    EXPECT_TRUE(bytes.admit("v", 0, 1e9).admitted());
    EXPECT_EQ(bytes.admit("v", 0, 1).kind, Kind::OverRate);
}

TEST(IngressLimiter, QueueCapRefusesUntilCommandsFinish) {
    IngressLimiter limiter(0, 1, 2);  // no token bucket, 2 queued at most
    EXPECT_TRUE(limiter.admit("u", 0).admitted());
    EXPECT_TRUE(limiter.admit("u", 0).admitted());
    auto refused = limiter.admit("u", 0);
    EXPECT_EQ(refused.kind, Kind::OverQueued);
    EXPECT_EQ(refused.retryAfterMs, IngressLimiter::kQueuedRetryAfterMs);
    limiter.release("u");
    EXPECT_TRUE(limiter.admit("u", 0).admitted());
}

TEST(IngressLimiter, RepeatedRefusalsAreLoggedOncePerInterval) {
    IngressLimiter limiter(1, 1, 0);
    ASSERT_TRUE(limiter.admit("u", 0).admitted());
    EXPECT_EQ(limiter.admit("u", 0).refusalsToLog, 1U);
    EXPECT_EQ(limiter.admit("u", 1).refusalsToLog, 0U);
    EXPECT_EQ(limiter.admit("u", 2).refusalsToLog, 0U);
    // The next logged one reports those not logged, itself included.
    EXPECT_EQ(limiter.admit("u", IngressLimiter::kLogIntervalMs + 1).kind, Kind::Admitted);
    EXPECT_EQ(limiter.admit("u", IngressLimiter::kLogIntervalMs + 1).refusalsToLog, 3U);
}

TEST(IngressLimiter, OffWhenBothLimitsAreZeroAndForgetsIdleUsers) {
    IngressLimiter off(0, 1, 0);
    EXPECT_FALSE(off.enabled());
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(off.admit("u", 0).admitted());
    }
    IngressLimiter limiter(100, 10, 10);
    for (int i = 0; i < 50; ++i) {
        const std::string uid = "u" + std::to_string(i);
        ASSERT_TRUE(limiter.admit(uid, 0).admitted());
        limiter.release(uid);
    }
    EXPECT_EQ(limiter.trackedUsers(), 50U);
    // A minute later every bucket is full again: the next admit in each shard purges them.
    for (int i = 0; i < 200; ++i) {
        limiter.admit("late" + std::to_string(i), 61000);
    }
    EXPECT_EQ(limiter.trackedUsers(), 200U);
}

TEST(Histogram, BucketsAreCumulativeWithSumAndCount) {
    ops::Histogram histogram;
    histogram.observe(0.0001);
    histogram.observe(0.003);
    histogram.observe(20);
    const auto snapshot = histogram.snapshot();
    EXPECT_EQ(snapshot.count(), 3U);
    EXPECT_EQ(snapshot.cumulative[0], 1U);                                   // <= 0.25 ms
    EXPECT_EQ(snapshot.cumulative[4], 2U);                                   // <= 5 ms
    EXPECT_EQ(snapshot.cumulative[ops::Histogram::kBounds.size() - 1], 2U);  // <= 10 s
    EXPECT_NEAR(snapshot.sumSeconds, 20.0031, 1e-6);
}

TEST(Metrics, RendersCommandsByOpAndOutcomeInExpositionFormat) {
    ops::Metrics metrics;
    auto& send = metrics.op("msg.send");
    send.count(std::nullopt);
    send.count(std::nullopt);
    send.count(ErrorCode::Forbidden);
    send.duration.observe(0.002);
    metrics.op("we\"ird\\op\n").count(ErrorCode::UnknownOp);
    ops::Exposition out;
    metrics.render(out);
    const std::string text = out.text();
    EXPECT_NE(text.find("# TYPE parley_commands_total counter\n"), std::string::npos) << text;
    EXPECT_NE(text.find("parley_commands_total{op=\"msg.send\",outcome=\"ok\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_commands_total{op=\"msg.send\",outcome=\"forbidden\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("op=\"we\\\"ird\\\\op\\n\",outcome=\"unknown_op\"} 1"), std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_command_duration_seconds_bucket{op=\"msg.send\",le=\"0.0025\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_command_duration_seconds_bucket{op=\"msg.send\",le=\"+Inf\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_command_duration_seconds_count{op=\"msg.send\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_build_info{version=\""), std::string::npos);
    // Every line is a comment or `name{labels} value`.
    const std::regex line(R"((# (HELP|TYPE) .*)|([a-z_]+(\{.*\})? [-+0-9.eInf]+))");
    std::istringstream lines(text);
    for (std::string one; std::getline(lines, one);) {
        EXPECT_TRUE(std::regex_match(one, line)) << one;
    }
}

// Every error code a reply can carry has its own counter, the last ones added included (issue
// 21's four were first counted past the end of the counters' array).
TEST(Metrics, EveryErrorCodeIsCountedUnderItsName) {
    ops::Metrics metrics;
    auto& edit = metrics.op("msg.edit");
    for (ErrorCode code : kAllErrorCodes) {
        edit.count(code);
    }
    ops::Exposition out;
    metrics.render(out);
    const std::string text = out.text();
    for (ErrorCode code : kAllErrorCodes) {
        EXPECT_NE(text.find("parley_commands_total{op=\"msg.edit\",outcome=\"" +
                            std::string(errorCodeName(code)) + "\"} 1\n"),
                  std::string::npos)
            << errorCodeName(code) << "\n"
            << text;
    }
}

// The value of `series` in an exposition text, as written.
std::string writtenValue(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(series + " ", 0) == 0) {
            return line.substr(series.size() + 1);
        }
    }
    return "";
}

// Every value with full precision: counters past 2^53 (a double's last exact integer) and
// timestamps in seconds with their milliseconds.
TEST(Exposition, PrintsEveryValueWithFullPrecision) {
    ops::Exposition out;
    out.sample("big_total", {}, uint64_t{9007199254740993});  // 2^53 + 1
    out.sample("max_total", {}, std::numeric_limits<uint64_t>::max());
    out.sample("negative", {}, int64_t{-9007199254740993});
    out.sample("start_seconds", {}, 1796598790.123);
    out.sample("sum_seconds", {}, 0.1 + 0.2);
    out.sample("tiny", {}, 1.5e-300);
    const std::string text = out.text();
    EXPECT_EQ(writtenValue(text, "big_total"), "9007199254740993") << text;
    EXPECT_EQ(writtenValue(text, "max_total"), "18446744073709551615") << text;
    EXPECT_EQ(writtenValue(text, "negative"), "-9007199254740993") << text;
    EXPECT_EQ(writtenValue(text, "start_seconds"), "1796598790.123") << text;
    // Read back, each double is the one written (the shortest text that round-trips).
    EXPECT_EQ(std::stod(writtenValue(text, "sum_seconds")), 0.1 + 0.2) << text;
    EXPECT_EQ(std::stod(writtenValue(text, "tiny")), 1.5e-300) << text;
}

TEST(Metrics, StartTimeAndCountersAreExact) {
    ops::Metrics metrics;
    metrics.messagesStored = uint64_t{9007199254740993};
    ops::Exposition out;
    metrics.render(out);
    const std::string text = out.text();
    EXPECT_EQ(writtenValue(text, "parley_messages_stored_total"), "9007199254740993") << text;
    const std::string start = writtenValue(text, "process_start_time_seconds");
    EXPECT_EQ(std::llround(std::stod(start) * 1000), metrics.startTimeMs) << start;
}

TEST(Metrics, OpsPastTheCapShareOneLabel) {
    ops::Metrics metrics;
    for (size_t i = 0; i < ops::Metrics::kMaxOps + 10; ++i) {
        metrics.op("op" + std::to_string(i)).count(std::nullopt);
    }
    ops::Exposition out;
    metrics.render(out);
    EXPECT_NE(out.text().find("parley_commands_total{op=\"other\",outcome=\"ok\"} 10\n"),
              std::string::npos);
}

TEST(ConfigLoader, ReadsHttpAndIngressLimits) {
    const Config defaults = loadConfigText("", "test.yaml");
    EXPECT_FALSE(defaults.http.enabled());
    EXPECT_EQ(defaults.limits.userCommandsPerSecond, 100);
    EXPECT_EQ(defaults.limits.userCommandBurst, 300);
    EXPECT_EQ(defaults.limits.userQueuedCommands, 100);
    const Config config = loadConfigText(
        "http: {listen: 0.0.0.0, port: 9464}\n"
        "limits: {user_commands_per_second: 2.5, user_command_burst: 7, user_queued_commands: 0}\n",
        "test.yaml");
    EXPECT_TRUE(config.http.enabled());
    EXPECT_EQ(config.http.listen, "0.0.0.0");
    EXPECT_EQ(config.http.port, 9464);
    EXPECT_EQ(config.limits.userCommandsPerSecond, 2.5);
    EXPECT_EQ(config.limits.userCommandBurst, 7);
    EXPECT_EQ(config.limits.userQueuedCommands, 0);
    EXPECT_TRUE(loadConfigText("http: {port: 0}", "t.yaml").http.enabled());
    EXPECT_FALSE(loadConfigText("http: {listen: 127.0.0.1}", "t.yaml").http.enabled());
    EXPECT_THROW(loadConfigText("http: {port: 70000}", "t.yaml"), ConfigError);
    EXPECT_THROW(loadConfigText("http: {prot: 80}", "t.yaml"), ConfigError);
    EXPECT_THROW(loadConfigText("limits: {user_command_burst: 0}", "t.yaml"), ConfigError);
    EXPECT_THROW(loadConfigText("limits: {user_commands_per_second: -1}", "t.yaml"), ConfigError);
}

namespace testing_ns = ::parley::testing;

class OpsServerTest : public testing_ns::ServerHarness {
  protected:
    OpsServerTest() {
        config_.limits.userCommandsPerSecond = 1;  // the test clock does not move: no refill
        config_.limits.userCommandBurst = 5;
        config_.limits.userQueuedCommands = 0;
    }
};

TEST_F(OpsServerTest, FloodIsAnsweredRateLimitedAndCountedWhileOthersAreServed) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(codeOf(call("flooder", {{"op", "ping"}})), "ok");
    }
    const auto refused = call("flooder", {{"op", "ping"}});
    EXPECT_EQ(codeOf(refused), "rate_limited") << refused;
    EXPECT_EQ(refused["error"]["retry_after_ms"], 1000) << refused;
    EXPECT_EQ(codeOf(call("someone", {{"op", "ping"}})), "ok");
    EXPECT_EQ(codeOf(call("flooder", {{"op", "no.such.op"}})), "rate_limited");

    ops::Exposition out;
    server().metrics().render(out);
    const std::string text = out.text();
    EXPECT_NE(text.find("parley_commands_total{op=\"ping\",outcome=\"ok\"} 6\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_commands_total{op=\"ping\",outcome=\"rate_limited\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_commands_total{op=\"unknown\",outcome=\"rate_limited\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("parley_ingress_refused_total{limit=\"rate\"} 2\n"), std::string::npos)
        << text;
    EXPECT_NE(logs_.text().find("ingress: uid=flooder over its limits.user_commands_per_second"),
              std::string::npos);
}

TEST_F(OpsServerTest, StoreMetricsCountCallsAndMessagesStored) {
    ops::Metrics metrics;
    ops::StoreMetrics storeMetrics(metrics);
    const auto observing = observeStore(storeMetrics);
    store_->ping();
    EXPECT_EQ(store_->presenceCounts().online, 0);
    EXPECT_FALSE(store_->user("nobody").has_value());
    ops::Exposition out;
    metrics.render(out);
    EXPECT_NE(out.text().find("parley_store_duration_seconds_count{method=\"user\"} 1\n"),
              std::string::npos)
        << out.text();
    EXPECT_EQ(out.text().find("method=\"ping\""), std::string::npos) << "probes are not counted";

    const std::string conv = openDirect("alice", "bob");
    auto sent = call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "c1"}, {"body", "hi"}});
    ASSERT_EQ(codeOf(sent), "ok");
    auto again =
        call("alice", {{"op", "msg.send"}, {"conv", conv}, {"cmid", "c1"}, {"body", "hi"}});
    ASSERT_EQ(codeOf(again), "ok");
    EXPECT_EQ(server().metrics().messagesStored.load(), 1U) << "the resend is not a new message";
    EXPECT_GE(store_->presenceCounts().online, 1);
}

TEST_F(OpsServerTest, StoreMetricsCountBatchesOfMessages) {
    ops::Metrics metrics;
    ops::StoreMetrics storeMetrics(metrics);
    const auto observing = observeStore(storeMetrics);
    const std::string conv = openDirect("alice", "bob");
    for (int i = 0; i < 3; ++i) {
        // One after another: each message is a batch of its own.
        auto sent = call("alice", {{"op", "msg.send"},
                                   {"conv", conv},
                                   {"cmid", "b" + std::to_string(i)},
                                   {"body", "hi"}});
        ASSERT_EQ(codeOf(sent), "ok") << sent;
    }
    ops::Exposition out;
    metrics.render(out);
    const std::string text = out.text();
    EXPECT_NE(text.find("parley_store_append_batches_total 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("parley_store_append_batch_messages_total 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("parley_store_append_batch_duration_seconds_count 3\n"), std::string::npos)
        << text;
}

}  // namespace
}  // namespace parley
