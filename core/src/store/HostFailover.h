#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "store/SqlConnection.h"
#include "store/StoreConfig.h"

namespace parley::store {

// Opens connections to one server of a list at a time (store.mysql.hosts, the nodes of a Galera
// cluster): the current one while it answers, else the next ones in list order, which then
// becomes current. A connection that dies is discarded by the pool, and its replacement comes
// from here, so a dead node costs the transactions in flight one retry (store.retry_for) each.
// Staying on one node keeps concurrent writers on one node's row locks instead of Galera's
// certification at commit (docs/scaling.md); parleyd does not move back when an earlier node
// returns.
class HostFailover {
  public:
    // Opens a connection to one host; throws SqlError (ConnectionLost: try another host).
    using Connect = std::function<std::unique_ptr<SqlConnection>(const MysqlHost&)>;

    HostFailover(std::vector<MysqlHost> hosts, Connect connect);

    // A connection to the current host or, if it fails with a lost connection, to the first of
    // the others (in list order after it) that answers. Throws the error of a host that refused
    // for another reason (e.g. a wrong password) at once, and SqlError(ConnectionLost) naming
    // every host's failure when none answers.
    std::unique_ptr<SqlConnection> connect();
    // The host connections go to now.
    MysqlHost current() const;

  private:
    std::vector<MysqlHost> hosts_;
    Connect connect_;
    std::atomic<size_t> current_{0};
};

}  // namespace parley::store
