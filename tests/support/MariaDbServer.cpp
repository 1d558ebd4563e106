#include "MariaDbServer.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "Ports.h"

namespace parley::testing {

namespace {

constexpr auto kInstallTimeout = std::chrono::seconds(120);
constexpr auto kStopTimeout = std::chrono::seconds(60);
constexpr auto kClientTimeout = std::chrono::seconds(30);

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string randomPassword() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device random;
    std::uniform_int_distribution<size_t> pick(0, sizeof kAlphabet - 2);
    std::string password;
    for (int i = 0; i < 24; ++i) {
        password += kAlphabet[pick(random)];
    }
    return password;
}

bool runningAsRoot() {
    return ::geteuid() == 0;
}

// Gives `path` to the system account `user` (when the tests run as root and mariadbd runs as
// another account, it must own its folder).
void giveTo(const std::string& path, const std::string& user) {
    const passwd* account = ::getpwnam(user.c_str());
    if (account == nullptr) {
        throw std::runtime_error("MariaDbServer: no system account '" + user + "'");
    }
    if (::chown(path.c_str(), account->pw_uid, account->pw_gid) != 0) {
        throw std::runtime_error("MariaDbServer: chown " + path + " to " + user + " failed");
    }
}

}  // namespace

namespace {
MariaDbOptions withTls(std::optional<DatabaseTls> tls) {
    MariaDbOptions options;
    options.tls = std::move(tls);
    return options;
}
}  // namespace

MariaDbServer::MariaDbServer(std::optional<DatabaseTls> tls)
    : MariaDbServer(withTls(std::move(tls))) {}

MariaDbServer::MariaDbServer(MariaDbOptions options)
    : options_(std::move(options)),
      dir_(options_.folderPrefix),
      tls_(options_.tls.has_value()),
      port_(freeLoopbackPort()),
      password_(options_.password.empty() ? randomPassword() : options_.password) {
    const auto& tls = options_.tls;
    const bool otherAccount = runningAsRoot() && options_.systemUserWhenRoot != "root";
    if (tls) {
        // Copies at fixed names: replaceTlsCertificate() overwrites them and reloads.
        namespace fs = std::filesystem;
        fs::copy_file(tls->caFile, dir_.file("tls-ca.pem"));
        fs::copy_file(tls->certFile, dir_.file("tls-cert.pem"));
        fs::copy_file(tls->keyFile, dir_.file("tls-key.pem"));
    }
    // A private tmpdir: servers bootstrapping at once in a shared /tmp have failed to find
    // their own temporary tables ("Could not remove temporary table '/tmp/#sql-temptable-...'").
    std::filesystem::create_directories(dir_.file("tmp"));
    if (otherAccount) {
        giveTo(dir_.path(), options_.systemUserWhenRoot);
        giveTo(dir_.file("tmp"), options_.systemUserWhenRoot);
    }
    std::vector<std::string> install = {"mariadb-install-db",
                                        "--no-defaults",
                                        "--datadir=" + dir_.file("data"),
                                        "--tmpdir=" + dir_.file("tmp"),
                                        "--auth-root-authentication-method=normal",
                                        "--skip-test-db"};
    if (runningAsRoot()) {
        install.push_back("--user=" + options_.systemUserWhenRoot);
    }
    const std::string installLog = dir_.file("install.log");
    if (runToCompletion(install, installLog, kInstallTimeout) != 0) {
        throw std::runtime_error("MariaDbServer: mariadb-install-db failed:\n" +
                                 readFile(installLog));
    }

    // The free port may be taken by someone else before mariadbd binds it: pick another.
    for (int attempt = 1; !tryStart(); ++attempt) {
        if (attempt == 3) {
            throw std::runtime_error("MariaDbServer: no free port after 3 attempts:\n" + log());
        }
        port_ = freeLoopbackPort();
    }

    if (!options_.createAccounts) {
        return;
    }
    // 'parley'@'localhost' too: without it the anonymous ''@'localhost' account, where there is
    // one, would win over 'parley'@'%' for connections through the socket.
    std::string sql;
    for (const char* host : {"%", "localhost"}) {
        const std::string account = "'parley'@'" + std::string(host) + "'";
        sql += "CREATE USER " + account + " IDENTIFIED BY '" + password_ + "'; ";
        sql += "GRANT ALL ON `parley%`.* TO " + account + "; ";
    }
    runAsRoot(sql);
}

MariaDbServer::~MariaDbServer() {
    stop();  // a clean shutdown is quick and keeps mariadbd from complaining in the log
}

std::string MariaDbServer::socketPath() const {
    return dir_.file("mysqld.sock");
}

bool MariaDbServer::tryStart() {
    if (process_ && process_->running()) {
        throw std::logic_error("MariaDbServer::start: already running");
    }
    process_.reset();
    const std::string errorLog = dir_.file("mariadbd.err");
    const size_t logStart = readFile(errorLog).size();
    std::vector<std::string> argv = {"mariadbd",
                                     "--no-defaults",
                                     "--datadir=" + dir_.file("data"),
                                     "--tmpdir=" + dir_.file("tmp"),
                                     "--socket=" + socketPath(),
                                     "--port=" + std::to_string(port_),
                                     "--bind-address=127.0.0.1",
                                     "--skip-networking=0",
                                     "--innodb-buffer-pool-size=64M",
                                     "--innodb-log-file-size=48M",
                                     "--pid-file=" + dir_.file("mariadbd.pid"),
                                     "--log-error=" + errorLog};
    argv.insert(argv.end(), options_.serverArgs.begin(), options_.serverArgs.end());
    if (!started_) {
        argv.insert(argv.end(), options_.firstStartArgs.begin(), options_.firstStartArgs.end());
    }
    if (tls_) {
        argv.push_back("--ssl-ca=" + dir_.file("tls-ca.pem"));
        argv.push_back("--ssl-cert=" + dir_.file("tls-cert.pem"));
        argv.push_back("--ssl-key=" + dir_.file("tls-key.pem"));
    }
    if (runningAsRoot()) {
        // mariadbd refuses to run as root unless told
        argv.push_back("--user=" + options_.systemUserWhenRoot);
    }
    process_ = std::make_unique<ChildProcess>(std::move(argv), dir_.file("mariadbd.out"));

    const auto deadline = std::chrono::steady_clock::now() + options_.startTimeout;
    const std::string probeLog = dir_.file("probe.log");
    while (true) {
        if (!process_->running()) {
            process_.reset();
            if (readFile(errorLog).find("Address already in use", logStart) != std::string::npos) {
                return false;
            }
            throw std::runtime_error("MariaDbServer: mariadbd exited at start (port " +
                                     std::to_string(port_) + "):\n" + log());
        }
        // Truncated each time: only the last probe's output is of interest.
        std::ofstream(probeLog, std::ios::trunc).close();
        const int probe = runToCompletion(
            {"mariadb", "--no-defaults", "--socket=" + socketPath(), "-uroot", "-e", "SELECT 1"},
            probeLog, kClientTimeout);
        if (probe == 0 && waitForPort(port_, std::chrono::milliseconds(0))) {
            started_ = true;
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            process_.reset();
            throw std::runtime_error("MariaDbServer: not answering after " +
                                     std::to_string(options_.startTimeout.count()) + " s (port " +
                                     std::to_string(port_) + "):\n" + log() + "\nlast probe:\n" +
                                     readFile(probeLog));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void MariaDbServer::start() {
    if (!tryStart()) {
        throw std::runtime_error("MariaDbServer: port " + std::to_string(port_) + " is taken:\n" +
                                 log());
    }
}

void MariaDbServer::stop() {
    if (process_) {
        process_->terminate(kStopTimeout);
        process_.reset();
    }
}

void MariaDbServer::kill9() {
    if (process_) {
        process_->kill9();
        process_.reset();
    }
}

std::string MariaDbServer::createDatabase() {
    const std::string name = "parley_" + std::to_string(nextDatabase_++);
    runAsRoot("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    return name;
}

void MariaDbServer::runAsRoot(const std::string& sql) const {
    const std::string clientLog = dir_.file("client.log");
    const size_t logStart = readFile(clientLog).size();
    const int status = runToCompletion(
        {"mariadb", "--no-defaults", "--socket=" + socketPath(), "-uroot", "-e", sql}, clientLog,
        kClientTimeout);
    if (status != 0) {
        throw std::runtime_error("MariaDbServer: SQL failed (status " + std::to_string(status) +
                                 "): " + sql + "\n" + readFile(clientLog).substr(logStart));
    }
}

std::string MariaDbServer::queryAsRoot(const std::string& sql) const {
    const std::string outputFile = dir_.file("query.out");
    std::ofstream(outputFile, std::ios::trunc).close();
    const int status = runToCompletion({"mariadb", "--no-defaults", "--socket=" + socketPath(),
                                        "-uroot", "--batch", "--skip-column-names", "-e", sql},
                                       outputFile, kClientTimeout);
    if (status != 0) {
        throw std::runtime_error("MariaDbServer: query failed (status " + std::to_string(status) +
                                 "): " + sql + "\n" + readFile(outputFile));
    }
    return readFile(outputFile);
}

void MariaDbServer::replaceTlsCertificate(const std::string& certFile, const std::string& keyFile) {
    if (!tls_) {
        throw std::logic_error("MariaDbServer::replaceTlsCertificate: started without TLS");
    }
    namespace fs = std::filesystem;
    fs::copy_file(certFile, dir_.file("tls-cert.pem"), fs::copy_options::overwrite_existing);
    fs::copy_file(keyFile, dir_.file("tls-key.pem"), fs::copy_options::overwrite_existing);
    runAsRoot("FLUSH SSL");
}

std::string MariaDbServer::log() const {
    std::string text = readFile(dir_.file("mariadbd.err"));
    const std::string output = readFile(dir_.file("mariadbd.out"));
    if (!output.empty()) {
        text += "\n--- stdout/stderr ---\n" + output;
    }
    return text;
}

}  // namespace parley::testing
