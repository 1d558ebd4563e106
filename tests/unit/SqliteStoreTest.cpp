#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "../store/StoreSuite.h"
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

}  // namespace
}  // namespace parley::testing
