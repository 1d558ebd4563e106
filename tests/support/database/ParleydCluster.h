#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ChatLoad.h"
#include "GaleraCluster.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "ParleydProcess.h"
#include "store/SqlConnection.h"

namespace parley::testing {

// Several parleyd on one shared subscription of one Mosquitto, all on one fresh database of
// `database` (a MariaDB the caller owns, e.g. sharedMariaDb()), with `users` fresh broker users
// (c1, c2, ...; passwords from loadUsers()).
class ParleydCluster {
  public:
    struct Options {
        int instances = 3;
        int users = 30;
        int64_t retryForMs = 10000;  // store.retry_for
        int poolSize = 4;            // store.mysql.pool_size
        int workers = 4;             // server.workers
        // On a GaleraCluster: instance i lists the nodes starting with node i % nodes, so the
        // instances write through different nodes (multi-writer); otherwise all start with
        // node 0 (one node at a time).
        bool spreadOverNodes = false;
        // Users sharded over this many brokers (broker.shards): every instance connects to each,
        // each user to the one shardOfUser picks (loadUsers() says which).
        int brokerShards = 1;
    };

    ParleydCluster(MariaDbServer& database, Options options);
    // The same on a Galera cluster: every instance has every node in store.mysql.hosts.
    ParleydCluster(GaleraCluster& galera, Options options);
    ~ParleydCluster();
    ParleydCluster(const ParleydCluster&) = delete;
    ParleydCluster& operator=(const ParleydCluster&) = delete;

    // The broker (with several shards: shard 0's).
    MosquittoServer& broker() { return *brokers_.front(); }
    MosquittoServer& brokerShard(size_t shard) { return *brokers_.at(shard); }
    size_t brokerShards() const { return brokers_.size(); }
    // The shard `uid` connects to (shardOfUser).
    size_t shardOf(const std::string& uid) const;
    MariaDbServer& mariaDb() { return *database_; }  // not on a GaleraCluster
    ParleydProcess& instance(size_t index) { return *instances_.at(index); }
    size_t size() const { return instances_.size(); }
    const std::string& databaseName() const { return databaseName_; }
    // The users as ChatLoad takes them, each with the uri of their shard's broker.
    std::vector<LoadUser> loadUsers() const;
    // A direct connection to the cluster's database (for checks; not thread-safe). On a
    // GaleraCluster, through node `node`.
    std::unique_ptr<store::SqlConnection> openDatabase(size_t node = 0) const;
    // Every instance's log, one after the other (for failure messages).
    std::string logs() const;

  private:
    // The store.mysql section's keys that say where the database is, for instance `index`.
    std::string whereIsTheDatabase(int index) const;
    void startInstances();

    MariaDbServer* database_ = nullptr;
    GaleraCluster* galera_ = nullptr;
    Options options_;
    std::string databaseName_;
    std::vector<std::unique_ptr<MosquittoServer>> brokers_;
    std::vector<std::unique_ptr<ParleydProcess>> instances_;
};

}  // namespace parley::testing
