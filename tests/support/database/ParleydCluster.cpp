#include "ParleydCluster.h"

#include "parley/wire/UserShard.h"
#include "store/MysqlConnection.h"

namespace parley::testing {

namespace {
std::string passwordOf(const std::string& uid) {
    return "pw-" + uid;
}
}  // namespace

ParleydCluster::ParleydCluster(MariaDbServer& database, Options options)
    : database_(&database), options_(options), databaseName_(database.createDatabase()) {
    startInstances();
}

ParleydCluster::ParleydCluster(GaleraCluster& galera, Options options)
    : galera_(&galera), options_(options), databaseName_(galera.createDatabase()) {
    startInstances();
}

std::string ParleydCluster::whereIsTheDatabase(int index) const {
    if (database_ != nullptr) {
        return "host: 127.0.0.1, port: " + std::to_string(database_->port()) +
               ", user: " + database_->user() + ", password: '" + database_->password() + "'";
    }
    const size_t first =
        options_.spreadOverNodes ? static_cast<size_t>(index) % galera_->size() : 0;
    const auto config = galera_->clientConfig(databaseName_, first);
    std::string hosts;
    for (const auto& host : config.hosts) {
        hosts += (hosts.empty() ? "'" : ", '") + host.host + ":" + std::to_string(host.port) + "'";
    }
    return "hosts: [" + hosts + "], user: " + galera_->user() + ", password: '" +
           galera_->password() + "'";
}

void ParleydCluster::startInstances() {
    std::vector<BrokerUser> users{{"parleyd", "parleyd-secret"}};
    for (const auto& user : loadUsers()) {
        users.push_back({user.uid, user.password});
    }
    // Every user may log in on every shard: the shard a client picks is the test's to check.
    for (int shard = 0; shard < std::max(options_.brokerShards, 1); ++shard) {
        brokers_.push_back(std::make_unique<MosquittoServer>(users));
    }
    std::string where;
    if (brokers_.size() == 1) {
        where = "  uri: " + brokers_.front()->uri() + "\n";
    } else {
        where = "  shards:\n";
        for (const auto& broker : brokers_) {
            where += "    - " + broker->uri() + "\n";
        }
    }
    for (int index = 1; index <= options_.instances; ++index) {
        const std::string yaml = "broker:\n" + where + "  client_id: parleyd-cluster-" +
                                 std::to_string(index) +
                                 "\n"
                                 "  share_group: parleyd\n"
                                 "  username: parleyd\n"
                                 "  password: parleyd-secret\n"
                                 "  session_expiry: 5m\n"
                                 "store:\n"
                                 "  backend: mysql\n"
                                 "  mysql: {" +
                                 whereIsTheDatabase(index - 1) + ", database: " + databaseName_ +
                                 ", pool_size: " + std::to_string(options_.poolSize) +
                                 ", connect_timeout: 2s, io_timeout: 10s}\n"
                                 "  retry_for: " +
                                 std::to_string(options_.retryForMs) +
                                 "ms\n"
                                 "server: {workers: " +
                                 std::to_string(options_.workers) +
                                 "}\n"
                                 "http: {listen: 127.0.0.1, port: 0}\n"
                                 "log: {level: info}\n";
        instances_.push_back(std::make_unique<ParleydProcess>(yaml));
    }
}

ParleydCluster::~ParleydCluster() {
    instances_.clear();  // parleyd before the brokers
    brokers_.clear();
}

std::vector<LoadUser> ParleydCluster::loadUsers() const {
    std::vector<LoadUser> users;
    for (int i = 1; i <= options_.users; ++i) {
        const std::string uid = "c" + std::to_string(i);
        users.push_back({uid, passwordOf(uid),
                         brokers_.empty() ? std::string() : brokers_.at(shardOf(uid))->uri()});
    }
    return users;
}

size_t ParleydCluster::shardOf(const std::string& uid) const {
    return shardOfUser(uid, brokers_.size());
}

std::unique_ptr<store::SqlConnection> ParleydCluster::openDatabase(size_t node) const {
    if (galera_ != nullptr) {
        return std::make_unique<store::MysqlConnection>(galera_->nodeConfig(databaseName_, node),
                                                        galera_->password());
    }
    return std::make_unique<store::MysqlConnection>(mysqlConfigFor(*database_, databaseName_),
                                                    database_->password());
}

std::string ParleydCluster::logs() const {
    std::string text;
    for (size_t i = 0; i < instances_.size(); ++i) {
        text += "--- parleyd " + std::to_string(i + 1) + " ---\n" + instances_[i]->log();
    }
    return text;
}

}  // namespace parley::testing
