// Parley's promise under faults: what parleyd acknowledged is never lost, nothing is stored
// twice, seq stays gapless per conversation. Three parleyd on one shared subscription of one
// Mosquitto and one MariaDB, under a steady load of real clients (ChatLoad) that resend
// unanswered messages with their cmid; each test injects one fault and ends with the full checks.
// Each runs as its own ctest entry (see CMakeLists.txt), so each has its own MariaDB.

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "ChatLoad.h"
#include "ClusterLoadSteps.h"
#include "HttpProbe.h"
#include "MysqlConfigFor.h"
#include "ParleydCluster.h"
#include "Stack.h"
#include "store/MysqlConnection.h"
#include "store/SqlStore.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

// Stops the load, lets it drain, and runs every check (through MQTT and in the database).
void expectPromisesKept(ChatLoad& load, ParleydCluster& cluster, const char* name) {
    auto database = cluster.openDatabase();
    testing::expectPromisesKept(load, cluster, name, *database);
}

size_t occurrences(const std::string& text, const std::string& what) {
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++count;
    }
    return count;
}

// True once the instance's log shows a lost connection followed by a new subscription.
bool resubscribedAfterLastLoss(ParleydProcess& instance, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::string log = instance.log();
        const size_t lost = log.rfind("transport: connection lost");
        if (lost != std::string::npos &&
            log.find("transport: subscribed to", lost) != std::string::npos) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(100ms);
    }
}

ParleydCluster::Options clusterOptions() {
    ParleydCluster::Options options;
    options.instances = 3;
    options.users = 30;
    return options;
}

TEST(ScaleOut, ThreeInstancesSeveralThousandMessages) {
    ParleydCluster cluster(sharedMariaDb(), clusterOptions());
    auto options = loadOn(cluster, 2000);  // more than it sustains: as fast as replies come
    options.maxMessages = 4000;
    ChatLoad load(options);
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    ASSERT_TRUE(load.waitForAcknowledged(options.maxMessages, 120s))
        << load.acknowledged() << " of " << options.maxMessages << " acknowledged\n"
        << tail(cluster.logs());
    expectPromisesKept(load, cluster, "scale-out");
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
    }
}

TEST(Faults, KillNineOneOfThreeThenRestartIt) {
    ParleydCluster cluster(sharedMariaDb(), clusterOptions());
    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 300, "before the kill");
    cluster.instance(0).kill9();
    // The two others carry on; what the broker had handed to the dead one is resent by clients.
    expectProgress(load, cluster, 300, "with one instance killed");
    const std::string toKilled = "Sending PUBLISH to parleyd-cluster-1 ";
    const size_t beforeRestart = occurrences(cluster.broker().log(), toKilled);
    cluster.instance(0).start();
    expectProgress(load, cluster, 300, "after the restart");
    // Informational: what the broker kept assigning to the dead instance's session (Mosquitto
    // 2.0.11 round-robins over offline members too) and handed over when it came back.
    std::cout << "[kill -9] the broker delivered "
              << occurrences(cluster.broker().log(), toKilled) - beforeRestart
              << " commands to the restarted instance" << std::endl;
    expectPromisesKept(load, cluster, "kill -9");
    EXPECT_EQ(occurrences(cluster.instance(0).log(), "parleyd ready"), 2u);
}

TEST(Faults, BrokerRestartsMidLoad) {
    ParleydCluster cluster(sharedMariaDb(), clusterOptions());
    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 300, "before the broker restart");
    cluster.broker().restart();  // no persistence: sessions and queued messages are gone
    expectProgress(load, cluster, 300, "after the broker restart");
    cluster.broker().kill9();  // and once more, as a crash: nothing said goodbye
    cluster.broker().start();
    expectProgress(load, cluster, 300, "after the broker crash");
    expectPromisesKept(load, cluster, "broker restart");
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
        // Each instance noticed the broker go and subscribed again after its last loss. How many
        // times it reconnected depends on where its backoff fell: the two restarts can both land
        // in one wait (in one CI run an instance was away 8 s and came back once), so only the
        // last reconnect is certain.
        EXPECT_TRUE(resubscribedAfterLastLoss(cluster.instance(i), 15s))
            << cluster.instance(i).log();
    }
}

TEST(Faults, MariaDbStopsForSecondsThenStartsAgain) {
    auto options = clusterOptions();
    options.retryForMs = 2000;  // some commands wait it out, some are answered "unavailable"
    ParleydCluster cluster(sharedMariaDb(), options);
    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 300, "before MariaDB stops");
    cluster.mariaDb().stop();
    const size_t duringOutage = load.acknowledged();
    std::this_thread::sleep_for(4s);  // the outage itself, not a wait for something
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
    }
    // Nothing can be stored, so nothing may be acknowledged (a few replies may still be on the
    // wire from commits just before the stop).
    EXPECT_LE(load.acknowledged(), duringOutage + 3 * 30u);
    cluster.mariaDb().start();
    expectProgress(load, cluster, 300, "after MariaDB is back");
    expectPromisesKept(load, cluster, "MariaDB stop/start");
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
    }
}

TEST(Faults, MariaDbCrashesAndRecovers) {
    auto options = clusterOptions();
    options.retryForMs = 2000;
    ParleydCluster cluster(sharedMariaDb(), options);
    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 300, "before MariaDB crashes");
    // kill -9: transactions in flight, some of them in COMMIT, end with an unknown outcome for
    // parleyd; InnoDB recovers what was durable. A resend must find those by their cmid.
    cluster.mariaDb().kill9();
    std::this_thread::sleep_for(2s);  // the outage itself
    cluster.mariaDb().start();
    expectProgress(load, cluster, 300, "after MariaDB recovered");
    expectPromisesKept(load, cluster, "MariaDB kill -9");
    for (size_t i = 0; i < cluster.size(); ++i) {
        EXPECT_TRUE(cluster.instance(i).running()) << "parleyd " << i + 1 << " died";
    }
}

TEST(Faults, ParleydStartedWhileMariaDbIsDownWaitsForIt) {
    auto options = clusterOptions();
    options.instances = 2;
    options.retryForMs = 1000;  // each start attempt gives up quickly: the wait is parleyd's
    ParleydCluster cluster(sharedMariaDb(), options);
    cluster.instance(1).stop();
    cluster.mariaDb().stop();
    cluster.instance(1).launch();
    std::this_thread::sleep_for(3s);  // longer than retry_for: it would have exited by now
    EXPECT_TRUE(cluster.instance(1).running()) << cluster.instance(1).log();
    // While it waits, its operations endpoint says alive but not ready, and why.
    const int port = cluster.instance(1).httpPort();
    ASSERT_GT(port, 0) << cluster.instance(1).log();
    EXPECT_EQ(httpGet(port, "/healthz").status, 200);
    const auto waiting = httpGet(port, "/readyz");
    EXPECT_EQ(waiting.status, 503) << waiting.body;
    EXPECT_NE(waiting.body.find("\"broker\":\"disconnected\""), std::string::npos) << waiting.body;
    EXPECT_EQ(waiting.body.find("\"database\":\"ok\""), std::string::npos) << waiting.body;
    cluster.mariaDb().start();
    cluster.instance(1).waitUntilReady(60s);
    EXPECT_NE(cluster.instance(1).log().find("database unreachable at start"), std::string::npos);

    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 200, "after MariaDB came up");
    expectPromisesKept(load, cluster, "parleyd started before MariaDB");
}

TEST(Faults, ClientsDropMidSendAndReconnect) {
    ParleydCluster cluster(sharedMariaDb(), clusterOptions());
    ChatLoad load(loadOn(cluster, 150));
    startLoad(load, cluster);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    expectProgress(load, cluster, 200, "before the drops");
    int midSend = 0;
    for (size_t drop = 0; drop < 12; ++drop) {
        midSend += load.dropConnection((drop * 7) % load.users()) ? 1 : 0;
        if (drop % 4 == 3) {
            expectProgress(load, cluster, 50, "between drops");
        }
    }
    expectProgress(load, cluster, 200, "after the drops");
    expectPromisesKept(load, cluster, "client drops");
    EXPECT_GT(midSend, 0) << "no drop happened with a msg.send waiting for its reply";
    std::cout << "[client drops] " << midSend << " of 12 drops with a msg.send in flight"
              << std::endl;
}

// A connection that dies during COMMIT leaves the outcome unknown: the store runs the
// transaction again on a new connection. If the first COMMIT did land, the retry must find the
// message by its cmid and answer with it, not store it twice.
class CommitFault : public store::SqlConnection {
  public:
    enum class Mode { None, LoseAfterCommit, LoseBeforeCommit };
    CommitFault(std::unique_ptr<store::SqlConnection> inner, std::atomic<Mode>& mode)
        : inner_(std::move(inner)), mode_(mode) {}

    void beginRead() override { inner_->beginRead(); }
    void beginWrite() override { inner_->beginWrite(); }
    void commit() override {
        const Mode mode = mode_.exchange(Mode::None);
        if (mode == Mode::LoseBeforeCommit) {
            inner_->rollback();
            throw store::SqlError(store::SqlError::Kind::ConnectionLost,
                                  "test: connection lost before COMMIT reached the server");
        }
        inner_->commit();
        if (mode == Mode::LoseAfterCommit) {
            throw store::SqlError(store::SqlError::Kind::ConnectionLost,
                                  "test: connection lost before the COMMIT's answer");
        }
    }
    void rollback() override { inner_->rollback(); }
    int64_t execute(std::string_view sql, const store::SqlParams& params) override {
        return inner_->execute(sql, params);
    }
    std::vector<store::SqlRow> query(std::string_view sql,
                                     const store::SqlParams& params) override {
        return inner_->query(sql, params);
    }
    void executeScript(std::string_view script) override { inner_->executeScript(script); }

  private:
    std::unique_ptr<store::SqlConnection> inner_;
    std::atomic<Mode>& mode_;
};

TEST(StoreFaults, CommitWithUnknownOutcomeIsNotStoredTwice) {
    auto& server = sharedMariaDb();
    const MysqlConfig config = mysqlConfigFor(server, server.createDatabase());
    const std::string password = server.password();
    std::atomic<CommitFault::Mode> mode{CommitFault::Mode::None};
    store::SqlStore store(
        store::mysqlDialect(),
        [&] {
            return std::make_unique<CommitFault>(
                std::make_unique<store::MysqlConnection>(config, password), mode);
        },
        2, 1, 10000);
    store.migrate();
    const auto group = store.createGroup("ann", {"ann", "bob"}, std::nullopt, "g-commit", 1);

    mode = CommitFault::Mode::LoseAfterCommit;
    const auto first = store.appendMessage({group.id, "ann", "cmid-1", "one", std::nullopt, 2});
    EXPECT_EQ(first.access, store::Access::Member);
    // The retry finds the row its own first attempt committed: that is this message, stored now,
    // not a resend (a resend's reply says dup, and after-store hooks skip it).
    EXPECT_FALSE(first.duplicate);
    ASSERT_EQ(first.unreadTotals.size(), 1U);
    EXPECT_EQ(first.unreadTotals[0].uid, "bob");
    EXPECT_EQ(first.unreadTotals[0].unread, 1);
    EXPECT_EQ(first.message.seq, 1);
    EXPECT_EQ(first.message.cmid, "cmid-1");

    // The client never got that answer and resends: the same seq, nothing new stored.
    const auto resend = store.appendMessage({group.id, "ann", "cmid-1", "one", std::nullopt, 3});
    EXPECT_TRUE(resend.duplicate);
    EXPECT_EQ(resend.message.seq, 1);

    mode = CommitFault::Mode::LoseBeforeCommit;
    const auto second = store.appendMessage({group.id, "bob", "cmid-2", "two", std::nullopt, 4});
    EXPECT_FALSE(second.duplicate);
    EXPECT_EQ(second.message.seq, 2);

    const auto page = store.history({group.id, std::nullopt, std::nullopt, 50});
    ASSERT_EQ(page.messages.size(), 2u);
    EXPECT_EQ(page.messages[0].cmid, "cmid-1");
    EXPECT_EQ(page.messages[1].cmid, "cmid-2");
    EXPECT_EQ(store.conversation(group.id)->lastSeq, 2);
    EXPECT_EQ(mode.load(), CommitFault::Mode::None) << "the fault was never injected";
}

}  // namespace
}  // namespace parley::testing
