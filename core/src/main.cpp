// parleyd: Parley's chat server. See docs/operations.md.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "config/ConfigLoader.h"
#include "hooks/FatalSignalReport.h"
#include "lua/LuaRunner.h"
#include "ops/Metrics.h"
#include "ops/OpsServer.h"
#include "ops/TimedStore.h"
#include "parley/version.h"
#include "protocol/TopicScheme.h"
#include "server/Server.h"
#include "store/MysqlStore.h"
#include "store/SqliteStore.h"
#include "transport/PahoTransport.h"

namespace {

constexpr const char* kUsage = R"(usage: parleyd [--config FILE]
       parleyd --check-config FILE
       parleyd --version

  --config FILE         run with this configuration (default: config/parleyd.yaml)
  --check-config FILE   validate a configuration file and exit (0 = valid)
  --version             print the version and exit
)";

// A secret from a file: the first line, without its line ending.
std::string readSecret(const std::string& path, const std::string& what) {
    std::ifstream file(path);
    if (!file) {
        throw parley::ConfigError(what + ": cannot read " + path);
    }
    std::string line;
    std::getline(file, line);
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return line;
}

std::unique_ptr<parley::store::Store> makeStore(const parley::Config& config) {
    const auto& store = config.store;
    if (store.backend == "mysql") {
        std::string password = store.mysql.password;
        if (!store.mysql.passwordFile.empty()) {
            password = readSecret(store.mysql.passwordFile, "store.mysql.password_file");
        }
        return std::make_unique<parley::store::MysqlStore>(store.mysql, password, store.retryForMs);
    }
    return std::make_unique<parley::store::SqliteStore>(store.sqlite, store.retryForMs);
}

// Migrates the schema, waiting for a database that is not reachable yet (started before it, or
// during its restart) instead of exiting; nullopt if SIGTERM/SIGINT came meanwhile.
std::optional<int> migrateWhenReachable(parley::store::Store& store, const sigset_t& signals) {
    for (int attempt = 1;; ++attempt) {
        try {
            return store.migrate();
        } catch (const parley::store::StoreUnavailable& error) {
            spdlog::warn("store: database unreachable at start (attempt {}), retrying: {}", attempt,
                         error.what());
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

    std::string brokerPassword = config.broker.password;
    if (!config.broker.passwordFile.empty()) {
        brokerPassword = readSecret(config.broker.passwordFile, "broker.password_file");
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
            parley::ops::OpsSources{[&] {
                                        const auto* server = serving.load();
                                        return server != nullptr && server->brokerConnected();
                                    },
                                    [&] {
                                        const auto* server = serving.load();
                                        return server != nullptr ? server->queuedCommands()
                                                                 : size_t{0};
                                    },
                                    [&] {
                                        auto* server = serving.load();
                                        return server != nullptr ? server->hooks().stats()
                                                                 : nlohmann::json::object();
                                    },
                                    [&] {
                                        auto* server = serving.load();
                                        return server != nullptr ? server->describeExtensions()
                                                                 : nlohmann::json::array();
                                    },
                                    [] { return parley::LuaRunner::abandonedCount(); }});
        ops->start();
    }
    const auto version = migrateWhenReachable(*store, signals);
    if (!version) {
        return 0;
    }
    spdlog::info("store: {} schema version {}", store->backendName(), *version);

    const parley::TopicScheme topics(config.topicPrefix);
    parley::PahoTransport transport(config.broker, brokerPassword,
                                    topics.commandSubscription(config.broker.shareGroup));
    parley::SystemClock clock;
    parley::ops::TimedStore timedStore(*store, metrics);
    parley::Server server(config, timedStore, transport, clock, &metrics);
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
    if (!startUnlessSignalled(server, transport)) {
        server.stop();
        return 0;
    }

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
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "--check-config") && i + 1 < argc) {
            configPath = argv[++i];
            checkOnly = arg == "--check-config";
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
        std::cout << configPath << ": configuration is valid\n";
        return 0;
    }

    auto logger = spdlog::stderr_color_mt("parleyd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(config.log.level));
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
