#pragma once

#include "config/Config.h"
#include "store/SqlStore.h"

namespace parley::store {

// The embedded default: one SQLite file in WAL mode. One connection, so writes never contend;
// several parleyd processes must not share one SQLite file (use MySQL for that).
class SqliteStore final : public SqlStore {
  public:
    SqliteStore(const SqliteConfig& config, int64_t retryForMs);
};

}  // namespace parley::store
