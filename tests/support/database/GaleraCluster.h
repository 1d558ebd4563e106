#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "MariaDbServer.h"
#include "MysqlConfigFor.h"
#include "store/StoreConfig.h"

namespace parley::testing {

// A MariaDB Galera cluster for one test: `nodes` mariadbd processes (each a MariaDbServer, in
// its own temporary folder) on 127.0.0.1, with free ports for SQL, Galera's group communication
// (gmcast) and incremental state transfer (IST), and rsync for full state transfer (SST).
// The first node bootstraps the cluster (--wsrep-new-cluster) and creates the accounts; the
// others join it and get everything by SST. Returns once every node is Synced in a cluster of
// `nodes`. Stops every node when it goes away.
class GaleraCluster {
  public:
    explicit GaleraCluster(int nodes = 3);
    ~GaleraCluster();
    GaleraCluster(const GaleraCluster&) = delete;
    GaleraCluster& operator=(const GaleraCluster&) = delete;

    size_t size() const { return nodes_.size(); }
    MariaDbServer& node(size_t index) { return *nodes_.at(index); }
    std::string user() const { return "parley"; }
    std::string password() const { return password_; }
    // Creates a fresh empty database (through node 0; Galera replicates it) and returns its name.
    std::string createDatabase();
    // What a MysqlStore needs to reach `database`: store.mysql.hosts lists every node, starting
    // with node `first` (parleyd writes through the first that answers).
    MysqlConfig clientConfig(const std::string& database, size_t first = 0) const;
    // A connection config for node `index` alone (for checks).
    MysqlConfig nodeConfig(const std::string& database, size_t index) const;
    // A global status variable of node `index` (e.g. wsrep_cluster_size); "" if it has none.
    std::string status(size_t index, const std::string& variable) const;
    // Waits until every running node is Synced in a primary component of `size` nodes; throws
    // with the nodes' logs after `timeout`.
    void waitUntilSynced(size_t size, std::chrono::seconds timeout = std::chrono::seconds(120));
    // Each node's error log, one after the other (for failure messages).
    std::string logs() const;

  private:
    std::string password_;
    std::vector<std::unique_ptr<MariaDbServer>> nodes_;
};

}  // namespace parley::testing
