#include "store/MysqlStore.h"

#include "store/MysqlConnection.h"

namespace parley::store {

MysqlStore::MysqlStore(const MysqlConfig& config, std::string password, int64_t retryForMs)
    : SqlStore(
          mysqlDialect(),
          [config, password = std::move(password)] {
              return std::make_unique<MysqlConnection>(config, password);
          },
          static_cast<size_t>(config.poolSize), static_cast<size_t>(config.batchesInFlight),
          retryForMs) {}

}  // namespace parley::store
