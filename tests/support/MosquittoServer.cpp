#include "MosquittoServer.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "Paths.h"
#include "Ports.h"

namespace parley::testing {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(10);

void writeFile(const std::string& path, const std::string& content) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << content;
    file.close();
    if (!file) {
        throw std::runtime_error("MosquittoServer: cannot write " + path);
    }
}

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace

// In a sanitized build Parley's broker plugin is instrumented too, and ASan must be the first
// library of the process that loads it: the broker (not instrumented) gets it preloaded, with
// libstdc++ (tests/support/CMakeLists.txt). Its own
// leaks at exit are not Parley's and nobody reads its exit status, so leak checks are off there.
std::map<std::string, std::string> MosquittoServer::environment() {
#ifdef PARLEY_ASAN_PRELOAD
    return {{"LD_PRELOAD", PARLEY_ASAN_PRELOAD}, {"ASAN_OPTIONS", "detect_leaks=0"}};
#else
    return {};
#endif
}

MosquittoServer::MosquittoServer(std::vector<BrokerUser> users, BrokerOptions options)
    : dir_("parley-mosquitto"),
      port_(freeLoopbackPort()),
      tls_(std::move(options.tls)),
      configFile_(dir_.file("mosquitto.conf")),
      passwordFile_(dir_.file("passwd")),
      logFile_(dir_.file("mosquitto.log")),
      pluginOptions_(std::move(options.pluginOptions)),
      extraConfig_(std::move(options.extraConfig)),
      parleyConfig_(std::move(options.parleyConfig)),
      logEveryPacket_(options.logEveryPacket) {
    std::string passwords;
    for (const auto& user : users) {
        if (user.name.empty() || user.name.find(':') != std::string::npos) {
            throw std::invalid_argument("MosquittoServer: bad user name '" + user.name + "'");
        }
        passwords += user.name + ":" + user.password + "\n";
    }
    writeFile(passwordFile_, passwords);
    const std::string toolLog = dir_.file("mosquitto_passwd.log");
    if (runToCompletion({"mosquitto_passwd", "-U", passwordFile_}, toolLog,
                        std::chrono::seconds(30)) != 0) {
        throw std::runtime_error("MosquittoServer: mosquitto_passwd -U failed:\n" +
                                 readFile(toolLog));
    }

    // The free port may be taken by someone else before mosquitto binds it: pick another.
    for (int attempt = 1;; ++attempt) {
        if (tls_) {
            do {
                tlsPort_ = freeLoopbackPort();
                wssPort_ = freeLoopbackPort();
            } while (tlsPort_ == port_ || wssPort_ == port_ || wssPort_ == tlsPort_);
        }
        writeConfig();
        if (tryStart()) {
            return;
        }
        if (attempt == 3) {
            throw std::runtime_error("MosquittoServer: no free port after 3 attempts:\n" + log());
        }
        port_ = freeLoopbackPort();
    }
}

MosquittoServer::~MosquittoServer() = default;  // ChildProcess stops the broker

void MosquittoServer::writeConfig() const {
    const std::string brokerConfig = sourceDir() + "/config/mosquitto";
    std::ostringstream config;
    // Started as root, mosquitto switches to user `mosquitto` before it reads the password file
    // (exit "Unable to open pwfile" from a 0700 TempDir), and the switch also clears the
    // parent-death signal, so it would outlive a crashed test. `user root` keeps it as it was
    // started; when not started as root the setting does nothing.
    config << "user root\n"
           << "listener " << port_ << " 127.0.0.1\n"
           << "password_file " << passwordFile_ << "\n"
           << "persistence false\n"
           << "log_dest stderr\n";
    if (logEveryPacket_) {
        config << "log_type all\n";
    } else {
        config << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    }
    if (parleyConfig_) {
        config << *parleyConfig_ << (parleyConfig_->ends_with('\n') ? "" : "\n");
    } else {
        config << "acl_file " << brokerConfig << "/acl\n"
               << "include_dir " << brokerConfig << "/conf.d\n"
               << "plugin " << PARLEY_BROKER_PLUGIN_PATH << "\n";
        if (!pluginOptions_.empty()) {
            config << pluginOptions_ << (pluginOptions_.back() == '\n' ? "" : "\n");
        }
    }
    if (tls_) {
        for (const auto& [port, protocol] :
             {std::pair{tlsPort_, "mqtt"}, {wssPort_, "websockets"}}) {
            config << "listener " << port << " 127.0.0.1\n"
                   << "protocol " << protocol << "\n"
                   << "certfile " << tls_->certFile << "\n"
                   << "keyfile " << tls_->keyFile << "\n";
            if (!tls_->caFile.empty()) {
                config << "cafile " << tls_->caFile << "\n";
            }
            if (tls_->requireClientCertificate) {
                config << "require_certificate true\n";
            }
        }
    }
    if (!extraConfig_.empty()) {
        config << extraConfig_ << (extraConfig_.back() == '\n' ? "" : "\n");
    }
    writeFile(configFile_, config.str());
}

std::string MosquittoServer::uri() const {
    return "tcp://127.0.0.1:" + std::to_string(port_);
}

std::string MosquittoServer::tlsUri(const std::string& host) const {
    return "ssl://" + host + ":" + std::to_string(tlsPort_);
}

std::string MosquittoServer::wssUri(const std::string& host) const {
    return "wss://" + host + ":" + std::to_string(wssPort_);
}

bool MosquittoServer::tryStart() {
    if (process_ && process_->running()) {
        throw std::logic_error("MosquittoServer::start: already running");
    }
    process_.reset();
    const size_t logStart = readFile(logFile_).size();
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"mosquitto", "-c", configFile_}, logFile_, environment());
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (true) {
        if (!process_->running()) {
            process_.reset();
            if (readFile(logFile_).find("Address already in use", logStart) != std::string::npos) {
                return false;
            }
            throw std::runtime_error("MosquittoServer: mosquitto exited at start (port " +
                                     std::to_string(port_) + "):\n" + log());
        }
        // The port alone could be someone else's: mosquitto logs "running" once it has bound it.
        if (readFile(logFile_).find(" running", logStart) != std::string::npos &&
            waitForPort(port_, std::chrono::milliseconds(50))) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (std::chrono::steady_clock::now() >= deadline) {
            process_.reset();
            throw std::runtime_error("MosquittoServer: not listening on port " +
                                     std::to_string(port_) + " after 10 s:\n" + log());
        }
    }
}

void MosquittoServer::start() {
    if (!tryStart()) {
        throw std::runtime_error("MosquittoServer: port " + std::to_string(port_) + " is taken:\n" +
                                 log());
    }
}

void MosquittoServer::stop() {
    if (process_) {
        process_->terminate(kStopTimeout);
        process_.reset();
    }
}

void MosquittoServer::restart() {
    stop();
    start();
}

void MosquittoServer::kill9() {
    if (process_) {
        process_->kill9();
        process_.reset();
    }
}

void MosquittoServer::reload() {
    if (!process_ || !process_->running()) {
        throw std::logic_error("MosquittoServer::reload: not running");
    }
    ::kill(process_->pid(), SIGHUP);
}

std::string MosquittoServer::log() const {
    return readFile(logFile_);
}

}  // namespace parley::testing
