#include "store/MysqlStore.h"

#include "store/HostFailover.h"
#include "store/MysqlConnection.h"

namespace parley::store {

namespace {
ConnectionPool::Factory connectionFactory(const MysqlConfig& config, std::string password) {
    if (config.hosts.empty()) {
        return [config, password = std::move(password)] {
            return std::make_unique<MysqlConnection>(config, password);
        };
    }
    auto failover = std::make_shared<HostFailover>(
        config.hosts, [config, password = std::move(password)](const MysqlHost& host) {
            MysqlConfig one = config;
            one.host = host.host;
            one.port = host.port;
            return std::make_unique<MysqlConnection>(one, password);
        });
    return [failover] { return failover->connect(); };
}
}  // namespace

MysqlStore::MysqlStore(const MysqlConfig& config, std::string password, int64_t retryForMs)
    : SqlStore(mysqlDialect(), connectionFactory(config, std::move(password)),
               static_cast<size_t>(config.poolSize), static_cast<size_t>(config.batchesInFlight),
               retryForMs) {}

}  // namespace parley::store
