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
    EXPECT_EQ(config.store.mysql.batchesInFlight, 1);
    EXPECT_EQ(config.limits.editWindowMs, 86400000);
    EXPECT_EQ(config.limits.maxReactionEmojis, 20);
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
  mysql: {host: db, port: 3307, pool_size: 3, batches_in_flight: 2, io_timeout: 2s}
  retry_for: 500ms
topics: {prefix: chat/v1}
limits: {max_body_bytes: 100, max_group_members: 7, edit_window: 90s, max_reaction_emojis: 5}
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
    EXPECT_EQ(config.store.mysql.batchesInFlight, 2);
    EXPECT_EQ(config.store.mysql.ioTimeoutSeconds, 2);
    EXPECT_EQ(config.store.retryForMs, 500);
    EXPECT_EQ(config.topicPrefix, "chat/v1");
    EXPECT_EQ(config.limits.maxBodyBytes, 100);
    EXPECT_EQ(config.limits.maxGroupMembers, 7);
    EXPECT_EQ(config.limits.editWindowMs, 90000);
    EXPECT_EQ(config.limits.maxReactionEmojis, 5);
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
    EXPECT_NE(errorOf("store: {mysql: {pool_size: 2, batches_in_flight: 3}}")
                  .find("store.mysql.batches_in_flight: must not exceed store.mysql.pool_size"),
              std::string::npos);
}

TEST(ConfigLoader, MysqlHostsListTheServersOfACluster) {
    const Config config = loadConfigText(
        "store:\n"
        "  backend: mysql\n"
        "  mysql:\n"
        "    port: 3307\n"
        "    hosts: [db1, 'db2:3308', '10.0.0.3:3306', '[fd00::4]:3309', '[fd00::5]']\n",
        "test.yaml");
    const auto& hosts = config.store.mysql.hosts;
    ASSERT_EQ(hosts.size(), 5u);
    EXPECT_EQ(hosts[0], (MysqlHost{"db1", 3307})) << "port defaults to store.mysql.port";
    EXPECT_EQ(hosts[1], (MysqlHost{"db2", 3308}));
    EXPECT_EQ(hosts[2], (MysqlHost{"10.0.0.3", 3306}));
    EXPECT_EQ(hosts[3], (MysqlHost{"fd00::4", 3309}));
    EXPECT_EQ(hosts[4], (MysqlHost{"fd00::5", 3307}));
    EXPECT_TRUE(loadConfigText("", "test.yaml").store.mysql.hosts.empty());
}

TEST(ConfigLoader, MysqlHostsMistakesAreRefused) {
    EXPECT_NE(errorOf("store: {mysql: {hosts: db1}}").find("store.mysql.hosts: expected a list"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: []}}").find("expected a list"), std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: ['db1:0']}}").find("port must be 1 to 65535"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: ['db1:x']}}").find("port must be 1 to 65535"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: ['db1:']}}").find("port must be 1 to 65535"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: [':3306']}}").find("has no host"), std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: ['fd00::4']}}").find("[address]:port"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {hosts: ['db1', 'db1:3306']}}").find("listed twice"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {host: db0, hosts: [db1]}}")
                  .find("store.mysql.hosts: set host or hosts, not both"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {socket: /run/m.sock, hosts: [db1]}}")
                  .find("set socket or hosts, not both"),
              std::string::npos);
}

TEST(ConfigLoader, InvalidYamlIsRefusedWithLine) {
    const std::string error = errorOf("broker:\n  uri: [unclosed\n");
    EXPECT_NE(error.find("test.yaml:"), std::string::npos) << error;
    EXPECT_NE(error.find("not valid YAML"), std::string::npos) << error;
}

TEST(ConfigLoader, LogFormatIsTextOrJson) {
    EXPECT_EQ(loadConfigText("", "test.yaml").log.format, "text");
    EXPECT_EQ(loadConfigText("log: {format: json}", "test.yaml").log.format, "json");
    EXPECT_NE(errorOf("log: {format: xml}").find("log.format: must be one of: text, json"),
              std::string::npos)
        << errorOf("log: {format: xml}");
}

TEST(ConfigLoader, ReadsTheByteBudgetOfCommandsWithBytes) {
    const Config defaults = loadConfigText("", "test.yaml");
    EXPECT_EQ(defaults.limits.maxBytesPerCommand, 1024 * 1024);
    EXPECT_DOUBLE_EQ(defaults.limits.userTransferBytesPerSecond, 16.0 * 1024 * 1024);
    EXPECT_EQ(defaults.limits.userTransferBurstBytes, 32 * 1024 * 1024);
    const Config config = loadConfigText(
        "limits: {max_bytes_per_command: 4096, user_transfer_bytes_per_second: 0, "
        "user_transfer_burst_bytes: 8192}",
        "test.yaml");
    EXPECT_EQ(config.limits.maxBytesPerCommand, 4096);
    EXPECT_DOUBLE_EQ(config.limits.userTransferBytesPerSecond, 0);
    EXPECT_EQ(config.limits.userTransferBurstBytes, 8192);
    // A burst smaller than one command's bytes would refuse such a command for ever.
    EXPECT_NE(errorOf("limits: {max_bytes_per_command: 4096, user_transfer_burst_bytes: 2048}")
                  .find("limits.user_transfer_burst_bytes"),
              std::string::npos);
}

TEST(ConfigLoader, MissingFileIsRefused) {
    EXPECT_THROW(loadConfigFile("/nonexistent/parleyd.yaml"), ConfigError);
}

TEST(ConfigLoader, ShippedExampleIsValid) {
    const Config config = loadConfigFile(std::string(PARLEY_SOURCE_DIR) + "/config/parleyd.yaml");
    EXPECT_EQ(config.broker.username, "parleyd");
    EXPECT_EQ(config.store.backend, "sqlite");
}

TEST(ConfigLoader, ReadsExtensionsHooksLuaAndAdmins) {
    const Config config = loadConfigText(R"(
admins: [ops, alice@example.com]
extensions:
  - name: echo
    plugin: build/plugins/parley_example_echo.so
    options: {greeting: hi, limit: 3, ratio: 0.5, strict: true, quoted: "42", list: [a, 1]}
  - name: moderation
    script: scripts/moderation.lua
    memory_limit: 8MB
    instruction_limit: 5000000
hooks:
  message.before_store: {budget: 20ms, on_failure: closed}
  command: {budget: 2s}
lua: {memory_limit: 64MB, instruction_limit: 20000000}
)",
                                         "test.yaml");
    EXPECT_EQ(config.admins, (std::vector<std::string>{"ops", "alice@example.com"}));
    ASSERT_EQ(config.extensions.size(), 2U);
    const auto& echo = config.extensions[0];
    EXPECT_EQ(echo.name, "echo");
    EXPECT_EQ(echo.pluginPath, "build/plugins/parley_example_echo.so");
    EXPECT_EQ(echo.options["greeting"], "hi");
    EXPECT_EQ(echo.options["limit"], 3);
    EXPECT_DOUBLE_EQ(echo.options["ratio"].get<double>(), 0.5);
    EXPECT_EQ(echo.options["strict"], true);
    EXPECT_EQ(echo.options["quoted"], "42") << "quoted scalars stay strings";
    EXPECT_EQ(echo.options["list"], nlohmann::json({"a", 1}));
    const auto& moderation = config.extensions[1];
    EXPECT_EQ(moderation.scriptPath, "scripts/moderation.lua");
    EXPECT_EQ(moderation.memoryLimitBytes, 8 * 1024 * 1024);
    EXPECT_EQ(moderation.instructionLimit, 5000000);
    EXPECT_EQ(config.hooks.at("message.before_store").budgetMs, 20);
    EXPECT_TRUE(config.hooks.at("message.before_store").failClosed);
    EXPECT_EQ(config.hooks.at("command").budgetMs, 2000);
    EXPECT_FALSE(config.hooks.at("command").failClosed);
    EXPECT_EQ(config.lua.memoryLimitBytes, 64 * 1024 * 1024);
    EXPECT_EQ(config.lua.instructionLimit, 20000000);
}

TEST(ConfigLoader, RefusesBadExtensions) {
    EXPECT_NE(errorOf("extensions:\n  - name: x\n").find("set exactly one of plugin and script"),
              std::string::npos);
    EXPECT_NE(
        errorOf("extensions:\n  - {name: x, plugin: a.so, script: b.lua}\n").find("exactly one"),
        std::string::npos);
    EXPECT_NE(errorOf("extensions:\n  - {plugin: a.so}\n").find("extensions[0].name: is required"),
              std::string::npos);
    EXPECT_NE(errorOf("extensions:\n  - {name: Bad Name, plugin: a.so}\n").find("a-z 0-9"),
              std::string::npos);
    const std::string duplicate =
        errorOf("extensions:\n  - {name: x, plugin: a.so}\n  - {name: x, script: b.lua}\n");
    EXPECT_NE(duplicate.find("test.yaml:3"), std::string::npos) << duplicate;
    EXPECT_NE(duplicate.find("extensions[1].name: 'x' is already used"), std::string::npos)
        << duplicate;
    EXPECT_NE(errorOf("extensions:\n  - {name: x, plugin: a.so, memory_limit: 8MB}\n")
                  .find("scripts only"),
              std::string::npos);
    EXPECT_NE(errorOf("extensions:\n  - {name: x, script: a.lua, memory_limit: 8 MB}\n")
                  .find("expected a size"),
              std::string::npos);
    EXPECT_NE(errorOf("extensions:\n  - {name: x, script: a.lua, bogus: 1}\n")
                  .find("extensions[0].bogus: unknown key"),
              std::string::npos);
    EXPECT_NE(errorOf("hooks:\n  message.before_stor: {budget: 5ms}\n").find("unknown hook"),
              std::string::npos);
    EXPECT_NE(errorOf("hooks:\n  read.after: {on_failure: maybe}\n").find("open, closed"),
              std::string::npos);
    EXPECT_NE(errorOf("admins: [good, 'not good']\n").find("not a valid user id"),
              std::string::npos);
    EXPECT_NE(errorOf("admins: [system]\n").find("not a valid user id"), std::string::npos);
}

// TLS: broker.tls and store.mysql.tls.
TEST(ConfigLoader, ReadsTlsForTheBrokerAndTheDatabase) {
    const Config defaults = loadConfigText("", "test.yaml");
    EXPECT_EQ(defaults.broker.uri, "ssl://127.0.0.1:8883") << "TLS unless told otherwise";
    EXPECT_FALSE(defaults.broker.tls.any());
    EXPECT_FALSE(defaults.store.mysql.tls.enabled());

    const Config config = loadConfigText(R"(
broker:
  uri: ssl://broker.example.com:8883
  tls: {ca_file: /etc/parley/ca.pem, cert_file: /etc/parley/p.crt, key_file: /etc/parley/p.key}
store:
  backend: mysql
  mysql:
    host: db.example.com
    tls: {ca_file: /etc/parley/db-ca.pem}
)",
                                         "test.yaml");
    EXPECT_EQ(config.broker.tls.caFile, "/etc/parley/ca.pem");
    EXPECT_EQ(config.broker.tls.certFile, "/etc/parley/p.crt");
    EXPECT_EQ(config.broker.tls.keyFile, "/etc/parley/p.key");
    EXPECT_EQ(config.store.mysql.tls.mode, MysqlTlsConfig::Mode::VerifyIdentity)
        << "a tls section without mode verifies the host name";
    EXPECT_EQ(config.store.mysql.tls.files.caFile, "/etc/parley/db-ca.pem");

    const Config verifyCa = loadConfigText(
        "store: {mysql: {tls: {mode: verify_ca, ca_file: ca.pem, cert_file: c, key_file: k}}}",
        "test.yaml");
    EXPECT_EQ(verifyCa.store.mysql.tls.mode, MysqlTlsConfig::Mode::VerifyCa);
    EXPECT_EQ(verifyCa.store.mysql.tls.files.certFile, "c");
    EXPECT_EQ(verifyCa.store.mysql.tls.files.keyFile, "k");
    EXPECT_TRUE(loadConfigText("store: {mysql: {tls: {}}}", "test.yaml").store.mysql.tls.enabled())
        << "an empty tls section: verify_identity against the system's CAs";
    EXPECT_EQ(loadConfigText("broker: {client: paho, uri: 'wss://b:9443/mqtt', tls: {ca_file: x}}",
                             "test.yaml")
                  .broker.tls.caFile,
              "x");
}

TEST(ConfigLoader, ReadsTheBrokerClientAndRefusesWebSocketsWithLibmosquitto) {
    EXPECT_EQ(loadConfigText("", "test.yaml").broker.client, BrokerConfig::Client::Mosquitto);
    EXPECT_EQ(loadConfigText("broker: {client: mosquitto}", "test.yaml").broker.client,
              BrokerConfig::Client::Mosquitto);
    EXPECT_EQ(loadConfigText("broker: {client: paho, uri: 'wss://b:9443/mqtt'}", "test.yaml")
                  .broker.client,
              BrokerConfig::Client::Paho);
    EXPECT_NE(errorOf("broker: {client: mqttjs}").find("broker.client"), std::string::npos);
    EXPECT_NE(errorOf("broker: {client: mosquitto, uri: 'wss://b:9443/mqtt'}")
                  .find("broker.client: mosquitto cannot connect over WebSockets (libmosquitto "
                        "has no WebSocket client), and broker.uri is wss://b:9443/mqtt"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {client: mosquitto, uri: 'ws://b:9001'}").find("broker.client"),
              std::string::npos);
}

TEST(ConfigLoader, RefusesTlsThatCannotWork) {
    EXPECT_NE(errorOf("broker: {uri: 'tcp://10.0.0.1:1883', tls: {ca_file: ca.pem}}")
                  .find("broker.tls: is set, but broker.uri tcp://10.0.0.1:1883 is not a TLS "
                        "address: use ssl://HOST:8883"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {tls: {cert_file: c.pem}}")
                  .find("broker.tls: set both cert_file and key_file, or neither"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {tls: {ca_file: ''}}").find("broker.tls.ca_file: expected a file"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {tls: {cafile: x}}").find("broker.tls.cafile: unknown key"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {tls: {mode: required}}}")
                  .find("store.mysql.tls.mode: must be one of: verify_identity, verify_ca"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {tls: {mode: verify_ca}}}")
                  .find("store.mysql.tls.mode: verify_ca needs ca_file"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {socket: /run/mysqld/mysqld.sock, tls: {ca_file: x}}}")
                  .find("store.mysql.tls: TLS is for TCP"),
              std::string::npos);
    EXPECT_NE(errorOf("store: {mysql: {tls: {key_file: k}}}")
                  .find("store.mysql.tls: set both cert_file and key_file, or neither"),
              std::string::npos);
}

TEST(Size, ParsesUnits) {
    EXPECT_EQ(parseSizeBytes("100B"), 100);
    EXPECT_EQ(parseSizeBytes("512KB"), 512 * 1024);
    EXPECT_EQ(parseSizeBytes("32MB"), 32 * 1024 * 1024);
    EXPECT_EQ(parseSizeBytes("1GB"), 1024 * 1024 * 1024);
    EXPECT_THROW(parseSizeBytes("32"), std::invalid_argument);
    EXPECT_THROW(parseSizeBytes("32mb"), std::invalid_argument);
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

namespace parley {
namespace {

TEST(ConfigLoader, BrokerShardsListOneUriPerShard) {
    const Config one = loadConfigText("broker: {uri: 'tcp://127.0.0.1:1883'}", "test.yaml");
    EXPECT_TRUE(one.broker.shards.empty());
    EXPECT_EQ(one.broker.uris(), std::vector<std::string>{"tcp://127.0.0.1:1883"});
    const Config two = loadConfigText(
        "broker:\n  shards: ['tcp://127.0.0.1:1883', 'tcp://127.0.0.1:1884']\n", "test.yaml");
    EXPECT_EQ(two.broker.uris(),
              (std::vector<std::string>{"tcp://127.0.0.1:1883", "tcp://127.0.0.1:1884"}));
    EXPECT_NE(errorOf("broker: {uri: 'tcp://a:1', shards: ['tcp://b:1']}").find("not both"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {shards: []}").find("broker.shards: expected a list"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {shards: ['tcp://a:1', 'tcp://a:1']}").find("listed twice"),
              std::string::npos);
    EXPECT_NE(errorOf("broker: {shards: ['ssl://a:1', 'tcp://b:1'], tls: {ca_file: x}}")
                  .find("broker.shards entry tcp://b:1 is not a TLS address"),
              std::string::npos);
}

}  // namespace
}  // namespace parley
