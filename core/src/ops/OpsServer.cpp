#include "ops/OpsServer.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <stdexcept>

namespace parley::ops {

namespace {
int64_t steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void processMetrics(Exposition& out) {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        const double cpu =
            static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
            static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
        out.family("process_cpu_seconds_total", "counter", "CPU time parleyd used, user + system");
        out.sample("process_cpu_seconds_total", {}, cpu);
    }
    std::ifstream statm("/proc/self/statm");
    long pages = 0, residentPages = 0;
    if (statm >> pages >> residentPages) {
        out.family("process_resident_memory_bytes", "gauge", "parleyd's resident memory");
        out.sample("process_resident_memory_bytes", {},
                   static_cast<int64_t>(residentPages) * sysconf(_SC_PAGESIZE));
    }
}
}  // namespace

OpsServer::OpsServer(const HttpConfig& config, Metrics& metrics, store::Store& store,
                     OpsSources sources)
    : config_(config), metrics_(metrics), store_(store), sources_(std::move(sources)) {}

OpsServer::~OpsServer() {
    stop();
}

int OpsServer::start() {
    http_ = std::make_unique<httplib::Server>();
    http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
    http_->set_read_timeout(5, 0);
    http_->set_write_timeout(5, 0);
    http_->set_keep_alive_max_count(100);
    http_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("ok\n", "text/plain");
    });
    http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
        auto [ready, body] = readiness();
        response.status = ready ? 200 : 503;
        response.set_content(body.dump() + "\n", "application/json");
    });
    http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Extensions' routes (plugin.h, http_route_register): the unsubscribe link of an email.
    const auto extensionRoute = [this](const httplib::Request& request,
                                       httplib::Response& response) {
        ExtensionHttpExchange exchange{request.method, request.path, {}, request.body};
        const auto mark = request.target.find('?');
        if (mark != std::string::npos) {
            exchange.query = request.target.substr(mark + 1);
        }
        if (sources_.extensionHttp) {
            sources_.extensionHttp(exchange);
        }
        response.status = exchange.status;
        for (const auto& [name, value] : exchange.headers) {
            response.set_header(name, value);
        }
        if (!exchange.file) {
            response.set_content(exchange.responseBody, exchange.contentType);
            return;
        }
        // Streamed in pieces from the open file: a 25 MiB download never sits in memory.
        response.set_content_provider(
            static_cast<size_t>(exchange.fileBytes), exchange.contentType,
            [file = exchange.file](size_t offset, size_t length, httplib::DataSink& sink) {
                std::array<char, 64 * 1024> piece{};
                const size_t wanted = std::min(length, piece.size());
                const ssize_t got =
                    ::pread(::fileno(file.get()), piece.data(), wanted, static_cast<off_t>(offset));
                if (got <= 0) {
                    return false;  // the file shrank: cut the connection
                }
                return sink.write(piece.data(), static_cast<size_t>(got));
            });
    };
    http_->Get(R"(/ext/.+)", extensionRoute);
    http_->Post(R"(/ext/.+)", extensionRoute);
    int port = config_.port;
    if (port == 0) {
        port = http_->bind_to_any_port(config_.listen);
    } else if (!http_->bind_to_port(config_.listen, port)) {
        port = -1;
    }
    if (port <= 0) {
        throw std::runtime_error("http: cannot listen on " + config_.listen + ":" +
                                 std::to_string(config_.port) + " (address in use or not local?)");
    }
    prober_ = std::thread([this] { probeLoop(); });
    serving_ = std::thread([this] { http_->listen_after_bind(); });
    spdlog::info("http: listening on {}:{} (/healthz /readyz /metrics)", config_.listen, port);
    return port;
}

void OpsServer::stop() {
    if (closing_.exchange(true)) {
        return;
    }
    stopping_ = true;
    if (http_) {
        http_->stop();
    }
    if (serving_.joinable()) {
        serving_.join();
    }
    {
        std::lock_guard lock(probeMutex_);
        probeWake_.notify_all();
    }
    if (prober_.joinable()) {
        prober_.join();
    }
}

void OpsServer::probeLoop() {
    int64_t lastPresenceMs = INT64_MIN / 2;
    std::unique_lock lock(probeMutex_);
    while (!closing_) {
        lock.unlock();
        const int64_t started = steadyMs();
        pingStartedMs_ = started;
        bool ok = false;
        try {
            store_.ping();
            ok = true;
        } catch (const std::exception& error) {
            std::lock_guard errorLock(errorMutex_);
            if (!lastPingFailed_) {
                spdlog::warn("readiness: the database does not answer: {}", error.what());
            }
            lastPingError_ = error.what();
        }
        pingStartedMs_ = 0;
        if (ok) {
            if (lastPingFailed_) {
                spdlog::info("readiness: the database answers again");
            }
            lastPingOkMs_ = steadyMs();
        }
        lastPingFailed_ = !ok;
        if (ok && steadyMs() - lastPresenceMs >= kPresenceIntervalMs) {
            try {
                const auto counts = store_.presenceCounts();
                usersOnline_ = counts.online;
                usersAway_ = counts.away;
                lastPresenceMs = steadyMs();
            } catch (const std::exception& error) {
                spdlog::debug("metrics: counting users by presence failed: {}", error.what());
            }
        }
        lock.lock();
        probeWake_.wait_for(lock, std::chrono::milliseconds(kProbeIntervalMs),
                            [this] { return closing_.load(); });
    }
}

std::pair<bool, nlohmann::json> OpsServer::readiness() const {
    const int64_t now = steadyMs();
    const bool broker = sources_.brokerConnected && sources_.brokerConnected();
    const int64_t pingStarted = pingStartedMs_;
    const int64_t lastOk = lastPingOkMs_;
    std::string database = "ok";
    if (pingStarted != 0 && now - pingStarted > kProbeTimeoutMs) {
        database = "no answer for " + std::to_string((now - pingStarted) / 1000) + " s";
    } else if (lastPingFailed_) {
        std::lock_guard lock(errorMutex_);
        database = "unreachable: " + lastPingError_;
    } else if (lastOk == 0) {
        database = "not checked yet";
    } else if (now - lastOk > kProbeIntervalMs + kProbeTimeoutMs + 2000) {
        database = "no answer for " + std::to_string((now - lastOk) / 1000) + " s";
    }
    const bool stopping = stopping_;
    const bool ready = broker && database == "ok" && !stopping;
    nlohmann::json body = {{"ready", ready},
                           {"broker", broker ? "connected" : "disconnected"},
                           {"database", database}};
    if (stopping) {
        body["stopping"] = true;
    }
    return {ready, body};
}

std::string OpsServer::metricsText() const {
    Exposition out;
    metrics_.render(out);
    const auto [ready, body] = readiness();
    out.family("parley_ready", "gauge", "1 when /readyz answers 200");
    out.sample("parley_ready", {}, ready ? 1 : 0);
    out.family("parley_broker_connected", "gauge", "1 while connected to the broker");
    out.sample("parley_broker_connected", {}, body["broker"] == "connected" ? 1 : 0);
    out.family("parley_database_up", "gauge", "1 while the database answers the readiness ping");
    out.sample("parley_database_up", {}, body["database"] == "ok" ? 1 : 0);
    out.family("parley_worker_queue_depth", "gauge", "Commands waiting for a worker");
    out.sample("parley_worker_queue_depth", {},
               sources_.queuedCommands ? sources_.queuedCommands() : size_t{0});
    const int64_t online = usersOnline_;
    const int64_t away = usersAway_;
    if (online >= 0) {
        out.family("parley_connected_users", "gauge",
                   "Users online or away, from the database (every instance), counted every 15 s");
        out.sample("parley_connected_users", {{"state", "online"}}, online);
        out.sample("parley_connected_users", {{"state", "away"}}, away);
    }
    if (sources_.extensionStats) {
        const auto stats = sources_.extensionStats();
        const std::pair<const char*, const char*> families[] = {
            {"calls", "Calls into extensions, by extension and hook or command"},
            {"failures", "Extension calls that threw, failed or overran their budget"},
            {"overruns", "Extension calls that overran their time budget"},
            {"rejections", "Events and commands extensions rejected"}};
        for (const auto& [field, help] : families) {
            const std::string name = std::string("parley_extension_") + field + "_total";
            out.family(name, "counter", help);
            for (const auto& entry : stats) {
                out.sample(name,
                           {{"extension", entry.value("extension", "")},
                            {"point", entry.value("point", "")}},
                           entry.value(field, uint64_t{0}));
            }
        }
    }
    if (sources_.extensions) {
        out.family("parley_extension_disabled", "gauge",
                   "1 for a script the watchdog disabled (admin.extensions says why), until it "
                   "is reloaded");
        for (const auto& extension : sources_.extensions()) {
            out.sample(
                "parley_extension_disabled",
                {{"extension", extension.value("name", "")}, {"kind", extension.value("kind", "")}},
                extension.value("state", "") == "disabled" ? 1 : 0);
        }
    }
    if (sources_.abandonedLuaThreads) {
        out.family("parley_lua_abandoned_threads", "gauge",
                   "Threads left behind with a script call the watchdog gave up on, since start "
                   "(each may keep a core busy and its script's memory until parleyd restarts)");
        out.sample("parley_lua_abandoned_threads", {},
                   static_cast<double>(sources_.abandonedLuaThreads()));
    }
    processMetrics(out);
    return out.text();
}

}  // namespace parley::ops
