#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace parley {

struct BrokerConfig {
    std::string uri = "tcp://127.0.0.1:1883";
    std::string clientId = "parleyd-1";
    std::string username = "parleyd";
    std::string password;
    std::string passwordFile;
    std::string shareGroup = "parleyd";
    int keepAliveSeconds = 30;
    // Kept by the broker while parleyd is away, so commands sent during a restart are not lost.
    int sessionExpirySeconds = 600;
    int maxInflight = 100;
    int maxBufferedMessages = 100000;
};

struct SqliteConfig {
    std::string path = "var/data/parley.db";
    // "full": an acknowledged message survives a power cut; "normal": survives a crash of parleyd.
    std::string synchronous = "full";
};

struct MysqlConfig {
    std::string host = "127.0.0.1";
    int port = 3306;
    std::string socket;
    std::string user = "parley";
    std::string password;
    std::string passwordFile;
    std::string database = "parley";
    int poolSize = 8;
    int connectTimeoutSeconds = 5;
    int ioTimeoutSeconds = 30;
};

struct StoreConfig {
    std::string backend = "sqlite";  // "sqlite" or "mysql"
    SqliteConfig sqlite;
    MysqlConfig mysql;
    // How long a command waits for an unreachable database before it is answered "unavailable".
    int64_t retryForMs = 30000;
};

struct LimitsConfig {
    int64_t maxPayloadBytes = 65536;
    int64_t maxBodyBytes = 16384;
    int64_t maxMetaBytes = 4096;
    int maxGroupMembers = 100;
};

struct TypingConfig {
    int burst = 5;
    double perSecond = 1.0;
};

struct PresenceConfig {
    int64_t awayAfterMs = 300000;
    int64_t sweepIntervalMs = 15000;
};

struct ServerConfig {
    int workers = 4;
    int queueCapacity = 10000;
    int64_t shutdownTimeoutMs = 10000;
};

struct LogConfig {
    std::string level = "info";
};

struct Config {
    std::string sourceFile;  // where it was read from, for messages
    BrokerConfig broker;
    std::string topicPrefix = "parley/v1";
    StoreConfig store;
    LimitsConfig limits;
    TypingConfig typing;
    PresenceConfig presence;
    ServerConfig server;
    LogConfig log;
};

}  // namespace parley
