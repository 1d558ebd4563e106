#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "../store/StoreSuite.h"
#include "store/SqlDialect.h"
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

}  // namespace
}  // namespace parley::testing
