#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ChildProcess.h"
#include "TempDir.h"

namespace parley::testing {

struct BrokerUser {
    std::string name;
    std::string password;
};

// TLS listeners of a test broker, besides its plain one: MQTT over TLS and MQTT over WebSockets
// over TLS, both presenting certFile.
struct BrokerTls {
    std::string certFile;
    std::string keyFile;
    // The CAs a client certificate must come from (cafile); needed with requireClientCertificate.
    std::string caFile;
    bool requireClientCertificate = false;
};

// A Mosquitto broker for one test: 127.0.0.1 on a free port, Parley's ACL and broker settings
// (config/mosquitto), a password file with `users`, no persistence, everything in a TempDir.
class MosquittoServer {
  public:
    // Starts the broker and waits (10 s) until it accepts connections; throws std::runtime_error
    // with the broker log if it does not. `extraConfig` (whole lines) goes at the end of the
    // config file, e.g. a `plugin` and its `plugin_opt_*` lines.
    // With `tls`, two more listeners on free ports: tlsPort() and wssPort().
    // `parleyConfig` (whole lines), when given, replaces Parley's part taken from the source tree
    // (its `acl_file` and the `include_dir` of its settings), e.g. with the configuration a
    // package installed.
    explicit MosquittoServer(std::vector<BrokerUser> users, std::string extraConfig = "",
                             std::optional<BrokerTls> tls = std::nullopt,
                             std::optional<std::string> parleyConfig = std::nullopt);
    ~MosquittoServer();
    MosquittoServer(const MosquittoServer&) = delete;
    MosquittoServer& operator=(const MosquittoServer&) = delete;

    int port() const { return port_; }
    // "tcp://127.0.0.1:<port>"
    std::string uri() const;
    // With TLS: the ports, and "ssl://<host>:<tlsPort>" and "wss://<host>:<wssPort>".
    int tlsPort() const { return tlsPort_; }
    int wssPort() const { return wssPort_; }
    std::string tlsUri(const std::string& host = "127.0.0.1") const;
    std::string wssUri(const std::string& host = "127.0.0.1") const;
    // SIGTERM and wait until it has exited (SIGKILL after 10 s).
    void stop();
    // Starts again on the same port with the same files (after stop() or kill9()).
    void start();
    void restart();
    void kill9();
    // SIGHUP: the broker reloads its config, password file and ACL, and plugins get
    // MOSQ_EVT_RELOAD. Returns at once; throws if it is not running.
    void reload();
    // Everything the broker logged since the first start (log_type all).
    std::string log() const;
    // The password file it reads (again on SIGHUP), and its process id while it runs (else -1):
    // for tests that add users the way an operator does.
    const std::string& passwordFile() const { return passwordFile_; }
    int pid() const { return process_ ? process_->pid() : -1; }

  private:
    void writeConfig() const;
    // Starts the broker; false if the port was taken meanwhile (the constructor picks another).
    bool tryStart();

    TempDir dir_;
    int port_;
    std::optional<BrokerTls> tls_;
    int tlsPort_ = -1;
    int wssPort_ = -1;
    std::string configFile_;
    std::string passwordFile_;
    std::string logFile_;
    std::string extraConfig_;
    std::optional<std::string> parleyConfig_;
    std::unique_ptr<ChildProcess> process_;  // null while stopped
};

}  // namespace parley::testing
