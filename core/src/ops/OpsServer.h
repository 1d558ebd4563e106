#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ops/HttpConfig.h"
#include "ops/Metrics.h"
#include "store/Store.h"

namespace httplib {
class Server;
}

namespace parley::ops {

// A request to an extension's route (/ext/...), and its answer.
struct ExtensionHttpExchange {
    std::string method;
    std::string path;  // the full path, /ext/{extension}/...
    std::string query;
    std::string body;
    int status = 404;
    std::string contentType = "text/plain; charset=utf-8";
    std::string responseBody = "not found\n";
    // Instead of responseBody: fileBytes bytes of an open file, streamed (a plugin's download).
    std::shared_ptr<std::FILE> file{};
    int64_t fileBytes = 0;
    std::vector<std::pair<std::string, std::string>> headers{};
};

// What the endpoints read from the rest of parleyd.
struct OpsSources {
    std::function<bool()> brokerConnected;
    std::function<size_t()> queuedCommands;
    std::function<nlohmann::json()> extensionStats;  // HookBus::stats()
    std::function<nlohmann::json()> extensions;      // ExtensionManager::describe()
    std::function<uint64_t()> abandonedLuaThreads;   // LuaRunner::abandonedCount()
    // Fills the answer of an extension's HTTP route (ExtensionServices::handleHttp); unset or
    // leaving it as is: 404.
    std::function<void(ExtensionHttpExchange&)> extensionHttp{};
};

// The operations HTTP endpoint (docs/operations.md): /healthz, /readyz, /metrics on
// http.listen:http.port, served by two threads of its own. A prober thread pings the database
// every second (one attempt, through the store's pool) and counts users by presence every 15 s,
// so a scrape or a probe never waits on the database.
class OpsServer {
  public:
    // `store`: its probes (ping, presenceCounts) are not reported to the store's observer, so
    // they do not count as commands' work.
    OpsServer(const HttpConfig& config, Metrics& metrics, store::Store& store, OpsSources sources);
    ~OpsServer();
    OpsServer(const OpsServer&) = delete;
    OpsServer& operator=(const OpsServer&) = delete;

    // Binds and starts serving; returns the bound port (the actual one when http.port is 0).
    // Throws std::runtime_error if the address cannot be bound.
    int start();
    // From now on /readyz answers 503 ("stopping"): load balancers stop sending work.
    void setStopping() { stopping_ = true; }
    void stop();

    // /readyz: whether ready, and the body (broker, database, stopping).
    std::pair<bool, nlohmann::json> readiness() const;
    // /metrics
    std::string metricsText() const;

    static constexpr int64_t kProbeIntervalMs = 1000;
    // A database that has not answered a ping for this long is not ready.
    static constexpr int64_t kProbeTimeoutMs = 2000;
    static constexpr int64_t kPresenceIntervalMs = 15000;

  private:
    void probeLoop();

    HttpConfig config_;
    Metrics& metrics_;
    store::Store& store_;
    OpsSources sources_;
    std::unique_ptr<httplib::Server> http_;
    std::thread serving_;
    std::thread prober_;
    std::mutex probeMutex_;
    std::condition_variable probeWake_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> closing_{false};

    // Steady ms; 0 = never / none in progress.
    std::atomic<int64_t> pingStartedMs_{0};
    std::atomic<int64_t> lastPingOkMs_{0};
    std::atomic<bool> lastPingFailed_{false};
    mutable std::mutex errorMutex_;
    std::string lastPingError_;
    std::atomic<int64_t> usersOnline_{-1};  // -1: not counted yet
    std::atomic<int64_t> usersAway_{-1};
};

}  // namespace parley::ops
