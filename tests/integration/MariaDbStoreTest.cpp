// The store suite (tests/store) against a real MariaDB through MySQL Connector/C++.

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>
#include <set>
#include <sstream>
#include <stop_token>
#include <thread>

#include "../store/StoreSuite.h"
#include "MysqlConfigFor.h"
#include "Stack.h"
#include "store/MysqlStore.h"

namespace parley::testing {
namespace {

// Stores `count` messages in conversation 'bulk' (which nobody reads) and indexes them, straight
// into the tables: an index large enough that rebuilding it takes many batches.
void storeBulkMessages(MariaDbServer& server, const std::string& database, int count) {
    const std::string bulk =
        "USE `" + database + "`; SET SESSION max_recursive_iterations = 1000000; ";
    server.runAsRoot(bulk +
                     "INSERT INTO messages (conv, seq, sender, cmid, body, ts) WITH RECURSIVE "
                     "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                     std::to_string(count) +
                     ") SELECT 'bulk', i, 'bob', CONCAT('f', i), CONCAT('filler w', i % 997, "
                     "' x', i % 5003, ' n', i), 1002 FROM n");
    server.runAsRoot(bulk +
                     "INSERT INTO search_docs (conv, seq, body) SELECT conv, seq, body FROM "
                     "messages WHERE conv = 'bulk' ORDER BY seq");
}

// A migrated store with a purge of the search index due: in 'c1' a message that stays ("the who
// sang") and a deleted one ("delete this zebra", deleted at 4000), and `count` bulk documents.
void storeADuePurge(store::MysqlStore& store, MariaDbServer& server, const std::string& database,
                    int count) {
    store.migrate();
    store.openDirect("alice", "bob", std::nullopt, "c1", 100);
    store.appendMessage({"c1", "alice", "a1", "the who sang", {}, 1000});
    store.appendMessage({"c1", "alice", "a2", "delete this zebra", {}, 1001});
    storeBulkMessages(server, database, count);
    ASSERT_EQ(store.deleteMessage("c1", 2, "alice", false, 4000).outcome,
              store::ChangeOutcome::Changed);
}

// The tables a rebuild of the search index leaves while it runs (search_docs_next before its
// rename, search_docs_old after): none once it finished.
int rebuildTables(const MariaDbServer& server, const std::string& database) {
    return std::stoi(server.queryAsRoot(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" + database +
        "' AND TABLE_NAME IN ('search_docs_next', 'search_docs_old')"));
}

// Waits until a rebuild of the search index has committed its first batches into its copy.
void awaitRebuildUnderWay(const MariaDbServer& server, const std::string& database) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (true) {
        const bool copying =
            rebuildTables(server, database) > 0 &&
            std::stoi(server.queryAsRoot(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" + database +
                "' AND TABLE_NAME = 'search_docs_next'")) > 0 &&
            std::stoi(
                server.queryAsRoot("SELECT COUNT(*) FROM `" + database + "`.search_docs_next")) > 0;
        if (copying) {
            return;
        }
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the rebuild never began";
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// The search results' cmids, newest first, every page.
std::vector<std::string> searchCmids(store::Store& store, const std::string& reader,
                                     std::vector<std::string> terms) {
    store::SearchQuery query;
    query.reader = reader;
    query.terms = std::move(terms);
    query.limit = 50;
    std::vector<std::string> cmids;
    for (bool more = true; more;) {
        const auto page = store.searchMessages(query);
        for (const auto& message : page.messages) {
            cmids.push_back(message.cmid);
        }
        more = page.hasMore;
        query.before = page.nextBefore;
    }
    return cmids;
}

std::function<std::unique_ptr<store::Store>()> freshMariaDbDatabase() {
    auto& server = sharedMariaDb();
    MysqlConfig config = mysqlConfigFor(server, server.createDatabase());
    config.poolSize = 4;
    // Two batches of messages at once, so the concurrent cases below also cover batches that
    // overlap (row locks in id order); the end-to-end tests run the default of one.
    config.batchesInFlight = 2;
    const std::string password = server.password();
    return
        [config, password] { return std::make_unique<store::MysqlStore>(config, password, 10000); };
}

INSTANTIATE_TEST_SUITE_P(MariaDb, StoreSuite,
                         ::testing::Values(StoreBackend{"mariadb", freshMariaDbDatabase}),
                         backendName);

TEST(MysqlStore, UnreachableServerIsUnavailableNotFatal) {
    MysqlConfig config;
    config.host = "127.0.0.1";
    config.port = 1;  // nothing listens there
    config.connectTimeoutSeconds = 1;
    store::MysqlStore store(config, "x", 300);
    EXPECT_THROW(store.migrate(), store::StoreUnavailable);
}

TEST(MysqlStore, ReachesTheServerThroughItsUnixSocket) {
    auto& server = sharedMariaDb();
    MysqlConfig config = mysqlConfigFor(server, server.createDatabase());
    config.port = 1;  // nothing listens there: with a socket set, host and port are not used
    config.socket = server.socketPath();
    config.connectTimeoutSeconds = 1;
    store::MysqlStore store(config, server.password(), 10000);
    EXPECT_GE(store.migrate(), 1);
    store.openDirect("alice", "bob", std::nullopt, "c1", 100);
    const auto stored = store.appendMessage({"c1", "alice", "m1", "through the socket", {}, 1000});
    ASSERT_EQ(stored.access, store::Access::Member);
    EXPECT_EQ(stored.message.seq, 1);
    const auto found = store.findByCmid("alice", "m1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->body, "through the socket");
}

TEST(MysqlStore, WrongPasswordIsAnErrorNotARetry) {
    auto& server = sharedMariaDb();
    store::MysqlStore store(mysqlConfigFor(server, server.createDatabase()), "wrong-password",
                            10000);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(store.migrate(), store::SqlError);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5))
        << "refused credentials are not retried for the whole retry window";
}

// The purge that rewrites the search index (docs/design.md, "Search"), on a table large enough
// that rewriting it in one statement takes seconds: every statement the purge issues must finish
// within store.mysql.io_timeout, here 2 s (OPTIMIZE TABLE took about 3 s for 200,000 rows on an
// idle development machine, 73 s for a million, and failed this test at 1 s for 200,000).
// Checked against the index's own files (information_schema, as root): the deleted message's
// words are gone.
TEST(MysqlStore, SearchPurgeOfALargeIndexStaysWithinTheIoTimeoutAndDropsDeletedWords) {
    auto& server = sharedMariaDb();
    const std::string database = server.createDatabase();
    MysqlConfig config = mysqlConfigFor(server, database);
    config.ioTimeoutSeconds = 2;
    store::MysqlStore store(config, server.password(), 10000);
    // 300,000 more documents, in a conversation nobody reads, straight into the tables.
    ASSERT_NO_FATAL_FAILURE(storeADuePurge(store, server, database, 300000));
    for (int i = 0; i < 5; ++i) {
        store.appendMessage({"c1", "bob", "e" + std::to_string(i), "early words", {}, 1003});
    }

    const std::string auxTable =
        "SET GLOBAL innodb_ft_aux_table = '" + database + "/search_docs'; ";
    const auto wordsInIndex = [&](const std::string& word) {
        return std::stoi(server.queryAsRoot(
            auxTable +
            "SELECT (SELECT COUNT(*) FROM information_schema.INNODB_FT_INDEX_TABLE WHERE word = '" +
            word + "') + (SELECT COUNT(*) FROM information_schema.INNODB_FT_INDEX_CACHE WHERE " +
            "word = '" + word + "')"));
    };
    ASSERT_GE(wordsInIndex("zebra"), 1) << "the deleted message's words are in the files yet";

    // Purged by another instance, as after a restart: none of its connections ran the
    // migrations, which turn the stopwords off for the session that makes the index.
    store::MysqlStore purger(config, server.password(), 10000);
    // Meanwhile messages are stored, edited and deleted: none waits for the purge, and the
    // index holds them as they are when it is done.
    std::atomic<bool> purging{true};
    std::set<std::string> kept;
    int deletedMeanwhile = 0;
    std::thread writer([&] {
        for (int i = 0; purging || i < 10; ++i) {
            const std::string cmid = "d" + std::to_string(i);
            const auto stored = store.appendMessage({"c1", "bob", cmid, "during", {}, 6000 + i});
            if (i < 5) {  // the early messages, copied into the new index before this
                store.editMessage({"c1", 3 + i, "bob", "rewritten", false, std::nullopt, 7000, 0});
            }
            if (i % 4 == 0) {
                store.deleteMessage("c1", stored.message.seq, "bob", false, 7000);
                ++deletedMeanwhile;
            } else {
                kept.insert(cmid);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    bool purged = false;
    EXPECT_NO_THROW(purged = purger.purgeSearchIndex(4000));
    purging = false;
    writer.join();
    EXPECT_TRUE(purged);
    EXPECT_EQ(wordsInIndex("zebra"), 0);
    EXPECT_GE(wordsInIndex("sang"), 1) << "what was not deleted is in the new files";
    // Only deletions made while it ran may wait for the next purge (which they made due).
    EXPECT_LE(std::stoi(server.queryAsRoot(
                  auxTable + "SELECT COUNT(*) FROM information_schema.INNODB_FT_DELETED")),
              deletedMeanwhile);
    EXPECT_EQ(server.queryAsRoot("SELECT COUNT(*) FROM `" + database +
                                 "`.search_docs WHERE conv = 'bulk'"),
              "300000\n");

    store::SearchQuery query;
    query.reader = "bob";
    query.terms = {"the", "who"};
    const auto found = store.searchMessages(query);
    ASSERT_EQ(found.messages.size(), 1U) << "the rewritten index has no stopwords either";
    EXPECT_EQ(found.messages[0].cmid, "a1");
    query.terms = {"early"};
    EXPECT_TRUE(store.searchMessages(query).messages.empty()) << "edited during the purge";
    query.terms = {"rewritten"};
    EXPECT_EQ(store.searchMessages(query).messages.size(), 5U);
    query.terms = {"during"};
    query.limit = 50;
    std::set<std::string> foundDuring;
    for (bool more = true; more;) {
        const auto page = store.searchMessages(query);
        for (const auto& message : page.messages) {
            EXPECT_TRUE(foundDuring.insert(message.cmid).second) << message.cmid << " twice";
        }
        more = page.hasMore;
        query.before = page.nextBefore;
    }
    EXPECT_EQ(foundDuring, kept) << "stored during the purge: found unless deleted";

    store.appendMessage({"c1", "bob", "b1", "the zebra after the purge", {}, 9000});
    query = {};
    query.reader = "bob";
    query.terms = {"zebra"};
    const auto after = store.searchMessages(query);
    ASSERT_EQ(after.messages.size(), 1U);
    EXPECT_EQ(after.messages[0].cmid, "b1");
}

// A purge's instance that died after renaming its copy into place left search_docs without
// the documents stored meanwhile (they are in search_docs_old): the next purge finishes it.
TEST(MysqlStore, SearchPurgeFinishesARebuildThatStoppedAfterItsRename) {
    auto& server = sharedMariaDb();
    const std::string database = server.createDatabase();
    store::MysqlStore store(mysqlConfigFor(server, database), server.password(), 10000);
    store.migrate();
    store.openDirect("alice", "bob", std::nullopt, "c1", 100);
    for (int i = 1; i <= 6; ++i) {
        store.appendMessage({"c1", "alice", "a" + std::to_string(i), "copied", {}, 1000 + i});
    }
    ASSERT_EQ(store.deleteMessage("c1", 6, "alice", false, 4000).outcome,
              store::ChangeOutcome::Changed);
    // As the stopped rebuild left it: the copy holds the first three documents and message 6
    // (copied before its deletion), not yet 4 and 5, and the old table holds stale text for 5.
    server.runAsRoot("USE `" + database +
                     "`; SET SESSION innodb_ft_enable_stopword = OFF; CREATE TABLE "
                     "search_docs_next LIKE search_docs; INSERT INTO search_docs_next SELECT * "
                     "FROM search_docs WHERE seq <= 3; INSERT INTO search_docs_next (docid, conv, "
                     "seq, body) VALUES (6, 'c1', 6, 'copied'); RENAME TABLE search_docs TO "
                     "search_docs_old, search_docs_next TO search_docs; UPDATE search_docs_old "
                     "SET body = 'stale' WHERE seq = 5; INSERT INTO search_purge (id, "
                     "pending_since) VALUES (2, UNIX_TIMESTAMP() - 1)");
    store::SearchQuery query;
    query.reader = "bob";
    query.terms = {"copied"};
    ASSERT_EQ(store.searchMessages(query).messages.size(), 3U);

    EXPECT_TRUE(store.purgeSearchIndex(4000)) << "the lease of the stopped rebuild ran out";
    const auto found = store.searchMessages(query);
    std::vector<std::string> cmids;
    for (const auto& message : found.messages) {
        cmids.push_back(message.cmid);
    }
    EXPECT_EQ(cmids, (std::vector<std::string>{"a5", "a4", "a3", "a2", "a1"}));
    query.terms = {"stale"};
    EXPECT_TRUE(store.searchMessages(query).messages.empty()) << "the messages' text wins";
    EXPECT_EQ(server.queryAsRoot("SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                 "TABLE_SCHEMA = '" +
                                 database + "' AND TABLE_NAME LIKE 'search\\_docs\\_%'"),
              "0\n");
    // The deleted document's words went into the copy: a purge is due again.
    EXPECT_TRUE(store.purgeSearchIndex(4000));
}

// The connection of a rebuild of the search index is lost part way (killed here; a restart of
// the database or store.mysql.io_timeout alike): the purge fails, and the broken connection is
// dropped, not handed back to the pool, whose next user (the purge giving its claim back, a
// /readyz probe) would fail on it. The purge is due again, and once the lost instance's lease
// has run out the next purge finishes the rebuild.
TEST(MysqlStore, SearchPurgeThatLosesItsConnectionLeavesNoBrokenConnectionInThePool) {
    auto& server = sharedMariaDb();
    const std::string database = server.createDatabase();
    MysqlConfig config = mysqlConfigFor(server, database);
    store::MysqlStore store(config, server.password(), 10000);
    ASSERT_NO_FATAL_FAILURE(storeADuePurge(store, server, database, 150000));

    // One connection, so that the purge's is the one every call after it gets.
    config.poolSize = 1;
    store::MysqlStore purger(config, server.password(), 10000);
    const auto connectionsOfTheDatabase = [&] {
        return server.queryAsRoot(
            "SELECT COALESCE(GROUP_CONCAT(ID ORDER BY ID), '') FROM "
            "information_schema.PROCESSLIST WHERE DB = '" +
            database + "'");
    };
    const std::string before = connectionsOfTheDatabase();
    purger.ping();
    std::string purgersConnection;
    {
        std::set<std::string> known;
        std::stringstream list(before);
        for (std::string id; std::getline(list, id, ',');) {
            known.insert(id.substr(0, id.find('\n')));
        }
        std::stringstream after(connectionsOfTheDatabase());
        for (std::string id; std::getline(after, id, ',');) {
            id = id.substr(0, id.find('\n'));
            if (!known.contains(id)) {
                purgersConnection = id;
            }
        }
    }
    ASSERT_FALSE(purgersConnection.empty());

    // Every warning the store logs from here on: a call that met a broken connection says so.
    auto captured = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200);
    const auto previousLogger = spdlog::default_logger();
    std::vector<spdlog::sink_ptr> sinks = previousLogger->sinks();
    sinks.push_back(captured);
    auto capturing = std::make_shared<spdlog::logger>("capturing", sinks.begin(), sinks.end());
    capturing->set_level(spdlog::level::info);
    spdlog::set_default_logger(capturing);
    struct RestoreLogger {
        std::shared_ptr<spdlog::logger> previous;
        ~RestoreLogger() { spdlog::set_default_logger(previous); }
    } restoreLogger{previousLogger};

    std::atomic<bool> failed{false};
    std::thread purging([&] {
        try {
            purger.purgeSearchIndex(4000);
        } catch (const std::exception&) {
            failed = true;
        }
    });
    awaitRebuildUnderWay(server, database);
    server.runAsRoot("KILL CONNECTION " + purgersConnection);
    purging.join();
    ASSERT_TRUE(failed) << "the purge lost its connection part way";

    EXPECT_NO_THROW(purger.ping()) << "the pool's next user gets a working connection";
    for (const auto& line : captured->last_formatted()) {
        EXPECT_EQ(line.find("attempt 1 failed"), std::string::npos)
            << "a call after the purge met its broken connection: " << line;
    }
    EXPECT_EQ(searchCmids(purger, "bob", {"sang"}), (std::vector<std::string>{"a1"}));

    // The lost connection's lease runs out in 5 minutes; here at once.
    server.runAsRoot("UPDATE `" + database +
                     "`.search_purge SET pending_since = UNIX_TIMESTAMP() - 1 WHERE id = 2");
    EXPECT_TRUE(purger.purgeSearchIndex(4000)) << "the purge was due again";
    EXPECT_EQ(rebuildTables(server, database), 0);
    EXPECT_TRUE(searchCmids(purger, "bob", {"zebra"}).empty());
    EXPECT_EQ(searchCmids(purger, "bob", {"sang"}), (std::vector<std::string>{"a1"}));
    EXPECT_EQ(server.queryAsRoot("SELECT COUNT(*) FROM `" + database +
                                 "`.search_docs WHERE conv = 'bulk'"),
              "150000\n");
}

// parleyd stopping during a rebuild of a large index: the rebuild returns between two batches,
// long before it would have finished, leaves the purge due and its lease free, and loses nothing;
// the next start (another store on the same database) finishes it.
TEST(MysqlStore, SearchPurgeStopsBetweenBatchesAndTheNextStartFinishesIt) {
    auto& server = sharedMariaDb();
    const std::string database = server.createDatabase();
    const MysqlConfig config = mysqlConfigFor(server, database);
    std::optional<store::MysqlStore> store;
    store.emplace(config, server.password(), 10000);
    ASSERT_NO_FATAL_FAILURE(storeADuePurge(*store, server, database, 150000));

    std::stop_source stopping;
    std::optional<bool> purged;
    std::thread sweeper([&] { purged = store->purgeSearchIndex(4000, stopping.get_token()); });
    awaitRebuildUnderWay(server, database);
    // Stored and acknowledged during the rebuild, before the stop.
    std::vector<std::string> during;
    for (int i = 0; i < 3; ++i) {
        const std::string cmid = "d" + std::to_string(i);
        ASSERT_EQ(store->appendMessage({"c1", "bob", cmid, "during", {}, 5000 + i}).access,
                  store::Access::Member);
        during.insert(during.begin(), cmid);
    }
    stopping.request_stop();
    sweeper.join();
    ASSERT_TRUE(purged.has_value());
    EXPECT_FALSE(*purged) << "stopped, not finished";
    EXPECT_EQ(rebuildTables(server, database), 1) << "the rebuild was left part way";
    EXPECT_EQ(server.queryAsRoot("SELECT COALESCE(pending_since, 'free') FROM `" + database +
                                 "`.search_purge WHERE id = 2"),
              "free\n")
        << "the lease is given back, so that the next start need not wait for it";
    EXPECT_EQ(server.queryAsRoot("SELECT pending_since FROM `" + database +
                                 "`.search_purge WHERE id = 1"),
              "4000\n")
        << "due again, as it was";
    EXPECT_EQ(searchCmids(*store, "bob", {"during"}), during) << "searchable meanwhile";
    EXPECT_TRUE(searchCmids(*store, "bob", {"zebra"}).empty());

    store.reset();  // the restart
    store::MysqlStore restarted(config, server.password(), 10000);
    EXPECT_TRUE(restarted.purgeSearchIndex(4000)) << "the next start finishes it";
    EXPECT_EQ(rebuildTables(server, database), 0);
    EXPECT_FALSE(restarted.purgeSearchIndex(4000)) << "finished: nothing due";
    EXPECT_EQ(searchCmids(restarted, "bob", {"during"}), during);
    EXPECT_EQ(searchCmids(restarted, "bob", {"sang"}), (std::vector<std::string>{"a1"}));
    EXPECT_TRUE(searchCmids(restarted, "bob", {"zebra"}).empty());
    EXPECT_EQ(server.queryAsRoot("SELECT COUNT(*) FROM `" + database +
                                 "`.search_docs WHERE conv = 'bulk'"),
              "150000\n");
    for (int i = 0; i < 3; ++i) {
        const auto found = restarted.findByCmid("bob", "d" + std::to_string(i));
        ASSERT_TRUE(found.has_value()) << "acknowledged during the rebuild";
        EXPECT_EQ(found->body, "during");
    }
}

// The same through parleyd: SIGTERM during the sweep's rebuild of a large index. parleyd exits
// with the rebuild left part way, and the next start's sweep finishes it.
TEST(MysqlStore, ParleydStoppedDuringASearchPurgeLeavesItForTheNextStart) {
    auto& server = sharedMariaDb();
    const std::string database = server.createDatabase();
    {
        store::MysqlStore store(mysqlConfigFor(server, database), server.password(), 10000);
        ASSERT_NO_FATAL_FAILURE(storeADuePurge(store, server, database, 150000));
    }
    MosquittoServer broker(std::vector<BrokerUser>{{"parleyd", "parleyd-secret"}});
    ParleydProcess parleyd(
        "broker: {uri: " + broker.uri() +
        ", client_id: parleyd-purge, username: parleyd, password: parleyd-secret}\n"
        "store:\n  backend: mysql\n  mysql: {host: 127.0.0.1, port: " +
        std::to_string(server.port()) + ", user: " + server.user() + ", password: '" +
        server.password() + "', database: " + database +
        "}\n"
        "presence: {sweep_interval: 100ms}\n"
        "search: {purge_after: 0s}\n"
        "log: {level: info}\n");
    awaitRebuildUnderWay(server, database);
    parleyd.stop();
    EXPECT_EQ(rebuildTables(server, database), 1) << "stopped with the rebuild left part way";
    EXPECT_NE(parleyd.log().find("search: rebuilding the index stopped"), std::string::npos);
    EXPECT_EQ(parleyd.log().find("search: purged deleted messages' words"), std::string::npos);
    EXPECT_EQ(server.queryAsRoot("SELECT pending_since FROM `" + database +
                                 "`.search_purge WHERE id = 1"),
              "4000\n")
        << "still due";

    parleyd.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (parleyd.log().find("search: purged deleted messages' words") == std::string::npos) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the next start never purged";
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(rebuildTables(server, database), 0);
    store::MysqlStore store(mysqlConfigFor(server, database), server.password(), 10000);
    EXPECT_EQ(searchCmids(store, "bob", {"sang"}), (std::vector<std::string>{"a1"}));
    EXPECT_TRUE(searchCmids(store, "bob", {"zebra"}).empty());
    EXPECT_EQ(server.queryAsRoot("SELECT COUNT(*) FROM `" + database +
                                 "`.search_docs WHERE conv = 'bulk'"),
              "150000\n");
}

}  // namespace
}  // namespace parley::testing
