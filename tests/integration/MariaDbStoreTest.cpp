// The store suite (tests/store) against a real MariaDB through MySQL Connector/C++.

#include "../store/StoreSuite.h"
#include "Stack.h"
#include "store/MysqlStore.h"

namespace parley::testing {
namespace {

std::function<std::unique_ptr<store::Store>()> freshMariaDbDatabase() {
    auto& server = sharedMariaDb();
    MysqlConfig config = server.clientConfig(server.createDatabase());
    config.poolSize = 4;
    // Two batches of messages at once, so the concurrent cases below also cover batches that
    // overlap (row locks in id order); the end-to-end tests run the default of one.
    config.batchesInFlight = 2;
    const std::string password = server.password();
    return
        [config, password] { return std::make_unique<store::MysqlStore>(config, password, 10000); };
}

INSTANTIATE_TEST_SUITE_P(MariaDb, StoreSuite,
                         ::testing::Values(StoreBackend{"mariadb", freshMariaDbDatabase}),
                         backendName);

TEST(MysqlStore, UnreachableServerIsUnavailableNotFatal) {
    MysqlConfig config;
    config.host = "127.0.0.1";
    config.port = 1;  // nothing listens there
    config.connectTimeoutSeconds = 1;
    store::MysqlStore store(config, "x", 300);
    EXPECT_THROW(store.migrate(), store::StoreUnavailable);
}

TEST(MysqlStore, ReachesTheServerThroughItsUnixSocket) {
    auto& server = sharedMariaDb();
    MysqlConfig config = server.clientConfig(server.createDatabase());
    config.port = 1;  // nothing listens there: with a socket set, host and port are not used
    config.socket = server.socketPath();
    config.connectTimeoutSeconds = 1;
    store::MysqlStore store(config, server.password(), 10000);
    EXPECT_GE(store.migrate(), 1);
    store.openDirect("alice", "bob", std::nullopt, "c1", 100);
    const auto stored = store.appendMessage({"c1", "alice", "m1", "through the socket", {}, 1000});
    ASSERT_EQ(stored.access, store::Access::Member);
    EXPECT_EQ(stored.message.seq, 1);
    const auto found = store.findByCmid("alice", "m1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->body, "through the socket");
}

TEST(MysqlStore, WrongPasswordIsAnErrorNotARetry) {
    auto& server = sharedMariaDb();
    store::MysqlStore store(server.clientConfig(server.createDatabase()), "wrong-password", 10000);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(store.migrate(), store::SqlError);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5))
        << "refused credentials are not retried for the whole retry window";
}

}  // namespace
}  // namespace parley::testing
