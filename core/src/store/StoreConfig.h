#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parley/mqtt/TlsSettings.h"

namespace parley {

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

}  // namespace parley
