#pragma once

#include <string>

#include "store/SqlStore.h"
#include "store/StoreConfig.h"

namespace parley::store {

// The embedded default: one SQLite file in WAL mode. One connection, so writes never contend;
// several parleyd processes must not share one SQLite file (use MySQL for that).
class SqliteStore final : public SqlStore {
  public:
    SqliteStore(const SqliteConfig& config, int64_t retryForMs);
};

// What keeps the database file at `config.path` from being opened for writing, without opening
// it (for --check-config): its folder missing or not writable (SQLite creates the file and its
// -wal and -shm beside it), or a file there that is not a writable SQLite database. Empty if
// none.
std::string sqlitePathProblem(const SqliteConfig& config);

}  // namespace parley::store
