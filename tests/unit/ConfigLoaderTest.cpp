#include <gtest/gtest.h>

#include "config/ConfigLoader.h"

namespace parley {
namespace {

std::string errorOf(const std::string& yaml) {
    try {
        loadConfigText(yaml, "test.yaml");
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

TEST(ConfigLoader, EmptyFileGivesDefaults) {
    const Config config = loadConfigText("", "test.yaml");
    EXPECT_EQ(config.store.backend, "sqlite");
    EXPECT_EQ(config.topicPrefix, "parley/v1");
    EXPECT_EQ(config.limits.maxBodyBytes, 16384);
    EXPECT_EQ(config.presence.awayAfterMs, 300000);
    EXPECT_EQ(config.broker.sessionExpirySeconds, 600);
}

TEST(ConfigLoader, ReadsEveryKindOfValue) {
    const Config config = loadConfigText(R"(
broker:
  uri: tcp://10.0.0.1:1884
  client_id: p-7
  password: secret
  keepalive: 1m
store:
  backend: mysql
  mysql: {host: db, port: 3307, pool_size: 3, io_timeout: 2s}
  retry_for: 500ms
topics: {prefix: chat/v1}
limits: {max_body_bytes: 100, max_group_members: 7}
typing: {burst: 2, per_second: 0.5}
presence: {away_after: 2h, sweep_interval: 1m}
server: {workers: 2}
log: {level: debug}
)",
                                         "test.yaml");
    EXPECT_EQ(config.broker.uri, "tcp://10.0.0.1:1884");
    EXPECT_EQ(config.broker.clientId, "p-7");
    EXPECT_EQ(config.broker.password, "secret");
    EXPECT_EQ(config.broker.keepAliveSeconds, 60);
    EXPECT_EQ(config.store.backend, "mysql");
    EXPECT_EQ(config.store.mysql.host, "db");
    EXPECT_EQ(config.store.mysql.port, 3307);
    EXPECT_EQ(config.store.mysql.poolSize, 3);
    EXPECT_EQ(config.store.mysql.ioTimeoutSeconds, 2);
    EXPECT_EQ(config.store.retryForMs, 500);
    EXPECT_EQ(config.topicPrefix, "chat/v1");
    EXPECT_EQ(config.limits.maxBodyBytes, 100);
    EXPECT_EQ(config.limits.maxGroupMembers, 7);
    EXPECT_EQ(config.typing.burst, 2);
    EXPECT_DOUBLE_EQ(config.typing.perSecond, 0.5);
    EXPECT_EQ(config.presence.awayAfterMs, 7200000);
    EXPECT_EQ(config.presence.sweepIntervalMs, 60000);
    EXPECT_EQ(config.server.workers, 2);
    EXPECT_EQ(config.log.level, "debug");
}

TEST(ConfigLoader, UnknownKeyNamesFileLineAndKey) {
    const std::string error = errorOf("store:\n  sqlite:\n    pth: x.db\n");
    EXPECT_NE(error.find("test.yaml:3"), std::string::npos) << error;
    EXPECT_NE(error.find("store.sqlite.pth"), std::string::npos) << error;
    EXPECT_NE(error.find("unknown key"), std::string::npos) << error;
    EXPECT_NE(error.find("path"), std::string::npos) << "lists the known keys: " << error;
}

TEST(ConfigLoader, WrongTypesAndRangesAreRefused) {
    EXPECT_NE(errorOf("server: {workers: many}").find("server.workers: expected an integer"),
              std::string::npos);
    EXPECT_NE(errorOf("server: {workers: 0}").find("must be between 1 and 256"), std::string::npos);
    EXPECT_NE(errorOf("store: {backend: postgres}").find("must be one of: sqlite, mysql"),
              std::string::npos);
    EXPECT_NE(errorOf("presence: {away_after: 300}").find("expected a duration"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: [1, 2]").find("broker: expected a mapping"), std::string::npos);
    EXPECT_NE(errorOf("broker: {uri: [a]}").find("broker.uri: expected a string"),
              std::string::npos);
    EXPECT_NE(errorOf("topics: {prefix: 'a/#'}").find("topics.prefix"), std::string::npos);
    EXPECT_NE(errorOf("typing: {per_second: fast}").find("typing.per_second: expected a number"),
              std::string::npos);
}

TEST(ConfigLoader, InconsistentValuesAreRefused) {
    EXPECT_NE(errorOf("broker: {password: a, password_file: b}").find("not both"),
              std::string::npos);
    EXPECT_NE(errorOf("limits: {max_payload_bytes: 2000, max_body_bytes: 5000}")
                  .find("max_payload_bytes"),
              std::string::npos);
    EXPECT_NE(errorOf("presence: {away_after: 1s, sweep_interval: 5s}").find("sweep_interval"),
              std::string::npos);
}

TEST(ConfigLoader, InvalidYamlIsRefusedWithLine) {
    const std::string error = errorOf("broker:\n  uri: [unclosed\n");
    EXPECT_NE(error.find("test.yaml:"), std::string::npos) << error;
    EXPECT_NE(error.find("not valid YAML"), std::string::npos) << error;
}

TEST(ConfigLoader, MissingFileIsRefused) {
    EXPECT_THROW(loadConfigFile("/nonexistent/parleyd.yaml"), ConfigError);
}

TEST(ConfigLoader, ShippedExampleIsValid) {
    const Config config = loadConfigFile(std::string(PARLEY_SOURCE_DIR) + "/config/parleyd.yaml");
    EXPECT_EQ(config.broker.username, "parleyd");
    EXPECT_EQ(config.store.backend, "sqlite");
}

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(parseDurationMs("250ms"), 250);
    EXPECT_EQ(parseDurationMs("30s"), 30000);
    EXPECT_EQ(parseDurationMs("5m"), 300000);
    EXPECT_EQ(parseDurationMs("2h"), 7200000);
    EXPECT_THROW(parseDurationMs("5"), std::invalid_argument);
    EXPECT_THROW(parseDurationMs("s"), std::invalid_argument);
    EXPECT_THROW(parseDurationMs("-1s"), std::invalid_argument);
    EXPECT_THROW(parseDurationMs("1d"), std::invalid_argument);
    EXPECT_THROW(parseDurationMs("99999999999999999h"), std::invalid_argument);
}

}  // namespace
}  // namespace parley
