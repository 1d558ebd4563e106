// Unit tests of what Parley's broker plugin decides besides logins (broker/jwt_auth), without a
// broker: who may subscribe to what (SubscriptionPolicy), the per-connection publish rate limit
// and what it reports (PublishLimiter), and the options that configure both. The same decisions
// in a real Mosquitto: BrokerPluginTest.cpp.

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "JwtAuthSettings.h"
#include "PublishLimiter.h"
#include "SubscriptionPolicy.h"
#include "TokenVerifier.h"

namespace parley::testing {
namespace {

using jwtauth::PublishLimiter;
using jwtauth::PublishLimits;
using jwtauth::SubscriptionPolicy;
using Decision = jwtauth::SubscriptionPolicy::Decision;

const SubscriptionPolicy& policy() {
    static const SubscriptionPolicy shared("parley/v1", {"parleyd", "parleyd-eu"});
    return shared;
}

void expectAllowed(const std::string& user, const std::string& filter) {
    const auto verdict = policy().check(user, filter);
    EXPECT_EQ(verdict.decision, Decision::Allow) << user << " " << filter << ": " << verdict.reason;
}

void expectRefused(const std::string& user, const std::string& filter,
                   const std::string& reasonPart) {
    const auto verdict = policy().check(user, filter);
    EXPECT_EQ(verdict.decision, Decision::Refuse) << user << " " << filter;
    EXPECT_NE(verdict.reason.find(reasonPart), std::string::npos)
        << user << " " << filter << ": " << verdict.reason;
}

TEST(BrokerSubscriptionPolicy, AUserMaySubscribeToItsInboxAndToPresence) {
    for (const char* filter :
         {"parley/v1/u/alice/#", "parley/v1/u/alice", "parley/v1/u/alice/resp",
          "parley/v1/u/alice/c/+", "parley/v1/u/alice/c/c0123456789abcdefghij",
          "parley/v1/u/alice/+", "parley/v1/presence/#", "parley/v1/presence/+",
          "parley/v1/presence/bob", "parley/v1/presence"}) {
        expectAllowed("alice", filter);
    }
}

TEST(BrokerSubscriptionPolicy, SharedSubscriptionsAreForServiceAccountsOnly) {
    const std::string reason = "shared subscriptions are for the service accounts";
    expectRefused("alice", "$share/parleyd/parley/v1/c2s/+", reason);
    expectRefused("alice", "$share/mine/parley/v1/c2s/+", reason);
    // Even of filters the user could subscribe to plainly.
    expectRefused("alice", "$share/g/parley/v1/u/alice/#", reason);
    expectRefused("alice", "$share/g/parley/v1/presence/#", reason);
    expectAllowed("parleyd", "$share/parleyd/parley/v1/c2s/+");
    expectAllowed("parleyd-eu", "$share/parleyd/parley/v1/c2s/+");
    expectAllowed("parleyd", "parley/v1/c2s/#");
    // The service accounts are exact names.
    expectRefused("parleyd2", "$share/parleyd/parley/v1/c2s/+", reason);
    expectRefused("Parleyd", "$share/parleyd/parley/v1/c2s/+", reason);
}

TEST(BrokerSubscriptionPolicy, EverythingElseIsRefused) {
    const std::string reason = "a user may subscribe only to its own inbox (parley/v1/u/<uid>/...)";
    for (const char* filter :
         {"parley/v1/c2s/+", "parley/v1/c2s/#", "parley/v1/c2s/alice", "parley/v1/u/bob/#",
          "parley/v1/u/+/resp", "parley/v1/u/+/#", "parley/v1/u/#", "parley/v1/u", "parley/v1/#",
          "parley/#", "#", "+/v1/u/alice/#", "parley/+/u/alice/#", "parley/v1/u/alicex/#",
          "parley/v1/u/alice-phone/#", "parley/v1/presencex", "$SYS/#", "$SYS/broker/clients/total",
          "other/topic"}) {
        expectRefused("alice", filter, reason);
    }
}

TEST(BrokerSubscriptionPolicy, ANameThatCannotBeAnInboxGetsPresenceOnly) {
    // Password-file names are not checked by anyone else: wildcards or '/' in a username must not
    // widen the inbox rule.
    expectRefused("a+b", "parley/v1/u/a+b/#", "own inbox");
    expectRefused("a/b", "parley/v1/u/a/b/#", "own inbox");
    expectRefused("#", "parley/v1/u/#", "own inbox");
    expectRefused("", "parley/v1/u//#", "own inbox");
    expectAllowed("a+b", "parley/v1/presence/#");
}

TEST(BrokerSubscriptionPolicy, FollowsTheConfiguredTopicPrefix) {
    const SubscriptionPolicy custom("chat/v2", {"svc"});
    EXPECT_EQ(custom.check("alice", "chat/v2/u/alice/#").decision, Decision::Allow);
    EXPECT_EQ(custom.check("alice", "chat/v2/presence/bob").decision, Decision::Allow);
    EXPECT_EQ(custom.check("alice", "parley/v1/u/alice/#").decision, Decision::Refuse);
    EXPECT_EQ(custom.check("svc", "$share/x/chat/v2/c2s/+").decision, Decision::Allow);
    EXPECT_EQ(custom.check("parleyd", "$share/parleyd/chat/v2/c2s/+").decision, Decision::Refuse);
}

// --- PublishLimiter ---

// Stand-ins for the broker's connections (opaque pointers): distinct objects, distinct addresses.
int aliceConnection = 0;
int bobConnection = 0;
int parleydConnection = 0;

// Publishes `count` times at `nowMs` and returns how many were let through.
int publish(PublishLimiter& limiter, const void* connection, int count, int64_t nowMs,
            const char* user = "alice", const char* clientId = "alice-phone") {
    int allowed = 0;
    for (int i = 0; i < count; ++i) {
        allowed += limiter.admit(connection, user, clientId, nowMs).allowed ? 1 : 0;
    }
    return allowed;
}

TEST(BrokerPublishLimiter, ABurstThenTheRate) {
    PublishLimiter limiter({10, 30, 0}, {"parleyd"});
    EXPECT_EQ(publish(limiter, &aliceConnection, 50, 1000), 30)
        << "a fresh connection may send its burst";
    EXPECT_EQ(publish(limiter, &aliceConnection, 50, 1500), 5) << "then 10/s";
    EXPECT_EQ(publish(limiter, &aliceConnection, 50, 2500), 10);
    // Quiet for long enough: the burst again, never more.
    EXPECT_EQ(publish(limiter, &aliceConnection, 50, 60000), 30);
    // Another connection has its own bucket.
    EXPECT_EQ(publish(limiter, &bobConnection, 50, 60000, "bob", "bob-1"), 30);
}

TEST(BrokerPublishLimiter, ServiceAccountsAreNeverLimited) {
    PublishLimiter limiter({10, 30, 1000}, {"parleyd"});
    EXPECT_EQ(publish(limiter, &parleydConnection, 10000, 1000, "parleyd", "parleyd-1"), 10000);
    EXPECT_TRUE(limiter.sweep(100000).disconnects.empty());
}

TEST(BrokerPublishLimiter, ZeroRateTurnsItOff) {
    PublishLimiter limiter({0, 30, 1000}, {});
    EXPECT_EQ(publish(limiter, &aliceConnection, 10000, 1000), 10000);
    EXPECT_EQ(limiter.tracked(), 0U);
}

TEST(BrokerPublishLimiter, AnEpisodeIsReportedOnceWhenItBeginsAndOnceWhenItEnds) {
    PublishLimiter limiter({10, 5, 0}, {});
    int began = 0;
    uint64_t dropped = 0;
    int64_t lastDrop = 0;
    for (int64_t t = 0; t < 3000; t += 10) {  // 100/s for 3 s against 10/s
        const auto admission = limiter.admit(&aliceConnection, "alice", "alice-phone", t);
        began += admission.episodeBegan ? 1 : 0;
        if (!admission.allowed) {
            ++dropped;
            lastDrop = t;
        }
        EXPECT_TRUE(limiter.sweep(t).ended.empty()) << "still over its rate at " << t;
    }
    EXPECT_EQ(began, 1);
    // 300 sent: the burst of 5 and about 10/s for 3 s let through.
    EXPECT_GE(dropped, 255U);
    EXPECT_LE(dropped, 270U);
    // Quiet: the episode ends once, with what it dropped.
    EXPECT_TRUE(limiter.sweep(lastDrop + PublishLimiter::kQuietMs - 1).ended.empty());
    const auto sweep = limiter.sweep(lastDrop + PublishLimiter::kQuietMs);
    ASSERT_EQ(sweep.ended.size(), 1U);
    EXPECT_EQ(sweep.ended[0].who.username, "alice");
    EXPECT_EQ(sweep.ended[0].who.clientId, "alice-phone");
    EXPECT_EQ(sweep.ended[0].dropped, dropped);
    EXPECT_GE(sweep.ended[0].lastedMs, 2800);
    EXPECT_TRUE(limiter.sweep(10000).ended.empty());
    // The next excess is a new episode.
    EXPECT_TRUE(limiter.admit(&aliceConnection, "alice", "alice-phone", 10000).allowed);
    int beganAgain = 0;
    for (int i = 0; i < 100; ++i) {
        beganAgain +=
            limiter.admit(&aliceConnection, "alice", "alice-phone", 10000).episodeBegan ? 1 : 0;
    }
    EXPECT_EQ(beganAgain, 1);
}

TEST(BrokerPublishLimiter, ASustainedExcessIsDisconnectedOnce) {
    PublishLimiter limiter({10, 5, 5000}, {});
    std::vector<PublishLimiter::Disconnect> disconnects;
    for (int64_t t = 0; t <= 8000; t += 10) {  // 100/s against 10/s
        limiter.admit(&aliceConnection, "alice", "alice-phone", t);
        if (t % 100 == 0) {  // the broker's ticks
            for (auto& kick : limiter.sweep(t).disconnects) {
                EXPECT_GE(t, 5000) << "disconnected before 5 s of excess";
                disconnects.push_back(kick);
            }
        }
    }
    ASSERT_EQ(disconnects.size(), 1U);
    EXPECT_EQ(disconnects[0].who.clientId, "alice-phone");
    EXPECT_GE(disconnects[0].overMs, 5000);
    EXPECT_GT(disconnects[0].dropped, 400U);
    // Its disconnect ends the episode without a second report (the disconnect line said it).
    EXPECT_FALSE(limiter.forget(&aliceConnection).has_value());
    EXPECT_EQ(limiter.tracked(), 0U);
}

TEST(BrokerPublishLimiter, AnExcessWithPausesIsNotSustained) {
    // Over the rate for 1 s, then quiet long enough to end the episode, again and again: never
    // disconnected, each burst of excess its own episode.
    PublishLimiter limiter({10, 5, 3000}, {});
    int began = 0;
    for (int64_t second = 0; second < 20; second += 4) {
        for (int64_t t = second * 1000; t < second * 1000 + 1000; t += 10) {
            began +=
                limiter.admit(&aliceConnection, "alice", "alice-phone", t).episodeBegan ? 1 : 0;
        }
        for (int64_t t = second * 1000 + 1000; t < (second + 4) * 1000; t += 100) {
            EXPECT_TRUE(limiter.sweep(t).disconnects.empty()) << t;
        }
    }
    EXPECT_EQ(began, 5);
}

TEST(BrokerPublishLimiter, ADisconnectDuringAnEpisodeEndsIt) {
    PublishLimiter limiter({10, 5, 0}, {});
    EXPECT_EQ(publish(limiter, &aliceConnection, 20, 0), 5);
    const auto ended = limiter.forget(&aliceConnection);
    ASSERT_TRUE(ended.has_value());
    EXPECT_EQ(ended->dropped, 15U);
    EXPECT_FALSE(limiter.forget(&aliceConnection).has_value());
}

TEST(BrokerPublishLimiter, AReusedConnectionOfAnotherClientStartsAfresh) {
    // The broker reuses the memory of a connection that is gone; if its disconnect was missed,
    // a different client id tells the new one from the old.
    PublishLimiter limiter({10, 5, 0}, {"parleyd"});
    EXPECT_EQ(publish(limiter, &aliceConnection, 20, 0), 5);
    EXPECT_EQ(publish(limiter, &aliceConnection, 20, 0, "bob", "bob-phone"), 5);
    EXPECT_EQ(publish(limiter, &aliceConnection, 100, 0, "parleyd", "parleyd-1"), 100);
}

// --- options ---

TEST(BrokerPluginSettings, DefaultsNeedNoOptionAtAll) {
    const auto settings = jwtauth::parseSettings({});
    EXPECT_TRUE(settings.keys.empty()) << "no keys: token login off";
    EXPECT_EQ(settings.topicPrefix, "parley/v1");
    EXPECT_EQ(settings.serviceUsers, (std::set<std::string, std::less<>>{"parleyd"}));
    EXPECT_EQ(settings.publishLimits.perSecond, 100);
    EXPECT_EQ(settings.publishLimits.burst, 300);
    EXPECT_EQ(settings.publishLimits.disconnectAfterMs, 10000);
    EXPECT_TRUE(settings.policy.reservedUsers.contains("parleyd"));
    EXPECT_TRUE(settings.policy.reservedUsers.contains("system"));
}

TEST(BrokerPluginSettings, ReadsTheSubscriptionAndRateOptions) {
    const auto settings = jwtauth::parseSettings({{"topic_prefix", "chat/v2"},
                                                  {"service_users", " parleyd-a, parleyd-b "},
                                                  {"publish_rate", "50"},
                                                  {"publish_burst", "120"},
                                                  {"publish_disconnect_after", "0"},
                                                  {"reserved_users", "admin"}});
    EXPECT_EQ(settings.topicPrefix, "chat/v2");
    EXPECT_EQ(settings.serviceUsers,
              (std::set<std::string, std::less<>>{"parleyd-a", "parleyd-b"}));
    EXPECT_EQ(settings.publishLimits.perSecond, 50);
    EXPECT_EQ(settings.publishLimits.burst, 120);
    EXPECT_EQ(settings.publishLimits.disconnectAfterMs, 0);
    // A token for a service account would carry its rights: they are reserved whatever
    // reserved_users says.
    EXPECT_EQ(settings.policy.reservedUsers,
              (std::set<std::string, std::less<>>{"admin", "parleyd-a", "parleyd-b"}));
}

TEST(BrokerPluginSettings, RefusesBadValuesNamingTheOption) {
    const auto failsWith = [](const jwtauth::PluginOptions& options, const std::string& part) {
        try {
            jwtauth::parseSettings(options);
            ADD_FAILURE() << "accepted, expected: " << part;
        } catch (const std::runtime_error& error) {
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
        }
    };
    for (const char* prefix : {"", "/parley/v1", "parley/v1/", "parley/+", "parley/#", "$parley"}) {
        failsWith({{"topic_prefix", prefix}}, "plugin_opt_topic_prefix");
    }
    failsWith({{"service_users", ""}}, "plugin_opt_service_users needs parleyd's account");
    failsWith({{"service_users", " , "}}, "plugin_opt_service_users needs parleyd's account");
    failsWith({{"service_users", "parleyd,a+b"}}, "'a+b' is not a user name");
    failsWith({{"publish_rate", "-1"}}, "plugin_opt_publish_rate");
    failsWith({{"publish_rate", "fast"}}, "plugin_opt_publish_rate");
    failsWith({{"publish_burst", "0"}}, "plugin_opt_publish_burst");
    failsWith({{"publish_disconnect_after", "10s"}}, "plugin_opt_publish_disconnect_after");
    failsWith({{"publish_limit", "10"}}, "unknown option plugin_opt_publish_limit");
}

}  // namespace
}  // namespace parley::testing
