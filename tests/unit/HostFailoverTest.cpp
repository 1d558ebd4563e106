#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "store/HostFailover.h"

namespace parley::store {
namespace {

class NullConnection : public SqlConnection {
  public:
    void beginRead() override {}
    void beginWrite() override {}
    void commit() override {}
    void rollback() override {}
    int64_t execute(std::string_view, const SqlParams&) override { return 0; }
    std::vector<SqlRow> query(std::string_view, const SqlParams&) override { return {}; }
    void executeScript(std::string_view) override {}
};

// Three servers; those in `down` refuse connections as a dead server does, `wrongPassword`
// refuses as a live server that will not have us.
struct FakeCluster {
    std::set<std::string> down;
    std::set<std::string> wrongPassword;
    std::vector<std::string> attempts;

    HostFailover::Connect connector() {
        return [this](const MysqlHost& host) -> std::unique_ptr<SqlConnection> {
            attempts.push_back(host.host);
            if (down.count(host.host) != 0) {
                throw SqlError(SqlError::Kind::ConnectionLost, "refused by " + host.host);
            }
            if (wrongPassword.count(host.host) != 0) {
                throw SqlError(SqlError::Kind::Other, "access denied by " + host.host);
            }
            return std::make_unique<NullConnection>();
        };
    }
};

std::vector<MysqlHost> threeNodes() {
    return {{"db1", 3306}, {"db2", 3306}, {"db3", 3306}};
}

TEST(HostFailover, StaysOnTheFirstHostWhileItAnswers) {
    FakeCluster cluster;
    HostFailover failover(threeNodes(), cluster.connector());
    failover.connect();
    failover.connect();
    EXPECT_EQ(cluster.attempts, (std::vector<std::string>{"db1", "db1"}));
    EXPECT_EQ(failover.current().host, "db1");
}

TEST(HostFailover, MovesToTheNextHostAndStaysThereWhenTheFirstComesBack) {
    FakeCluster cluster;
    HostFailover failover(threeNodes(), cluster.connector());
    failover.connect();
    cluster.down = {"db1"};
    failover.connect();
    EXPECT_EQ(failover.current().host, "db2");
    cluster.down.clear();
    cluster.attempts.clear();
    // Moving back would put writers on two nodes again (certification conflicts).
    failover.connect();
    EXPECT_EQ(cluster.attempts, (std::vector<std::string>{"db2"}));
}

TEST(HostFailover, GoesRoundTheListFromTheCurrentHost) {
    FakeCluster cluster;
    HostFailover failover(threeNodes(), cluster.connector());
    cluster.down = {"db1", "db2"};
    failover.connect();
    EXPECT_EQ(failover.current().host, "db3");
    cluster.down = {"db3"};
    cluster.attempts.clear();
    failover.connect();
    EXPECT_EQ(cluster.attempts, (std::vector<std::string>{"db3", "db1"}));
    EXPECT_EQ(failover.current().host, "db1");
}

TEST(HostFailover, NoHostAnsweringIsALostConnectionNamingEach) {
    FakeCluster cluster;
    cluster.down = {"db1", "db2", "db3"};
    HostFailover failover(threeNodes(), cluster.connector());
    try {
        failover.connect();
        FAIL() << "connected to nothing";
    } catch (const SqlError& error) {
        EXPECT_EQ(error.kind(), SqlError::Kind::ConnectionLost);
        const std::string what = error.what();
        for (const char* host : {"db1:3306", "db2:3306", "db3:3306"}) {
            EXPECT_NE(what.find(host), std::string::npos) << what;
        }
    }
    EXPECT_EQ(failover.current().host, "db1");
}

TEST(HostFailover, ARefusalThatIsNotALostConnectionIsNotHiddenByAnotherHost) {
    FakeCluster cluster;
    cluster.wrongPassword = {"db1"};
    HostFailover failover(threeNodes(), cluster.connector());
    try {
        failover.connect();
        FAIL() << "a wrong password must surface";
    } catch (const SqlError& error) {
        EXPECT_EQ(error.kind(), SqlError::Kind::Other);
    }
    EXPECT_EQ(cluster.attempts, (std::vector<std::string>{"db1"}));
}

}  // namespace
}  // namespace parley::store
