#include "store/HostFailover.h"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

namespace parley::store {

namespace {
std::string nameOf(const MysqlHost& host) {
    return host.host + ":" + std::to_string(host.port);
}
}  // namespace

HostFailover::HostFailover(std::vector<MysqlHost> hosts, Connect connect)
    : hosts_(std::move(hosts)), connect_(std::move(connect)) {
    if (hosts_.empty()) {
        throw std::invalid_argument("HostFailover: no hosts");
    }
}

MysqlHost HostFailover::current() const {
    return hosts_[current_.load()];
}

std::unique_ptr<SqlConnection> HostFailover::connect() {
    size_t start = current_.load();
    std::string failures;
    for (size_t i = 0; i < hosts_.size(); ++i) {
        const size_t index = (start + i) % hosts_.size();
        const MysqlHost& host = hosts_[index];
        try {
            auto connection = connect_(host);
            // Another thread may have moved on already; the first to succeed decides.
            if (index != start && current_.compare_exchange_strong(start, index)) {
                spdlog::warn("store: now writing through {} ({})", nameOf(host), failures);
            }
            return connection;
        } catch (const SqlError& error) {
            if (error.kind() != SqlError::Kind::ConnectionLost) {
                throw;
            }
            failures += (failures.empty() ? "" : "; ") + nameOf(host) + ": " + error.what();
        }
    }
    throw SqlError(SqlError::Kind::ConnectionLost,
                   "no server of store.mysql.hosts answers: " + failures);
}

}  // namespace parley::store
