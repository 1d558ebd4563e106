#include "ParleydCluster.h"

#include "store/MysqlConnection.h"

namespace parley::testing {

namespace {
std::string passwordOf(const std::string& uid) {
    return "pw-" + uid;
}
}  // namespace

ParleydCluster::ParleydCluster(MariaDbServer& database, Options options)
    : database_(database), options_(options), databaseName_(database.createDatabase()) {
    std::vector<BrokerUser> users{{"parleyd", "parleyd-secret"}};
    for (const auto& user : loadUsers()) {
        users.push_back({user.uid, user.password});
    }
    broker_ = std::make_unique<MosquittoServer>(users);
    for (int index = 1; index <= options_.instances; ++index) {
        const std::string yaml =
            "broker:\n"
            "  uri: " +
            broker_->uri() +
            "\n"
            "  client_id: parleyd-cluster-" +
            std::to_string(index) +
            "\n"
            "  share_group: parleyd\n"
            "  username: parleyd\n"
            "  password: parleyd-secret\n"
            "  session_expiry: 5m\n"
            "store:\n"
            "  backend: mysql\n"
            "  mysql: {host: 127.0.0.1, port: " +
            std::to_string(database_.port()) + ", user: " + database_.user() + ", password: '" +
            database_.password() + "', database: " + databaseName_ +
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
    instances_.clear();  // parleyd before the broker
    broker_.reset();
}

std::vector<LoadUser> ParleydCluster::loadUsers() const {
    std::vector<LoadUser> users;
    for (int i = 1; i <= options_.users; ++i) {
        const std::string uid = "c" + std::to_string(i);
        users.push_back({uid, passwordOf(uid)});
    }
    return users;
}

std::unique_ptr<store::SqlConnection> ParleydCluster::openDatabase() const {
    return std::make_unique<store::MysqlConnection>(database_.clientConfig(databaseName_),
                                                    database_.password());
}

std::string ParleydCluster::logs() const {
    std::string text;
    for (size_t i = 0; i < instances_.size(); ++i) {
        text += "--- parleyd " + std::to_string(i + 1) + " ---\n" + instances_[i]->log();
    }
    return text;
}

}  // namespace parley::testing
