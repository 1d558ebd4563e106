#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ChildProcess.h"
#include "TempDir.h"

namespace parley::testing {

// TLS for a test MariaDB: its certificate and key, and the CA that client certificates (for
// accounts created REQUIRE X509) must come from.
struct DatabaseTls {
    std::string caFile;
    std::string certFile;
    std::string keyFile;
};

// How a MariaDbServer is set up, for servers that are more than the plain one (a Galera node,
// GaleraCluster.h). The defaults make the plain server.
struct MariaDbOptions {
    std::optional<DatabaseTls> tls;
    // Server options given at every start (a Galera node's wsrep settings).
    std::vector<std::string> serverArgs;
    // Given at the first start only (--wsrep-new-cluster: the node that bootstraps a cluster).
    std::vector<std::string> firstStartArgs;
    // Creates the 'parley' accounts; false for a Galera node that gets them from its cluster.
    bool createAccounts = true;
    // The accounts' password; empty: a random one.
    std::string password;
    // The system account mariadbd runs as when the tests run as root (mariadbd refuses root
    // unless told). Galera's rsync state transfer starts an rsync daemon that, as root, drops
    // to "nobody" and then cannot write the data directory: Galera nodes run as "mysql".
    std::string systemUserWhenRoot = "root";
    // How long a start may take until the server answers (a joining Galera node copies the
    // cluster's state first).
    std::chrono::seconds startTimeout{60};
    std::string folderPrefix = "parley-mariadb";
};

// A MariaDB server for one test: a fresh data directory, socket, pid file and logs in a TempDir,
// TCP on 127.0.0.1 with a free port, small InnoDB buffers. Root logs in through the socket
// without a password; user "parley" (from anywhere) has every right on databases `parley%`.
class MariaDbServer {
  public:
    // Initializes the data directory, starts the server, waits (60 s) until it answers, creates
    // the user. Throws std::runtime_error with the server log on failure. With `tls`, the server
    // offers TLS (ssl_ca, ssl_cert, ssl_key: copies of those files in its folder) and still
    // accepts clients without it.
    explicit MariaDbServer(std::optional<DatabaseTls> tls = std::nullopt);
    explicit MariaDbServer(MariaDbOptions options);
    ~MariaDbServer();
    MariaDbServer(const MariaDbServer&) = delete;
    MariaDbServer& operator=(const MariaDbServer&) = delete;

    int port() const { return port_; }
    // mariadbd's process id; -1 while stopped.
    int pid() const { return process_ ? process_->pid() : -1; }
    std::string socketPath() const;
    std::string user() const { return "parley"; }
    std::string password() const { return password_; }
    // Creates a fresh empty database parley_<n> (utf8mb4_bin, n counts from 1) and returns its
    // name.
    std::string createDatabase();
    // What a MysqlStore or MysqlConnection needs to reach a database here: mysqlConfigFor in
    // database/MysqlConfigFor.h (parley_test_database, which may include parleyd's store).
    // Clean shutdown (SIGTERM); returns once the server has exited (SIGKILL after 60 s).
    void stop();
    // Starts again on the same data directory and port (after stop() or kill9()).
    void start();
    void kill9();
    // The server's error log, then anything it wrote to stdout/stderr.
    std::string log() const;
    // With TLS: the server presents this certificate from now on (FLUSH SSL), to new connections.
    void replaceTlsCertificate(const std::string& certFile, const std::string& keyFile);
    // Runs SQL as root through the socket; throws with the client's output on failure.
    void runAsRoot(const std::string& sql) const;
    // Runs one query as root through the socket and returns its rows, tab-separated, one line
    // each, without column names; throws with the client's output on failure.
    std::string queryAsRoot(const std::string& sql) const;
    // The folder the server keeps its data, logs and socket in.
    const std::string& folder() const { return dir_.path(); }

  private:
    // Starts the server; false if the port was taken meanwhile (the constructor picks another).
    bool tryStart();

    MariaDbOptions options_;
    TempDir dir_;
    bool tls_;
    bool started_ = false;  // firstStartArgs are for the first start only
    int port_;
    std::string password_;
    int nextDatabase_ = 1;
    std::unique_ptr<ChildProcess> process_;  // null while stopped
};

}  // namespace parley::testing
