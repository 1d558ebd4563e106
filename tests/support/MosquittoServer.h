#pragma once

#include <map>
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

// What a test broker runs besides its plain loopback listener and password file.
// (Members have initializers so that designated initializers may leave any out without
// -Wmissing-field-initializers.)
struct BrokerOptions {
    // Whole `plugin_opt_*` lines for Parley's broker plugin; without them it runs on its defaults
    // (service account parleyd, prefix parley/v1, 100 publishes/s per connection, no token keys).
    std::string pluginOptions{};
    // Whole lines at the end of the config file.
    std::string extraConfig{};
    // Two more listeners on free ports: tlsPort() and wssPort().
    std::optional<BrokerTls> tls{};
    // Whole lines that replace Parley's part taken from the source tree (its `acl_file`, the
    // `include_dir` of its settings and the plugin), e.g. the configuration a package installed;
    // pluginOptions then go nowhere.
    std::optional<std::string> parleyConfig{};
    // `log_type all`: the broker logs every packet it receives and sends (tests read the log to
    // see which topics a client used). Off, it logs what Debian's packaged broker logs (errors,
    // warnings, notices, information): a benchmark's broker then writes no line per message.
    bool logEveryPacket = true;
};

// A Mosquitto broker for one test: 127.0.0.1 on a free port, Parley's ACL and broker settings
// (config/mosquitto), Parley's broker plugin (broker/jwt_auth: subscription checks, publish rate
// limit, token login), a password file with `users`, no persistence, everything in a TempDir.
class MosquittoServer {
  public:
    // Starts the broker and waits (10 s) until it accepts connections; throws std::runtime_error
    // with the broker log if it does not.
    explicit MosquittoServer(std::vector<BrokerUser> users, BrokerOptions options = {});
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

    // The environment a broker that loads Parley's plugin needs in this build (in a sanitized
    // one, ASan preloaded): for tests that start a `mosquitto` of their own.
    static std::map<std::string, std::string> environment();

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
    std::string pluginOptions_;
    std::string extraConfig_;
    std::optional<std::string> parleyConfig_;
    bool logEveryPacket_;
    std::unique_ptr<ChildProcess> process_;  // null while stopped
};

}  // namespace parley::testing
