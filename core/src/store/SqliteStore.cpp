#include "store/SqliteStore.h"

#include "store/SqliteConnection.h"

namespace parley::store {

SqliteStore::SqliteStore(const SqliteConfig& config, int64_t retryForMs)
    : SqlStore(
          sqliteDialect(),
          [config] { return std::make_unique<SqliteConnection>(config.path, config.synchronous); },
          1, 1, retryForMs) {}

}  // namespace parley::store
