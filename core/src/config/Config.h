#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "parley/mqtt/TlsSettings.h"

namespace parley {

struct BrokerConfig {
    // broker.client: which MQTT library parleyd's Transport uses (docs/operations.md);
    // libmosquitto by default, measured faster (docs/performance.md, "Where the time goes").
    enum class Client { Paho, Mosquitto };
    Client client = Client::Mosquitto;
    std::string uri = "ssl://127.0.0.1:8883";
    // broker.shards: users sharded over independent brokers, one uri per shard, in shard order
    // (shardOfUser, transport/UserShard.h). Empty: one broker, `uri`. Every other setting here
    // (client id, credentials, TLS...) applies to each shard.
    std::vector<std::string> shards;
    std::string clientId = "parleyd-1";
    std::string username = "parleyd";
    std::string password;
    std::string passwordFile;
    std::string shareGroup = "parleyd";
    int keepAliveSeconds = 30;
    // Kept by the broker while parleyd is away, so commands sent during a restart are not lost.
    int sessionExpirySeconds = 600;
    int maxInflight = 1000;
    int maxBufferedMessages = 100000;
    // broker.tls: the CA and client certificate files for an ssl://, mqtts:// or wss:// uri.
    TlsSettings tls;

    // The brokers to connect to: `shards`, or `uri` alone.
    std::vector<std::string> uris() const { return shards.empty() ? std::vector{uri} : shards; }
};

struct SqliteConfig {
    std::string path = "var/data/parley.db";
    // "full": an acknowledged message survives a power cut; "normal": survives a crash of parleyd.
    std::string synchronous = "full";
};

// store.mysql.tls. Off unless configured. Both modes verify the server's certificate chain and
// refuse a connection that is not encrypted; verify_identity also checks that the certificate
// names store.mysql.host.
struct MysqlTlsConfig {
    enum class Mode { Off, VerifyCa, VerifyIdentity };
    Mode mode = Mode::Off;
    TlsSettings files;
    bool enabled() const { return mode != Mode::Off; }
};

// One server of store.mysql.hosts.
struct MysqlHost {
    std::string host;
    int port = 3306;
    bool operator==(const MysqlHost&) const = default;
};

struct MysqlConfig {
    std::string host = "127.0.0.1";
    int port = 3306;
    // store.mysql.hosts: servers of one cluster (Galera) in order of preference; when set, host
    // and port are not used. parleyd writes through one of them at a time and moves on to the
    // next when it stops answering (docs/scaling.md).
    std::vector<MysqlHost> hosts;
    std::string socket;
    std::string user = "parley";
    std::string password;
    std::string passwordFile;
    std::string database = "parley";
    int poolSize = 8;
    // Batches of messages stored at once (group commit, docs/performance.md); at most poolSize.
    int batchesInFlight = 1;
    int connectTimeoutSeconds = 5;
    int ioTimeoutSeconds = 30;
    MysqlTlsConfig tls;
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
    // Per-user ingress limits, checked when a command arrives, before it is queued (per instance).
    // Commands past them are answered rate_limited at once. 0 turns a limit off.
    double userCommandsPerSecond = 100;  // token bucket refill
    int userCommandBurst = 300;          // token bucket size
    int userQueuedCommands = 100;        // commands of one user waiting for or in a worker
    // Commands with bytes ("{prefix}/c2s/{uid}/bin", a file's chunks): at most this many bytes
    // after the command, and instead of the command rate above, a budget of bytes per user:
    // each costs its bytes (at least kMinTransferCost) and then the bytes of its reply. Past it:
    // transfer_limited. 0 turns the budget off.
    int64_t maxBytesPerCommand = 1024 * 1024;
    double userTransferBytesPerSecond = 16 * 1024 * 1024;
    int64_t userTransferBurstBytes = 32 * 1024 * 1024;
    static constexpr int64_t kMinTransferCost = 64 * 1024;
    // How long after it was stored its sender may edit a message (msg.edit); 0 = never.
    int64_t editWindowMs = 24 * 3600 * 1000;
    int maxReactionEmojis = 20;  // different emojis on one message
};

// msg.search (docs/design.md, "Search").
struct SearchConfig {
    int64_t maxQueryBytes = 256;  // of the query text, UTF-8
    int maxTerms = 16;            // words in a query
    int maxPage = 50;             // results in one reply; more are cut to this
    // How long the words of a deleted message may stay in the full-text index before a purge
    // rewrites it (an admin's erasure purges at once). 0: at the next sweep.
    int64_t purgeAfterMs = 10 * 60 * 1000;
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
    int workers = 16;
    int queueCapacity = 10000;
    int64_t shutdownTimeoutMs = 10000;
};

// One plugin (a shared object) or one Lua script, in the order they are listed.
struct ExtensionConfig {
    std::string name;        // unique among extensions; names its key-value store and its logs
    std::string pluginPath;  // set for a plugin
    std::string scriptPath;  // set for a Lua script
    nlohmann::json options = nlohmann::json::object();
    int64_t memoryLimitBytes = 0;  // Lua: 0 = lua.memory_limit
    int64_t instructionLimit = 0;  // Lua: 0 = lua.instruction_limit
};

struct LuaConfig {
    int64_t memoryLimitBytes = 32 * 1024 * 1024;  // per script
    int64_t instructionLimit = 10'000'000;        // per call into a script
};

struct HookPolicyConfig {
    int64_t budgetMs = 50;
    bool failClosed = false;
};

// The operations HTTP endpoint (/healthz, /readyz, /metrics). Off unless a port is set.
struct HttpConfig {
    std::string listen = "127.0.0.1";
    int port = -1;  // -1: off; 0: any free port (the log says which)
    bool enabled() const { return port >= 0; }
};

// Who may be put in a conversation (conv.open, conv.create).
enum class UserDirectory {
    None,   // any valid uid: Parley holds no list of users
    Known,  // only users Parley knows: registered by an admin (admin.user.set), or seen
};

struct UsersConfig {
    UserDirectory directory = UserDirectory::None;
    // What a member added to a group (conv.add) may read: false, from when they joined; true,
    // the whole history.
    bool newMembersSeeWholeHistory = false;
};

struct LogConfig {
    std::string level = "info";
    // "text": one line for a human; "json": one JSON object per line for log shippers.
    std::string format = "text";
};

struct Config {
    std::string sourceFile;  // where it was read from, for messages
    BrokerConfig broker;
    std::string topicPrefix = "parley/v1";
    StoreConfig store;
    LimitsConfig limits;
    SearchConfig search;
    TypingConfig typing;
    PresenceConfig presence;
    UsersConfig users;
    ServerConfig server;
    LogConfig log;
    HttpConfig http;
    // Users allowed the admin commands (admin.*, and extensions' admin-only ops).
    std::vector<std::string> admins;
    std::vector<ExtensionConfig> extensions;
    LuaConfig lua;
    // By hook name ("message.before_store", ...), plus "command" and "timer". Absent = defaults.
    std::map<std::string, HookPolicyConfig> hooks;
};

}  // namespace parley
