#pragma once

#include "store/SqlStore.h"
#include "store/StoreConfig.h"

namespace parley::store {

// MySQL or MariaDB through MySQL Connector/C++, with a pool of `pool_size` connections.
class MysqlStore final : public SqlStore {
  public:
    MysqlStore(const MysqlConfig& config, std::string password, int64_t retryForMs);
};

}  // namespace parley::store
