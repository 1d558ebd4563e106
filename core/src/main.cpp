// parleyd: Parley's chat server. See docs/operations.md.

#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "config/ConfigLoader.h"
#include "config/SecretFile.h"
#include "extensions/FatalSignalReport.h"
#include "log/Logging.h"
#include "lua/LuaRunner.h"
#include "ops/Metrics.h"
#include "ops/OpsServer.h"
#include "ops/StoreMetrics.h"
#include "ops/SystemdNotifier.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsSettings.h"
#include "parley/version.h"
#include "parley/wire/TopicScheme.h"
#include "server/Server.h"
#include "server/StartupCheck.h"
#include "store/MysqlStore.h"
#include "store/SqliteBackup.h"
#include "store/SqliteStore.h"
#include "transport/TransportFactory.h"

namespace {

constexpr const char* kUsage = R"(usage: parleyd [--config FILE]
       parleyd --check-config FILE
       parleyd [--config FILE] --backup DEST
       parleyd --version

  --config FILE         run with this configuration (default: config/parleyd.yaml)
  --check-config FILE   check a configuration file and everything it names (secret files, the
                        SQLite folder, scripts, plugins, TLS files), without connecting;
                        exit 0 = valid
  --backup DEST         copy the configuration's SQLite database to the new file DEST, as one
                        consistent snapshot, while parleyd runs (docs/operations.md, Backups)
  --version             print the version and exit
)";

// parleyd --backup: the SQLite store's online backup (store/SqliteBackup.h). MySQL and MariaDB
// have their own tools for it, which docs/operations.md gives.
int backup(const parley::Config& config, const std::string& destination) {
    if (config.store.backend != "sqlite") {
        std::cerr << "parleyd: --backup copies an SQLite store; for MySQL/MariaDB use "
                     "mariadb-dump --single-transaction (docs/operations.md, Backups)\n";
        return 1;
    }
    try {
        const auto summary = parley::store::backupSqlite(config.store.sqlite.path, destination);
        std::cout << "parleyd: backup of " << config.store.sqlite.path << " written to "
                  << destination << ": " << summary.bytes << " bytes, schema version "
                  << summary.schemaVersion << ", " << summary.conversations << " conversations, "
                  << summary.messages << " messages\n";
        return 0;
    } catch (const parley::store::BackupError& error) {
        std::cerr << "parleyd: backup failed: " << error.what() << "\n";
    } catch (const std::exception& error) {
        std::cerr << "parleyd: backup failed: " << error.what() << "\n";
    }
    return 1;
}

// TLS: the files are read before connecting, so that a wrong path or content stops parleyd at
// start with the key and the reason, instead of a connection that fails again and again.
void checkTlsFilesOf(const parley::Config& config) {
    try {
        parley::checkTlsFiles(config.broker.tls);
    } catch (const std::invalid_argument& error) {
        throw parley::ConfigError("broker.tls: " + std::string(error.what()));
    }
    if (config.store.backend == "mysql" && config.store.mysql.tls.enabled()) {
        try {
            parley::checkTlsFiles(config.store.mysql.tls.files);
        } catch (const std::invalid_argument& error) {
            throw parley::ConfigError("store.mysql.tls: " + std::string(error.what()));
        }
    }
}

bool isLoopback(const std::string& host) {
    return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Says so at start when a password would cross a network in the clear.
void warnAboutCleartext(const parley::Config& config) {
    std::string host;
    int port = 0;
    for (const auto& uri : config.broker.uris()) {
        if (!parley::isTlsUri(uri) && parley::parseBrokerUri(uri, host, port) &&
            !isLoopback(host)) {
            spdlog::warn(
                "broker {} is not TLS: parleyd's password and every message cross the network in "
                "the clear (use ssl://, docs/operations.md \"TLS\")",
                uri);
        }
    }
    const auto& mysql = config.store.mysql;
    if (config.store.backend != "mysql" || !mysql.socket.empty() || mysql.tls.enabled()) {
        return;
    }
    std::vector<std::string> hosts;
    for (const auto& server : mysql.hosts) {
        hosts.push_back(server.host);
    }
    if (hosts.empty()) {
        hosts.push_back(mysql.host);
    }
    for (const auto& host : hosts) {
        if (!isLoopback(host)) {
            spdlog::warn(
                "store.mysql has no tls: every query and result cross the network to {} in the "
                "clear (docs/operations.md \"TLS\")",
                host);
        }
    }
}

std::unique_ptr<parley::store::Store> makeStore(const parley::Config& config) {
    const auto& store = config.store;
    if (store.backend == "mysql") {
        std::string password = store.mysql.password;
        if (!store.mysql.passwordFile.empty()) {
            password =
                parley::readSecretFile(store.mysql.passwordFile, "store.mysql.password_file");
        }
        return std::make_unique<parley::store::MysqlStore>(store.mysql, password, store.retryForMs);
    }
    return std::make_unique<parley::store::SqliteStore>(store.sqlite, store.retryForMs);
}

// Migrates the schema, waiting for a database that is not reachable yet (started before it, or
// during its restart) instead of exiting; nullopt if SIGTERM/SIGINT came meanwhile.
std::optional<int> migrateWhenReachable(parley::store::Store& store, const sigset_t& signals,
                                        const parley::ops::SystemdNotifier& systemd) {
    for (int attempt = 1;; ++attempt) {
        try {
            return store.migrate();
        } catch (const parley::store::StoreUnavailable& error) {
            spdlog::warn("store: database unreachable at start (attempt {}), retrying: {}", attempt,
                         error.what());
            systemd.status("waiting for the database (attempt " + std::to_string(attempt) + ")");
        }
        const timespec pause{1, 0};
        const int received = sigtimedwait(&signals, nullptr, &pause);
        if (received == SIGTERM || received == SIGINT) {
            spdlog::info("{} received while waiting for the database", strsignal(received));
            return std::nullopt;
        }
    }
}

// Server::start, which waits for the broker for as long as it takes; a SIGTERM or SIGINT meanwhile
// stops the wait (false). SIGHUP waits until the server is up.
bool startUnlessSignalled(parley::Server& server, parley::Transport& transport) {
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    std::atomic<bool> started{false};
    std::atomic<int> stoppedBy{0};
    std::thread watcher([&] {
        const timespec pause{0, 200 * 1000 * 1000};
        while (!started) {
            const int received = sigtimedwait(&stopSignals, nullptr, &pause);
            if (received > 0) {
                stoppedBy = received;
                transport.stop();
                return;
            }
        }
    });
    bool up = false;
    try {
        up = server.start();
    } catch (...) {
        started = true;
        watcher.join();
        throw;
    }
    started = true;
    watcher.join();
    if (stoppedBy != 0) {  // also if it came just as the connection was made: it was taken here
        spdlog::info("{} received while connecting to the broker", strsignal(stoppedBy.load()));
        return false;
    }
    return up;
}

int run(const parley::Config& config) {
    // Signals are taken by sigwait below; every thread created from here on inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    checkTlsFilesOf(config);
    warnAboutCleartext(config);
    std::string brokerPassword = config.broker.password;
    if (!config.broker.passwordFile.empty()) {
        brokerPassword = parley::readSecretFile(config.broker.passwordFile, "broker.password_file");
    }
    auto store = makeStore(config);
    parley::ops::Metrics metrics;
    // The HTTP endpoint serves from the start, while parleyd waits for its database and broker:
    // /healthz answers, /readyz says what is missing. It asks the server only once there is one.
    std::atomic<parley::Server*> serving{nullptr};
    std::unique_ptr<parley::ops::OpsServer> ops;
    if (config.http.enabled()) {
        ops = std::make_unique<parley::ops::OpsServer>(
            config.http, metrics, *store,
            parley::ops::OpsSources{
                [&] {
                    const auto* server = serving.load();
                    return server != nullptr && server->brokerConnected();
                },
                [&] {
                    const auto* server = serving.load();
                    return server != nullptr ? server->queuedCommands() : size_t{0};
                },
                [&] {
                    auto* server = serving.load();
                    return server != nullptr ? server->hooks().stats() : nlohmann::json::object();
                },
                [&] {
                    auto* server = serving.load();
                    return server != nullptr ? server->describeExtensions()
                                             : nlohmann::json::array();
                },
                [] { return parley::LuaRunner::abandonedCount(); },
                [&](parley::ops::ExtensionHttpExchange& exchange) {
                    auto* server = serving.load();
                    if (server == nullptr) {
                        return;
                    }
                    auto answer = server->extensionServices().handleHttp(
                        exchange.path, {exchange.method, {}, exchange.query, exchange.body});
                    if (answer) {
                        exchange.status = answer->status;
                        exchange.contentType = answer->contentType;
                        exchange.responseBody = std::move(answer->body);
                        exchange.file = std::move(answer->file);
                        exchange.fileBytes = answer->fileBytes;
                        exchange.headers = std::move(answer->headers);
                    }
                }});
        ops->start();
    }
    const parley::ops::SystemdNotifier systemd;
    systemd.status("connecting to the database");
    const auto version = migrateWhenReachable(*store, signals, systemd);
    if (!version) {
        systemd.stopping("stopped while waiting for the database");
        return 0;
    }
    spdlog::info("store: {} schema version {}", store->backendName(), *version);

    const parley::TopicScheme topics(config.topicPrefix);
    const auto transportOwner = parley::makeTransport(
        config.broker, brokerPassword, topics.commandSubscription(config.broker.shareGroup));
    parley::Transport& transport = *transportOwner;
    parley::SystemClock clock;
    // The store reports the server's calls to the metrics (the ops endpoint's probes are not
    // reported), until the server is gone.
    parley::ops::StoreMetrics storeMetrics(metrics);
    store->setObserver(&storeMetrics);
    struct Unobserve {
        parley::store::Store& store;
        ~Unobserve() { store.setObserver(nullptr); }
    } unobserve{*store};
    parley::Server server(config, *store, transport, clock, &metrics);
    // Destroyed before `server`, also when start() throws: the endpoint's threads are joined
    // before the server they ask goes away.
    struct StopOps {
        std::unique_ptr<parley::ops::OpsServer>& ops;
        ~StopOps() {
            if (ops) {
                ops->stop();
            }
        }
    } stopOps{ops};
    serving = &server;
    systemd.status("connecting to the broker");
    if (!startUnlessSignalled(server, transport)) {
        systemd.stopping("stopped while connecting to the broker");
        server.stop();
        return 0;
    }
    // Right after "parleyd ready" is logged: subscribed, so commands published from now on reach
    // this instance.
    systemd.ready("ready: store=" + store->backendName() + " topics=" + config.topicPrefix);

    for (;;) {
        int received = 0;
        sigwait(&signals, &received);
        if (received == SIGHUP) {
            spdlog::info("SIGHUP: reloading scripts");
            const auto outcome = server.reloadScripts();
            spdlog::info("scripts reloaded: {}", outcome.dump());
            continue;
        }
        spdlog::info("{} received", strsignal(received));
        break;
    }
    systemd.stopping("stopping: finishing the commands in flight");
    if (ops) {
        ops->setStopping();
    }
    server.stop();
    if (ops) {
        ops->stop();
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string configPath = "config/parleyd.yaml";
    bool checkOnly = false;
    std::optional<std::string> backupTo;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "--check-config") && i + 1 < argc) {
            configPath = argv[++i];
            checkOnly = arg == "--check-config";
        } else if (arg == "--backup" && i + 1 < argc) {
            backupTo = argv[++i];
        } else if (arg == "--version") {
            std::cout << "parleyd " << PARLEY_VERSION << "\n";
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        } else {
            std::cerr << "parleyd: unexpected argument '" << arg << "'\n" << kUsage;
            return 2;
        }
    }

    parley::Config config;
    try {
        config = parley::loadConfigFile(configPath);
    } catch (const parley::ConfigError& error) {
        std::cerr << "parleyd: invalid configuration: " << error.what() << "\n";
        return 1;
    }
    if (checkOnly) {
        const auto check = parley::checkStartup(config);
        for (const auto& problem : check.problems) {
            std::cerr << "parleyd: invalid configuration: " << problem << "\n";
        }
        if (!check.problems.empty()) {
            return 1;
        }
        for (const auto& note : check.notes) {
            std::cout << "note: " << note << "\n";
        }
        std::cout << configPath << ": configuration is valid\n";
        return 0;
    }
    if (backupTo) {
        return backup(config, *backupTo);
    }

    parley::log::configureLogging(config.log);
    spdlog::info("parleyd {} starting with {}", PARLEY_VERSION, configPath);
    // A plugin's crash is parleyd's: the log then says which plugin, and in which hook or command.
    parley::installFatalSignalReport();

    try {
        return run(config);
    } catch (const parley::ConfigError& error) {
        spdlog::critical("invalid configuration: {}", error.what());
    } catch (const std::exception& error) {
        spdlog::critical("cannot run: {}", error.what());
    }
    return 1;
}
