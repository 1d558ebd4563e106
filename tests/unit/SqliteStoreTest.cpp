#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "../store/StoreSuite.h"
#include "store/SqlDialect.h"
#include "store/SqliteBackup.h"
#include "store/SqliteConnection.h"
#include "store/SqliteStore.h"

namespace parley::testing {
namespace {

// Each test gets its own database file (a file, not :memory:, so two stores can share it).
std::function<std::unique_ptr<store::Store>()> freshSqliteDatabase() {
    static std::atomic<int> counter{0};
    const auto dir =
        std::filesystem::temp_directory_path() / ("parley-sqlite-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / ("test-" + std::to_string(counter++) + ".db");
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(path.string() + suffix);
    }
    SqliteConfig config;
    config.path = path.string();
    config.synchronous = "normal";
    return [config] { return std::make_unique<store::SqliteStore>(config, 10000); };
}

class TempFolderCleanup : public ::testing::Environment {
  public:
    void TearDown() override {
        std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("parley-sqlite-" + std::to_string(::getpid())));
    }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempFolderCleanup);

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite,
                         ::testing::Values(StoreBackend{"sqlite", freshSqliteDatabase}),
                         backendName);

TEST(SqliteStore, RefusesAnUnwritablePath) {
    SqliteConfig config;
    config.path = "/nonexistent-dir/parley.db";
    store::SqliteStore store(config, 0);
    EXPECT_THROW(store.migrate(), store::SqlError);
}

// A database that is down: every statement fails as a lost connection.
class DownConnection : public store::SqlConnection {
  public:
    void beginRead() override { down(); }
    void beginWrite() override { down(); }
    void commit() override { down(); }
    void rollback() override {}
    int64_t execute(std::string_view, const store::SqlParams&) override { down(); }
    std::vector<store::SqlRow> query(std::string_view, const store::SqlParams&) override { down(); }
    void executeScript(std::string_view) override { down(); }

  private:
    [[noreturn]] static void down() {
        throw store::SqlError(store::SqlError::Kind::ConnectionLost, "test: the database is down");
    }
};

// A message that waits behind another's failing batch is answered `unavailable` within
// retry_for of its arrival, not after a second whole retry_for (docs/operations.md).
TEST(SqlStoreUnavailable, AMessageWaitingBehindAFailingBatchGetsNoSecondWholeWait) {
    using Clock = std::chrono::steady_clock;
    constexpr int64_t kRetryForMs = 2000;
    store::SqlStore store(
        store::sqliteDialect(), [] { return std::make_unique<DownConnection>(); }, 1, 1,
        kRetryForMs);
    std::thread first([&] {
        EXPECT_THROW(store.appendMessage({"c1", "ann", "m1", "one", std::nullopt, 1}),
                     store::StoreUnavailable);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ann's batch is failing
    const auto started = Clock::now();
    EXPECT_THROW(store.appendMessage({"c2", "bob", "m2", "two", std::nullopt, 2}),
                 store::StoreUnavailable);
    const auto waited = Clock::now() - started;
    first.join();
    // Attempts back off 20 ms, doubling: ann's batch gives up at 1.26 s. Bob's then tries until
    // 2 s after he came (1.6 s of waiting); timed from its own start it tried until 2.5 s.
    EXPECT_LT(waited, std::chrono::milliseconds(kRetryForMs));
    std::cout << "[retry_for " << kRetryForMs << " ms] bob waited "
              << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms"
              << std::endl;
}

// Every byte of the database's files (the file itself, its write-ahead log), as one string.
std::string filesOf(const std::string& path) {
    std::string bytes;
    for (const char* suffix : {"", "-wal"}) {
        std::ifstream file(path + suffix, std::ios::binary);
        bytes.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    return bytes;
}

// The groups migration (the last one) on a database that has groups already: each group's
// creator is its admin, or its lowest uid when the creator is no longer in it; a 1:1 has none;
// every member still reads the whole history.
TEST(SqliteStoreMigration, ExistingGroupsGetAnAdminAndKeepTheirHistory) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("parley-migrate-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteConfig config;
    config.path = (dir / "parley.db").string();
    const auto& migrations = store::sqliteDialect().migrations;
    {
        store::SqliteConnection db(config.path, "normal");
        db.executeScript(
            "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at "
            "BIGINT NOT NULL)");
        for (size_t version = 1; version < migrations.size(); ++version) {
            db.executeScript(migrations[version - 1]);
            db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)",
                       {static_cast<int64_t>(version)});
        }
        for (const auto& [id, kind, creator] :
             {std::tuple{"g1", "group", "alice"}, std::tuple{"g2", "group", "zed"},
              std::tuple{"d1", "direct", "alice"}}) {
            db.execute(
                "INSERT INTO conversations (id, kind, created_by, created_at, last_seq, "
                "last_activity) VALUES (?, ?, ?, 1, 0, 1)",
                {id, kind, creator});
        }
        for (const auto& [conv, uid] :
             {std::pair{"g1", "bob"}, std::pair{"g1", "alice"}, std::pair{"g2", "carol"},
              std::pair{"g2", "bob"}, std::pair{"d1", "alice"}, std::pair{"d1", "bob"}}) {
            db.execute("INSERT INTO members (conv, uid, read_seq, joined_at) VALUES (?, ?, 0, 1)",
                       {conv, uid});
        }
    }
    store::SqliteStore store(config, 10000);
    EXPECT_EQ(store.migrate(), static_cast<int>(migrations.size()));
    store.appendMessage({"g1", "bob", "b1", "old enough", std::nullopt, 5});
    const auto adminsOf = [&](const std::string& conv) {
        std::vector<std::string> admins;
        const auto conversation = store.conversation(conv);
        for (const auto& member : conversation->members) {
            if (member.admin) {
                admins.push_back(member.uid);
            }
        }
        return admins;
    };
    EXPECT_EQ(adminsOf("g1"), (std::vector<std::string>{"alice"}));
    EXPECT_EQ(adminsOf("g2"), (std::vector<std::string>{"bob"})) << "its creator left";
    EXPECT_TRUE(adminsOf("d1").empty());
    store::HistoryQuery query{"g1", std::nullopt, std::nullopt, 10};
    query.reader = "alice";
    EXPECT_EQ(store.history(query).messages.size(), 1U);
    std::filesystem::remove_all(dir);
}

// admin.user.erase on SQLite overwrites the text in the files, not only in what queries answer:
// secure_delete zeroes the old row's bytes, and the log that still held them is emptied.
TEST(SqliteStoreErasure, ErasedTextIsGoneFromTheFiles) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("parley-erase-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteConfig config;
    config.path = (dir / "parley.db").string();
    auto store = std::make_unique<store::SqliteStore>(config, 10000);
    store->migrate();
    store->openDirect("alice", "bob", std::nullopt, "c1", 1);
    const std::string shortMarker = "short-SECRET-7f3a";
    std::string longMarker = "long-SECRET-";  // past one page: in overflow pages
    while (longMarker.size() < 12000) {
        longMarker += "0123456789abcdef";
    }
    const std::string metaMarker = "meta-SECRET-91c2";
    for (int i = 0; i < 300; ++i) {
        store->appendMessage({"c1", "bob", "b" + std::to_string(i), "filler " + std::to_string(i),
                              std::nullopt, 10 + i});
    }
    store->appendMessage({"c1", "alice", "a1", shortMarker, std::nullopt, 1000});
    store->appendMessage({"c1", "alice", "a2", longMarker, std::nullopt, 1001});
    store->appendMessage({"c1", "alice", "a3", "x", "{\"note\":\"" + metaMarker + "\"}", 1002});
    store->updateUser("alice", {std::string("Alice Secretname"), true, "alice@secret.example"}, 5);
    for (int i = 300; i < 600; ++i) {
        store->appendMessage({"c1", "bob", "b" + std::to_string(i), "filler " + std::to_string(i),
                              std::nullopt, 10 + i});
    }
    // The check can fail: before the erasure the files hold every marker.
    std::string before = filesOf(config.path);
    for (const auto& marker : {shortMarker, longMarker.substr(0, 200), metaMarker,
                               std::string("Secretname"), std::string("alice@secret.example")}) {
        ASSERT_NE(before.find(marker), std::string::npos) << marker;
    }

    const auto erasure = store->eraseUser("alice", 2000);
    EXPECT_EQ(erasure.messages, 3);
    const std::string after = filesOf(config.path);
    EXPECT_LT(std::filesystem::file_size(config.path + "-wal"), 4096U) << "the log was emptied";
    for (const auto& marker : {shortMarker, std::string("long-SECRET-"), metaMarker,
                               std::string("Secretname"), std::string("alice@secret.example")}) {
        EXPECT_EQ(after.find(marker), std::string::npos) << marker << " is still in the files";
    }
    EXPECT_NE(after.find("filler 599"), std::string::npos) << "others' messages are kept";
    EXPECT_EQ(store->history({"c1", {}, 0, 100}).messages.size(), 100U);
    store.reset();
    std::filesystem::remove_all(dir);
}

// msg.delete leaves a message's words in FTS5's older index segments (a delete only adds a
// marker) until the index is rewritten: the purge (docs/design.md, "Search") is what takes them
// out of the files.
TEST(SqliteStoreErasure, DeletedWordsLeaveTheIndexFilesWhenPurged) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("parley-purge-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteConfig config;
    config.path = (dir / "parley.db").string();
    auto store = std::make_unique<store::SqliteStore>(config, 10000);
    store->migrate();
    store->openDirect("alice", "bob", std::nullopt, "c1", 1);
    for (int i = 0; i < 300; ++i) {
        store->appendMessage({"c1", "bob", "b" + std::to_string(i),
                              "filler keepmeword " + std::to_string(i), std::nullopt, 10 + i});
    }
    store->appendMessage({"c1", "alice", "a1", "zanzibarquokka", std::nullopt, 1000});
    store->deleteMessage("c1", 301, "alice", false, 2000);
    ASSERT_EQ(store->message("c1", 301)->body, "") << "the row holds the text no more";
    // The check can fail: before the purge the index's segments still hold the word.
    ASSERT_NE(filesOf(config.path).find("zanzibarquokka"), std::string::npos);

    ASSERT_TRUE(store->purgeSearchIndex(2000));
    const std::string after = filesOf(config.path);
    EXPECT_EQ(after.find("quokka"), std::string::npos) << "the word is still in the files";
    EXPECT_NE(after.find("keepmeword"), std::string::npos) << "the rest of the index is kept";
    EXPECT_EQ(store->searchMessages({"bob", {"keepmeword"}, std::nullopt, std::nullopt, 500})
                  .messages.size(),
              300U);
    store.reset();
    std::filesystem::remove_all(dir);
}

// parleyd --backup's copy, taken while another thread keeps storing: one snapshot (every message
// stored before it began, each conversation's seqs gapless up to its last_seq), a file that is
// complete under its final name, and refusals that change nothing.
TEST(SqliteBackup, CopiesOneConsistentSnapshotWhileWritesGoOn) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("parley-backup-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteConfig config;
    config.path = (dir / "parley.db").string();
    store::SqliteStore live(config, 10000);
    live.migrate();
    for (int c = 0; c < 4; ++c) {
        live.createGroup("u0", {"u0", "u1"}, std::nullopt, "g" + std::to_string(c), 1);
    }
    std::atomic<int> stored{0};
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; !stop; ++i) {
            live.appendMessage({"g" + std::to_string(i % 4), "u" + std::to_string(i % 2),
                                "m" + std::to_string(i), std::string(500, 'x'), std::nullopt, i});
            ++stored;
        }
    });
    while (stored < 2000) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int storedBefore = stored;
    const std::string destination = (dir / "backup.db").string();
    const auto summary = store::backupSqlite(config.path, destination);
    const int storedAfter = stored;
    stop = true;
    writer.join();

    EXPECT_GE(summary.messages, storedBefore);
    EXPECT_LE(summary.messages, storedAfter);
    EXPECT_EQ(summary.conversations, 4);
    EXPECT_EQ(summary.schemaVersion,
              static_cast<int64_t>(store::sqliteDialect().migrations.size()));
    EXPECT_EQ(summary.bytes, static_cast<int64_t>(std::filesystem::file_size(destination)));
    EXPECT_FALSE(std::filesystem::exists(destination + ".partial"));
    EXPECT_FALSE(std::filesystem::exists(destination + "-wal")) << "one file";

    SqliteConfig copyConfig;
    copyConfig.path = destination;
    store::SqliteStore copy(copyConfig, 10000);
    copy.migrate();
    int64_t total = 0;
    for (int c = 0; c < 4; ++c) {
        const std::string conv = "g" + std::to_string(c);
        const auto record = copy.conversation(conv);
        ASSERT_TRUE(record.has_value());
        int64_t expected = 1;
        for (std::optional<int64_t> after = 0;;) {
            const auto page = copy.history({conv, {}, after, 100});
            for (const auto& message : page.messages) {
                EXPECT_EQ(message.seq, expected++) << conv;
            }
            if (!page.hasMore) {
                break;
            }
            after = page.messages.back().seq;
        }
        EXPECT_EQ(record->lastSeq, expected - 1) << conv << ": last_seq matches its messages";
        total += record->lastSeq;
    }
    EXPECT_EQ(total, summary.messages);

    EXPECT_THROW(store::backupSqlite(config.path, destination), store::BackupError)
        << "never overwrites";
    EXPECT_EQ(std::filesystem::file_size(destination), static_cast<uintmax_t>(summary.bytes));
    EXPECT_THROW(store::backupSqlite((dir / "missing.db").string(), (dir / "b2.db").string()),
                 store::BackupError);
    EXPECT_FALSE(std::filesystem::exists(dir / "missing.db")) << "no empty database created";
    EXPECT_FALSE(std::filesystem::exists(dir / "b2.db"));
    EXPECT_FALSE(std::filesystem::exists(dir / "b2.db.partial"));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::testing
