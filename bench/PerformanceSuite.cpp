// parley-bench-suite: the benchmark of docs/performance.md in one command. Starts a private
// Mosquitto (loopback, free port, Parley's broker settings), then for each backend (SQLite,
// MariaDB) a parleyd, and the raw ceiling's relay in its place; runs the same load on each: 1:1
// pairs and 50-member groups, flood and 1,000 and 5,000 msg/s offered; prints a Markdown table.
// Everything stops by itself and lives in temporary folders.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "ChildProcess.h"
#include "GaleraCluster.h"
#include "LoadRun.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "PollLoadRun.h"
#include "Ports.h"
#include "ProcessStats.h"
#include "TempDir.h"

using namespace parley;
using namespace parley::testing;

namespace {

constexpr const char* kServicePassword = "bench-service-secret";
constexpr const char* kUserPassword = "bench-pw";

struct Scenario {
    std::string name;
    int groupSize;
    double rate;  // 0: flood
    // Commands of one extra flooding user (LoadOptions::flooderCommands); kWholeRun: it floods
    // as fast as it can for as long as the others send.
    long long flooder = 0;
    bool flooderDenied = false;  // LoadOptions::flooderDenied
};
constexpr long long kWholeRun = -1;

struct Row {
    std::string target;  // "raw", "sqlite", "mariadb"
    Scenario scenario;
    bench::LoadReport report;
};

constexpr const char* kCeiling = "broker + null relay (ceiling)";
constexpr const char* kSocketIo = "Socket.IO + mysql2 + MariaDB";

// The Socket.IO client's report (clients/bench/socketio/client.mjs: parley-bench's JSON keys).
bench::LatencySummary latencyFromJson(const nlohmann::json& json) {
    return {json.value("count", size_t{0}), json.value("p50_ms", 0.0), json.value("p90_ms", 0.0),
            json.value("p99_ms", 0.0), json.value("max_ms", 0.0)};
}

bench::LoadReport reportFromJson(const nlohmann::json& json, const bench::LoadOptions& options) {
    bench::LoadReport report;
    report.options = options;
    report.sendingSeconds = json.value("sending_seconds", 0.0);
    report.sent = json.value("sent", 0LL);
    report.stored = json.value("stored", 0LL);
    if (const auto refused = json.find("refused"); refused != json.end() && refused->is_object()) {
        for (auto entry = refused->begin(); entry != refused->end(); ++entry) {
            report.refused[entry.key()] = entry.value().get<long long>();
        }
    }
    report.unanswered = json.value("unanswered", 0LL);
    report.duplicateStores = json.value("duplicate_stores", 0LL);
    report.seqGaps = json.value("seq_gaps", 0LL);
    report.deliveriesExpected = json.value("deliveries_expected", 0LL);
    report.delivered = json.value("delivered", 0LL);
    report.lostDeliveries = json.value("lost_deliveries", 0LL);
    report.duplicateDeliveries = json.value("duplicate_deliveries", 0LL);
    report.storedPerSecond = json.value("stored_per_second", 0.0);
    report.deliveredPerSecond = json.value("delivered_per_second", 0.0);
    report.replyLatency = latencyFromJson(json.value("reply_latency", nlohmann::json::object()));
    report.deliveryLatency =
        latencyFromJson(json.value("delivery_latency", nlohmann::json::object()));
    report.benchCpuPercent = json.value("bench_cpu_percent", 0.0);
    report.benchCpuMicrosPerMessage = json.value("bench_cpu_us_per_message", -1.0);
    report.heldBack = json.value("held_back", 0LL);
    report.generator = json.value("generator", "");
    return report;
}

std::string fixed(double value, int digits) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.*f", digits, value);
    return text;
}

// Any load named the way the table names its own: "1:1, 500/s", "groups of 10, flood",
// "groups of 50, 2,000/s". Nothing if the name has another shape.
std::optional<Scenario> loadNamed(const std::string& name) {
    // At most 4 digits of group size and 9 characters of rate, so the numbers always convert.
    static const std::regex shape(
        R"(^(1:1|groups of ([0-9]{1,4})), (flood|([0-9][0-9,]{0,8})/s)$)");
    std::smatch match;
    if (!std::regex_match(name, match, shape)) {
        return std::nullopt;
    }
    const int groupSize = match[2].matched ? std::stoi(match[2].str()) : 2;
    double rate = 0;
    if (match[4].matched) {
        std::string digits = match[4].str();
        std::erase(digits, ',');
        rate = std::stod(digits);
    }
    if (groupSize < 2 || (match[4].matched && rate <= 0)) {
        return std::nullopt;
    }
    return Scenario{name, groupSize, rate};
}

// "parleyd + MariaDB, 1:1, 1,000/s" -> "parleyd-mariadb-1-1-1000-s"
std::string fileNameOf(const std::string& text) {
    std::string name;
    for (const char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (c != ',' && !name.empty() && name.back() != '-') {
            name += '-';
        }
    }
    while (!name.empty() && name.back() == '-') {
        name.pop_back();
    }
    return name;
}

std::string machine() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, model;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    }
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores";
}

void printTable(const std::vector<Row>& rows) {
    std::cout
        << "\n| load | server | stored msg/s | delivered/s | reply p50 / p99 ms | "
           "recipient p50 / p90 / p99 / max ms | lost | dup | server CPU | server RSS | DB CPU | "
           "steal | CPU wait ms |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
        const auto& r = row.report;
        std::cout << "| " << row.scenario.name << " | " << row.target << " | "
                  << fixed(r.storedPerSecond, 0) << " | " << fixed(r.deliveredPerSecond, 0) << " | "
                  << fixed(r.replyLatency.p50, 2) << " / " << fixed(r.replyLatency.p99, 2) << " | "
                  << fixed(r.deliveryLatency.p50, 2) << " / " << fixed(r.deliveryLatency.p90, 2)
                  << " / " << fixed(r.deliveryLatency.p99, 2) << " / "
                  << fixed(r.deliveryLatency.max, 1) << " | " << (r.unanswered + r.lostDeliveries)
                  << " | " << (r.duplicateDeliveries + r.duplicateStores + r.seqGaps) << " | "
                  << fixed(r.serverCpuPercent, 0) << "% | " << r.serverRssMaxKiB / 1024 << " MiB | "
                  << (r.databaseCpuPercent >= 0 ? fixed(r.databaseCpuPercent, 0) + "%" : "-")
                  << " | " << (r.stealPercent >= 0 ? fixed(r.stealPercent, 0) + "%" : "-") << " | "
                  << (r.runQueueWaitMs >= 0 ? fixed(r.runQueueWaitMs, 2) : "-") << " |\n";
    }
    // Side by side (issue 20's table): each server's 1:1 flood, its latency at 1,000 and 5,000
    // msg/s offered, and what it cost per message, from the rows above.
    std::vector<std::string> targets;
    for (const auto& row : rows) {
        if (std::find(targets.begin(), targets.end(), row.target) == targets.end()) {
            targets.push_back(row.target);
        }
    }
    const auto find = [&](const std::string& target, int groupSize, double rate) -> const Row* {
        for (const auto& row : rows) {
            if (row.target == target && row.scenario.groupSize == groupSize &&
                row.scenario.rate == rate && row.scenario.flooder == 0) {
                return &row;
            }
        }
        return nullptr;
    };
    const Row* ceiling = find(kCeiling, 2, 0);
    const auto paced = [](const Row* row) -> std::string {
        if (row == nullptr) {
            return "-";
        }
        const auto& r = row->report;
        std::string text = fixed(r.replyLatency.p50, 2) + " / " + fixed(r.replyLatency.p99, 2);
        // Short of the offered rate: overloaded, say what it reached.
        if (r.storedPerSecond < 0.95 * row->scenario.rate) {
            text += " (overloaded: " + fixed(r.storedPerSecond, 0) + "/s)";
        }
        return text;
    };
    std::cout << "\n| server | 1:1 flood msg/s | of the ceiling | p50 / p99 ms at 1,000/s | "
                 "p50 / p99 ms at 5,000/s | server CPU µs/msg at flood | server RSS | DB CPU at "
                 "flood | broker CPU at flood | lost | dup | generator CPU µs/msg |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& target : targets) {
        const Row* flood = find(target, 2, 0);
        long long lost = 0, dup = 0;
        long serverRss = 0;
        for (const auto& row : rows) {
            if (row.target == target) {
                const auto& r = row.report;
                lost += r.unanswered + r.lostDeliveries;
                dup += r.duplicateDeliveries + r.duplicateStores + r.seqGaps;
                serverRss = std::max(serverRss, r.serverRssMaxKiB);
            }
        }
        const double generatorMicros = flood ? flood->report.benchCpuMicrosPerMessage : -1;
        std::cout << "| " << target << " | "
                  << (flood ? fixed(flood->report.storedPerSecond, 0) : "-") << " | "
                  << (flood && ceiling && ceiling->report.storedPerSecond > 0
                          ? fixed(flood->report.storedPerSecond / ceiling->report.storedPerSecond,
                                  2)
                          : "-")
                  << " | " << paced(find(target, 2, 1000)) << " | " << paced(find(target, 2, 5000))
                  << " | "
                  << (flood && flood->report.serverCpuMicrosPerMessage >= 0
                          ? fixed(flood->report.serverCpuMicrosPerMessage, 0)
                          : "-")
                  << " | " << serverRss / 1024 << " MiB | "
                  << (flood && flood->report.databaseCpuPercent >= 0
                          ? fixed(flood->report.databaseCpuPercent, 0) + "%"
                          : "-")
                  << " | "
                  << (flood && flood->report.brokerCpuPercent >= 0
                          ? fixed(flood->report.brokerCpuPercent, 0) + "%"
                          : "-")
                  << " | " << lost << " | " << dup << " | "
                  << (generatorMicros >= 0 ? fixed(generatorMicros, 1) : "-") << " |\n";
    }
    bool flooded = false;
    for (const auto& row : rows) {
        flooded = flooded || row.scenario.flooder != 0;
    }
    if (flooded) {
        std::cout << "\n| load | server | flooder sent | in s | dropped by the broker | stored | "
                     "rate_limited | other refusals | unanswered | disconnected |\n"
                     "|---|---|---|---|---|---|---|---|---|---|\n";
        for (const auto& row : rows) {
            const auto& r = row.report;
            if (row.scenario.flooder == 0) {
                continue;
            }
            long long rateLimited = 0, other = 0;
            for (const auto& [code, count] : r.flooderRefused) {
                (code == "rate_limited" ? rateLimited : other) += count;
            }
            std::cout << "| " << row.scenario.name << " | " << row.target << " | " << r.flooderSent
                      << " | " << fixed(r.flooderSendSeconds, 2) << " | "
                      << r.flooderRefusedAtBroker << " | " << r.flooderStored << " | "
                      << rateLimited << " | " << other << " | " << r.flooderUnanswered << " | "
                      << r.flooderReconnects << " |\n";
        }
        // The figure of flood fairness: the others' reply p99 with the flood against without it,
        // same server, same run.
        for (const auto& flood : rows) {
            if (flood.scenario.flooder == 0) {
                continue;
            }
            for (const auto& calm : rows) {
                if (calm.target == flood.target && calm.scenario.flooder == 0 &&
                    calm.scenario.groupSize == flood.scenario.groupSize &&
                    calm.scenario.rate == flood.scenario.rate && calm.report.replyLatency.p99 > 0) {
                    std::cout << "\n"
                              << flood.target << ": the others' reply p99 "
                              << fixed(flood.report.replyLatency.p99, 2) << " ms during the flood, "
                              << fixed(calm.report.replyLatency.p99, 2) << " ms without it: "
                              << fixed(flood.report.replyLatency.p99 / calm.report.replyLatency.p99,
                                       2)
                              << "x (p50 " << fixed(flood.report.replyLatency.p50, 2) << " / "
                              << fixed(calm.report.replyLatency.p50, 2) << " ms)\n";
                    break;
                }
            }
        }
    }
    std::cout << std::flush;
}

// MariaDB's counters of what its clients asked (SHOW GLOBAL STATUS), by name.
using StatementCounters = std::map<std::string, long long>;
constexpr const char* kCountedStatements[] = {"Questions",  "Com_stmt_execute", "Com_select",
                                              "Com_insert", "Com_update",       "Com_update_multi",
                                              "Com_commit", "Com_stmt_prepare", "Com_stmt_reset"};

StatementCounters statementCounters(const MariaDbServer& server) {
    std::string names;
    for (const char* name : kCountedStatements) {
        names += (names.empty() ? "'" : ", '") + std::string(name) + "'";
    }
    std::istringstream rows(
        server.queryAsRoot("SHOW GLOBAL STATUS WHERE Variable_name IN (" + names + ")"));
    StatementCounters counters;
    std::string name;
    long long value = 0;
    while (rows >> name >> value) {
        counters[name] = value;
    }
    return counters;
}

// "statements per stored message: Questions 6.1, Com_stmt_execute 5.0, ..." between two reads
// (the setup of the run, its connections and conversations, included; the reads themselves are
// a few Questions).
std::string perMessage(const StatementCounters& before, const StatementCounters& after,
                       long long stored) {
    std::string text = "per stored message (MariaDB's counters, the run's setup included):";
    for (const char* name : kCountedStatements) {
        const auto from = before.find(name);
        const auto to = after.find(name);
        if (from == before.end() || to == after.end()) {
            continue;
        }
        text +=
            std::string(" ") + name + " " +
            fixed(static_cast<double>(to->second - from->second) / static_cast<double>(stored), 2) +
            ",";
    }
    text.back() = ' ';
    return text + "(" + std::to_string(stored) + " messages)";
}

// The broker section's address: `uri` for one broker, `shards` for several (users sharded).
std::string brokerAddress(const MosquittoServer& broker,
                          const std::vector<std::unique_ptr<MosquittoServer>>& moreShards) {
    if (moreShards.empty()) {
        return "  uri: " + broker.uri() + "\n";
    }
    std::string shards = "  shards:\n    - " + broker.uri() + "\n";
    for (const auto& shard : moreShards) {
        shards += "    - " + shard->uri() + "\n";
    }
    return shards;
}

std::string parleydYaml(const std::string& brokerAddress, const std::string& brokerClient,
                        const std::string& store, const std::string& extra,
                        const std::string& clientId = "parleyd-bench") {
    return "broker:\n" + (brokerClient.empty() ? "" : "  client: " + brokerClient + "\n") +
           brokerAddress + "  client_id: " + clientId +
           "\n"
           "  username: parleyd\n"
           "  password: " +
           std::string(kServicePassword) +
           "\n"
           "store:\n" +
           store + "log: {level: info}\n" + extra;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"parley-bench-suite: the benchmark of docs/performance.md"};
    double seconds = 10;
    int users = 100;
    std::string only;
    std::string benchPath = PARLEY_BENCH_PATH;
    std::string jsonOut;
    app.add_option("--seconds", seconds, "seconds of sending per run")->capture_default_str();
    app.add_option("--users", users, "simulated users per run")->capture_default_str();
    app.add_option("--only", only,
                   "only these servers, e.g. raw,mariadb (raw, sqlite, mariadb, galera, "
                   "socketio; galera: a three-node MariaDB Galera cluster on this machine)");
    int window = 20;
    app.add_option("--window", window, "flood: messages awaiting their reply per sender")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    size_t bodyBytes = 128;
    app.add_option("--body-bytes", bodyBytes, "message body size")->capture_default_str();
    bool away = false;
    app.add_flag("--away", away,
                 "every user chooses presence away before sending (and stays away): the notify "
                 "plugin then has digests to schedule during the loads");
    bool paho = false;
    app.add_flag("--paho", paho,
                 "the old load generator (Paho, a thread per connection): to compare with the "
                 "libmosquitto epoll loop");
    bool groups = false;
    app.add_flag("--groups", groups,
                 "also the group loads (groups of 50: flood, 1,000/s, 5,000/s)");
    bool notifyStalled = false;
    app.add_flag("--notify-stalled", notifyStalled,
                 "parleyd's loads three times: without the notify plugin, with it (its SMTP server "
                 "stalled: accepts, never answers), without it again; every user away and given "
                 "an email address, so digests fall due during the loads (docs/notifications.md)");
    int notifyTimeoutMs = 5000;
    app.add_option("--notify-timeout-ms", notifyTimeoutMs,
                   "with --notify-stalled: the plugin's SMTP timeout_ms")
        ->capture_default_str();
    int generatorCheckRounds = 2;
    app.add_option("--generator-check", generatorCheckRounds,
                   "rounds of the generator check before the ceiling's loads: the plain poll() "
                   "loop's 1:1 flood and the generator's, alternated (0: none)")
        ->capture_default_str();
    int relayInflight = 1000;
    app.add_option("--relay-inflight", relayInflight,
                   "the null relay's QoS 1 publishes awaiting their PUBACK (parleyd's "
                   "broker.max_inflight is 1000)")
        ->capture_default_str();
    std::string nodePath = "node";
    app.add_option("--node", nodePath, "Node.js for the Socket.IO peer")->capture_default_str();
    app.add_option("--json-out", jsonOut, "also write every report to this file (JSON lines)");
    ParleydLaunch parleydLaunch;
    app.add_option("--parleyd", parleydLaunch.binary,
                   "another parleyd binary to measure (e.g. an older commit's build, for an A/B "
                   "run); default: this build's")
        ->check(CLI::ExistingFile);
    std::string extraYaml;
    app.add_option("--parleyd-yaml", extraYaml,
                   "extra top-level YAML for parleyd, e.g. 'server: {workers: 16}'");
    std::string brokerClient;
    app.add_option("--transport", brokerClient,
                   "parleyd's MQTT library (broker.client): paho or mosquitto; without it, "
                   "parleyd's default")
        ->check(CLI::IsMember({"paho", "mosquitto"}));
    std::string mysqlOptions;
    app.add_option("--mysql-options", mysqlOptions, "extra store.mysql keys, e.g. 'pool_size: 17'");
    std::string timelineDir;
    app.add_option("--timeline-dir", timelineDir,
                   "write each run's replies to a CSV here (sent_ms,reply_ms; see parley-bench "
                   "--timeline)");
    bool mysqlSocket = false;
    bool sendersInTurns = false;
    app.add_flag("--senders-in-turns", sendersInTurns,
                 "paced loads: users send in turns, not drawn at random (as before 2026-11-22)");
    app.add_flag("--mysql-socket", mysqlSocket,
                 "parleyd reaches MariaDB through its unix socket instead of TCP on loopback");
    int shards = 1;
    app.add_option("--shards", shards,
                   "users sharded over this many brokers (broker.shards): parleyd connects to "
                   "each, each user to its shard's (docs/scaling.md); the broker CPU is all "
                   "shards' together")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    int instances = 1;
    app.add_option("--instances", instances,
                   "parleyd instances on MariaDB, on one shared subscription (CPU and RSS are "
                   "the first one's)")
        ->capture_default_str()
        ->check(CLI::Range(1, 16));
    bool galeraSpread = false;
    app.add_flag("--galera-spread", galeraSpread,
                 "galera: parleyd instance i writes through node i (multi-writer; Galera's "
                 "certification orders them) instead of every instance through node 1");
    long long flooder = 0;
    app.add_option("--flooder", flooder,
                   "instead of the six loads: 1:1 at 1,000/s without and with one more user "
                   "sending this many msg.send as fast as it can (flood fairness)");
    bool fairness = false;
    app.add_flag("--fairness", fairness,
                 "instead of the six loads: 1:1 at --fairness-rate without, then with one more "
                 "user flooding as fast as it can for the whole run; prints the others' p99 "
                 "during the flood against without it (docs/performance.md)");
    double fairnessRate = 100;
    app.add_option("--fairness-rate", fairnessRate, "the others' rate with --fairness (msg/s)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 100000.0));
    bool floodDenied = false;
    app.add_flag("--fairness-denied", floodDenied,
                 "with --fairness, a third load: the flooder publishes where the broker's ACL "
                 "refuses it, so its flood never reaches parleyd (what the broker's side of a "
                 "flood costs the others)");
    std::string brokerConf;
    app.add_option("--broker-conf", brokerConf,
                   "extra Mosquitto config lines, after Parley's settings, e.g. "
                   "'max_inflight_messages 20'");
    bool brokerLogEveryPacket = false;
    app.add_flag("--broker-log-all", brokerLogEveryPacket,
                 "the broker logs every packet (log_type all, as in the tests); by default it "
                 "logs what a packaged broker does (errors, warnings, notices, information)");
    std::string pluginOptions;
    app.add_option("--broker-plugin-options", pluginOptions,
                   "plugin_opt_* lines for Parley's broker plugin, e.g. 'plugin_opt_publish_rate "
                   "0' (no publish rate limit)");
    std::vector<std::string> loads;
    app.add_option("--load", loads,
                   "only this load, by its name in the table, e.g. '1:1, 1,000/s', or any other "
                   "named that way, e.g. '1:1, 500/s' (repeatable; run in the order given)");
    CLI11_PARSE(app, argc, argv);
    std::vector<std::string> notes;  // printed after the tables
    if (notifyStalled) {
        away = true;
    }
    const auto wanted = [&](const std::string& target) {
        return only.empty() || only.find(target) != std::string::npos;
    };

    std::vector<Scenario> scenarios = {
        {"1:1, flood", 2, 0}, {"1:1, 1,000/s", 2, 1000}, {"1:1, 5,000/s", 2, 5000}};
    if (groups) {
        scenarios.insert(scenarios.end(), {{"groups of 50, flood", 50, 0},
                                           {"groups of 50, 1,000/s", 50, 1000},
                                           {"groups of 50, 5,000/s", 50, 5000}});
    }
    if (flooder > 0) {
        scenarios = {{"1:1, 1,000/s", 2, 1000},
                     {"1:1, 1,000/s + flooder of " + std::to_string(flooder), 2, 1000, flooder}};
    }
    if (fairness) {
        const auto rate = static_cast<long long>(fairnessRate);
        std::string rateName = std::to_string(rate);
        if (rateName.size() > 3) {
            rateName.insert(rateName.size() - 3, ",");
        }
        scenarios = {{"1:1, " + rateName + "/s", 2, static_cast<double>(rate)},
                     {"1:1, " + rateName + "/s + flooder at full speed", 2,
                      static_cast<double>(rate), kWholeRun}};
        if (floodDenied) {
            scenarios.push_back({"1:1, " + rateName + "/s + flooder refused by the ACL", 2,
                                 static_cast<double>(rate), kWholeRun, true});
        }
    }
    if (!loads.empty()) {
        // In the order given: the table's own loads, or any other named the same way.
        std::vector<Scenario> chosen;
        for (const auto& load : loads) {
            const auto known = std::find_if(scenarios.begin(), scenarios.end(),
                                            [&](const Scenario& s) { return s.name == load; });
            const auto named = known != scenarios.end() ? std::optional(*known) : loadNamed(load);
            if (!named) {
                std::cerr << "parley-bench-suite: '" << load
                          << "' is not a load: '1:1, 1,000/s', 'groups of 50, flood', ... (see "
                             "docs/performance.md)\n";
                return 2;
            }
            chosen.push_back(*named);
        }
        scenarios = chosen;
    }

    // Before the brokers start, so they inherit it: a descriptor per connected user in each.
    bench::raiseDescriptorLimit();
    std::vector<BrokerUser> brokerUsers{{"parleyd", kServicePassword}};
    char name[32];
    for (int i = 1; i <= users + 1; ++i) {  // the last one is the flooder
        std::snprintf(name, sizeof(name), "bench-%04d", i);
        brokerUsers.push_back({name, kUserPassword});
    }
    std::vector<Row> rows;
    std::ofstream json;
    if (!jsonOut.empty()) {
        json.open(jsonOut);
    }
    std::unique_ptr<MosquittoServer> broker;
    // Shards 1.. with --shards (the first is `broker`).
    std::vector<std::unique_ptr<MosquittoServer>> moreShards;
    try {
        broker = std::make_unique<MosquittoServer>(
            brokerUsers, BrokerOptions{.pluginOptions = pluginOptions,
                                       .extraConfig = brokerConf,
                                       .logEveryPacket = brokerLogEveryPacket});
        for (int shard = 1; shard < shards; ++shard) {
            moreShards.push_back(std::make_unique<MosquittoServer>(
                brokerUsers, BrokerOptions{.pluginOptions = pluginOptions,
                                           .extraConfig = brokerConf,
                                           .logEveryPacket = brokerLogEveryPacket}));
        }
    } catch (const std::exception& error) {
        std::cerr << "parley-bench-suite: " << error.what() << '\n';
        return 3;
    }
    const auto loadOptions = [&](const Scenario& scenario) {
        bench::LoadOptions options;
        options.uri = broker->uri();
        options.password = kUserPassword;
        options.users = users;
        options.groupSize = scenario.groupSize;
        options.rate = scenario.rate;
        options.sendersInTurns = sendersInTurns;
        options.seconds = seconds;
        options.drainSeconds = 30;
        options.window = window;
        options.bodyBytes = bodyBytes;
        options.recipientsAway = away;
        options.emailDomain = notifyStalled ? "bench.invalid" : "";
        options.brokerPid = broker->pid();
        if (!moreShards.empty()) {
            options.shardUris.push_back(broker->uri());
            for (const auto& shard : moreShards) {
                options.shardUris.push_back(shard->uri());
                options.moreBrokerPids.push_back(shard->pid());
            }
        }
        return options;
    };
    const auto record = [&](Row row) {
        std::cerr << row.report.toText();
        if (json.is_open()) {
            nlohmann::json line = row.report.toJson();
            line["server"] = row.target;
            line["load"] = row.scenario.name;
            json << line.dump() << '\n' << std::flush;
        }
        rows.push_back(std::move(row));
    };
    // What the database costs per stored message, all its processes together (the nodes of a
    // Galera cluster: the one that runs the transactions and those that apply them), measured
    // around each run.
    const auto databaseCpuSeconds = [](const std::vector<pid_t>& pids) {
        double seconds = 0;
        for (const pid_t pid : pids) {
            seconds += bench::sampleProcess(pid).cpuSeconds;
        }
        return seconds;
    };
    const std::string shardLabel =
        shards > 1 ? ", users on " + std::to_string(shards) + " broker shards" : "";
    const auto runScenarios = [&](const std::string& targetName, pid_t serverPid, pid_t databasePid,
                                  std::vector<pid_t> databasePids = {},
                                  const MariaDbServer* countersOf = nullptr) {
        const std::string target = targetName + shardLabel;
        for (const auto& scenario : scenarios) {
            std::cerr << "== " << target << ": " << scenario.name << '\n';
            const auto countersBefore =
                countersOf != nullptr ? statementCounters(*countersOf) : StatementCounters{};
            const double databaseBefore = databaseCpuSeconds(databasePids);
            bench::LoadOptions options = loadOptions(scenario);
            options.serverPid = serverPid;
            options.databasePid = databasePid;
            options.flooderCommands = std::max(0LL, scenario.flooder);
            options.flooderWholeRun = scenario.flooder == kWholeRun;
            options.flooderProgram = benchPath;
            options.flooderDenied = scenario.flooderDenied;
            if (!timelineDir.empty()) {
                options.timelinePath =
                    timelineDir + "/" + fileNameOf(target + ", " + scenario.name) + ".csv";
            }
            // The flooder's process and its report are the Paho generator's (LoadRun).
            // The flooder's process and its report are the Paho generator's (LoadRun).
            Row row{target, scenario,
                    scenario.flooder != 0 || paho ? bench::LoadRun(options).run()
                                                  : bench::PollLoadRun(options).run()};
            if (!databasePids.empty() && row.report.stored > 0) {
                const double seconds = databaseCpuSeconds(databasePids) - databaseBefore;
                notes.push_back(target + ", " + scenario.name + ": database CPU " +
                                fixed(1e6 * seconds / static_cast<double>(row.report.stored), 0) +
                                " µs per stored message (" + std::to_string(databasePids.size()) +
                                " mariadbd together; the run's setup included)");
            }
            if (countersOf != nullptr && row.report.stored > 0) {
                notes.push_back(
                    target + ", " + scenario.name + ": " +
                    perMessage(countersBefore, statementCounters(*countersOf), row.report.stored));
            }
            if (row.report.brokerCpuMicrosPerMessage >= 0) {
                // What each stage costs per message, to scale to a machine with more cores.
                notes.push_back(target + ", " + scenario.name + ": broker CPU " +
                                fixed(row.report.brokerCpuMicrosPerMessage, 0) +
                                " µs per stored message (" + std::to_string(row.report.brokers) +
                                " broker" + (row.report.brokers > 1 ? "s together, " : ", ") +
                                fixed(row.report.brokerCpuPercent / row.report.brokers, 0) +
                                "% of a core each), parleyd " +
                                fixed(row.report.serverCpuMicrosPerMessage, 0) +
                                " µs per stored message (" + fixed(row.report.serverCpuPercent, 0) +
                                "% of a core)");
            }
            record(std::move(row));
        }
    };
    // The Socket.IO peer: its own client (one Node process) for each load; the server's and the
    // database's CPU and the server's memory measured from here, as parley-bench does for
    // parleyd.
    const auto runSocketIoScenarios = [&](pid_t serverPid, pid_t databasePid, int port,
                                          TempDir& dir) {
        for (const auto& scenario : scenarios) {
            if (scenario.flooder != 0) {
                continue;
            }
            std::cerr << "== " << kSocketIo << ": " << scenario.name << '\n';
            const bench::LoadOptions options = loadOptions(scenario);
            const std::string out = dir.file("report-" + fileNameOf(scenario.name) + ".json");
            const bench::ProcessSample serverBefore = bench::sampleProcess(serverPid);
            const bench::ProcessSample databaseBefore = bench::sampleProcess(databasePid);
            const bench::ProcessSample brokerBefore = bench::sampleProcess(broker->pid());
            long rssMax = serverBefore.rssKiB;
            const auto started = std::chrono::steady_clock::now();
            ChildProcess client({nodePath,       sourceDir() + "/clients/bench/socketio/client.mjs",
                                 "--url",        "http://127.0.0.1:" + std::to_string(port),
                                 "--users",      std::to_string(users),
                                 "--group-size", std::to_string(scenario.groupSize),
                                 "--rate",       std::to_string(scenario.rate),
                                 "--window",     std::to_string(window),
                                 "--seconds",    std::to_string(seconds),
                                 "--drain",      "30",
                                 "--body-bytes", std::to_string(bodyBytes),
                                 "--out",        out},
                                dir.file("client-" + fileNameOf(scenario.name) + ".log"));
            const auto deadline = started + std::chrono::seconds(static_cast<long>(seconds) + 90);
            while (client.running()) {
                if (std::chrono::steady_clock::now() > deadline) {
                    client.kill9();
                    throw std::runtime_error("the Socket.IO client did not finish:\n" +
                                             client.log());
                }
                rssMax = std::max(rssMax, bench::sampleProcess(serverPid).rssKiB);
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            std::ifstream file(out);
            nlohmann::json report = nlohmann::json::parse(file, nullptr, false);
            if (!report.is_object()) {
                throw std::runtime_error("the Socket.IO client wrote no report:\n" + client.log());
            }
            Row row{kSocketIo, scenario, reportFromJson(report, options)};
            // Over the client's own sending and drain, not its start-up (Node, 100 connections).
            const double clientSeconds = report.value("elapsed_seconds", elapsed);
            const bench::ProcessSample serverAfter = bench::sampleProcess(serverPid);
            const bench::ProcessSample databaseAfter = bench::sampleProcess(databasePid);
            const double serverCpu = serverAfter.cpuSeconds - serverBefore.cpuSeconds;
            row.report.serverCpuPercent = 100.0 * serverCpu / clientSeconds;
            row.report.serverRssMaxKiB = std::max(rssMax, serverAfter.rssKiB);
            if (row.report.stored > 0) {
                row.report.serverCpuMicrosPerMessage =
                    1e6 * serverCpu / static_cast<double>(row.report.stored);
            }
            row.report.brokerCpuPercent =
                100.0 * (bench::sampleProcess(broker->pid()).cpuSeconds - brokerBefore.cpuSeconds) /
                clientSeconds;
            row.report.databaseCpuPercent =
                100.0 * (databaseAfter.cpuSeconds - databaseBefore.cpuSeconds) / clientSeconds;
            record(std::move(row));
        }
    };

    try {
        if (wanted("raw") && shards > 1) {
            std::cerr << "parley-bench-suite: the raw ceiling's relay serves one broker: skipped "
                         "with --shards (use --only sqlite or mariadb)\n";
        } else if (wanted("raw")) {
            TempDir dir("parley-bench-relay");
            ChildProcess relay({benchPath, "--uri", broker->uri(), "relay", "--relay-password",
                                kServicePassword, "--inflight", std::to_string(relayInflight)},
                               dir.file("relay.log"));
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (relay.log().find("relay ready") == std::string::npos) {
                if (!relay.running() || std::chrono::steady_clock::now() > deadline) {
                    throw std::runtime_error("the relay did not start:\n" + relay.log());
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            // The plain poll() loop holds three descriptors per user (libmosquitto's wake-up
            // pair): past a few thousand users it cannot run in this process.
            constexpr int kBareLoopUsersAtMost = 2000;
            if (!paho && generatorCheckRounds > 0 && users > kBareLoopUsersAtMost) {
                notes.push_back("No generator check: the plain poll() loop holds at most " +
                                std::to_string(kBareLoopUsersAtMost) + " users here, the run has " +
                                std::to_string(users));
            } else if (!paho && generatorCheckRounds > 0) {
                // Is the generator the limit? Its 1:1 flood against the plain poll() loop's
                // (nothing parsed, nothing checked, libmosquitto as it comes, a poll() of every
                // descriptor per pass) on the same relay, alternated, so both meet the same
                // machine; the sums of each side's rates give the ratio.
                double bareSum = 0, fullSum = 0;
                std::string pairs;
                for (int round = 1; round <= generatorCheckRounds; ++round) {
                    for (const bool bare : {true, false}) {
                        Scenario flood{
                            bare ? "1:1, flood (bare poll() loop)" : "1:1, flood (generator check)",
                            2, 0};
                        std::cerr << "== " << kCeiling << ": " << flood.name << '\n';
                        bench::LoadOptions options = loadOptions(flood);
                        options.bare = bare;
                        options.serverPid = relay.pid();
                        Row row{std::string(kCeiling) + (bare ? ", bare loop" : ", generator"),
                                flood, bench::PollLoadRun(options).run()};
                        (bare ? bareSum : fullSum) += row.report.storedPerSecond;
                        pairs += (bare ? " bare " : " / generator ") +
                                 fixed(row.report.storedPerSecond, 0) + " (" +
                                 fixed(row.report.benchCpuMicrosPerMessage, 1) +
                                 (bare ? " µs of CPU per message)" : " µs);");
                        record(std::move(row));
                    }
                }
                notes.push_back("Generator check, 1:1 flood through the null relay, alternated:" +
                                pairs + " the generator reached " +
                                fixed(bareSum > 0 ? 100.0 * fullSum / bareSum : 0, 0) +
                                "% of the plain poll() loop");
            }
            runScenarios(kCeiling, relay.pid(), 0);
            relay.terminate(std::chrono::seconds(5));
        }
        // Each parleyd target once, or with --notify-stalled three times: notify off, on (its
        // SMTP server stalled), off again, each on a fresh database.
        struct Variant {
            std::string label;
            std::string yaml;
            bool notify;
        };
        std::vector<Variant> variants{{"", extraYaml + "\n", false}};
        std::unique_ptr<ChildProcess> stalledSmtp;
        std::unique_ptr<TempDir> sinkDir;
        if (notifyStalled) {
            sinkDir = std::make_unique<TempDir>("parley-bench-smtp");
            const int smtpPort = freeLoopbackPort();
            stalledSmtp = std::make_unique<ChildProcess>(
                std::vector<std::string>{"python3", sourceDir() + "/tests/support/notify_sinks.py",
                                         "stall", std::to_string(smtpPort)},
                sinkDir->file("sink.log"));
            if (!stalledSmtp->waitForLog("stalled sink listening", std::chrono::seconds(10))) {
                throw std::runtime_error("the stalled SMTP server did not start:\n" +
                                         stalledSmtp->log());
            }
            // bench-0001 registers everyone's email address (admin.user.set) in every variant,
            // so the three differ only by the plugin.
            const std::string admins = "admins: [bench-0001]\n";
            const std::string notifyYaml =
                "extensions: [{name: notify, plugin: " + std::string(PARLEY_NOTIFY_PLUGIN_PATH) +
                ", options: {templates: " + sourceDir() +
                "/plugins/notify/templates, delay_ms: 0, poll_ms: 1000, throttle_min_ms: 0, "
                "smtp: {url: 'smtp://127.0.0.1:" +
                std::to_string(smtpPort) +
                "', starttls: 'off', from: 'Parley <noreply@example.com>', timeout_ms: " +
                std::to_string(notifyTimeoutMs) + "}}}]\n";
            variants = {{" (notify off)", extraYaml + "\n" + admins, false},
                        {" + notify (SMTP stalled)", extraYaml + "\n" + admins + notifyYaml, true},
                        {" (notify off, again)", extraYaml + "\n" + admins, false}};
        }
        // A parleyd on this run's broker(s), with its store section and the variant's extra YAML:
        // instance i (1-based) of --instances, or 0 for the only one (SQLite's).
        const auto startParleyd = [&](const std::string& store, const std::string& extra,
                                      int instance = 0) {
            const bool alone = instance == 0 || instances == 1;
            return std::make_unique<ParleydProcess>(
                parleydYaml(brokerAddress(*broker, moreShards), brokerClient, store, extra,
                            alone ? "parleyd-bench" : "parleyd-bench-" + std::to_string(instance)),
                parleydLaunch);
        };
        // What the plugin did during a variant: sends it attempted (connections the stalled
        // server accepted) and the failures it logged.
        const auto notifyEvidence = [&](const std::string& target, const ParleydProcess& parleyd,
                                        size_t sinkLogBefore) {
            if (!stalledSmtp) {
                return;
            }
            const std::string sinkLog = stalledSmtp->log().substr(sinkLogBefore);
            size_t connections = 0;
            for (size_t at = sinkLog.find("connection "); at != std::string::npos;
                 at = sinkLog.find("connection ", at + 1)) {
                ++connections;
            }
            const std::string log = parleyd.log();
            size_t failures = 0;
            for (size_t at = log.find(" failed (email"); at != std::string::npos;
                 at = log.find(" failed (email", at + 1)) {
                ++failures;
            }
            notes.push_back(target + ": the stalled SMTP server accepted " +
                            std::to_string(connections) + " connections (digest sends), " +
                            std::to_string(failures) + " sends logged as failed");
        };
        if (wanted("sqlite")) {
            for (const auto& variant : variants) {
                const size_t sinkLogBefore = stalledSmtp ? stalledSmtp->logSize() : 0;
                const auto parleyd = startParleyd(
                    "  backend: sqlite\n  sqlite: {path: parley.db, synchronous: full}\n",
                    variant.yaml);
                runScenarios("parleyd + SQLite" + variant.label, parleyd->pid(), 0);
                notifyEvidence("parleyd + SQLite" + variant.label, *parleyd, sinkLogBefore);
            }
        }
        if (wanted("mariadb")) {
            MariaDbServer mariadb;
            const std::string reach =
                mysqlSocket ? "socket: " + mariadb.socketPath()
                            : "host: 127.0.0.1, port: " + std::to_string(mariadb.port());
            for (const auto& variant : variants) {
                const size_t sinkLogBefore = stalledSmtp ? stalledSmtp->logSize() : 0;
                const std::string store = "  backend: mysql\n  mysql: {" + reach +
                                          ", user: " + mariadb.user() + ", password: '" +
                                          mariadb.password() +
                                          "', database: " + mariadb.createDatabase() +
                                          (mysqlOptions.empty() ? "" : ", " + mysqlOptions) + "}\n";
                std::vector<std::unique_ptr<ParleydProcess>> parleyds;
                for (int i = 1; i <= instances; ++i) {
                    parleyds.push_back(startParleyd(store, variant.yaml, i));
                }
                const std::string target =
                    (instances == 1 ? "parleyd + MariaDB"
                                    : std::to_string(instances) + " parleyd + MariaDB") +
                    variant.label;
                runScenarios(target, parleyds.front()->pid(), mariadb.pid(), {mariadb.pid()},
                             &mariadb);
                notifyEvidence(target, *parleyds.front(), sinkLogBefore);
            }
        }
        if (wanted("galera")) {
            GaleraCluster galera(3);
            std::vector<pid_t> nodePids;
            for (size_t node = 0; node < galera.size(); ++node) {
                nodePids.push_back(galera.node(node).pid());
            }
            for (const auto& variant : variants) {
                const size_t sinkLogBefore = stalledSmtp ? stalledSmtp->logSize() : 0;
                const std::string database = galera.createDatabase();
                std::vector<std::unique_ptr<ParleydProcess>> parleyds;
                for (int i = 1; i <= instances; ++i) {
                    const size_t first =
                        galeraSpread ? static_cast<size_t>(i - 1) % galera.size() : 0;
                    std::string hosts;
                    for (const auto& host : galera.clientConfig(database, first).hosts) {
                        hosts += (hosts.empty() ? "'" : ", '") + host.host + ":" +
                                 std::to_string(host.port) + "'";
                    }
                    const std::string store = "  backend: mysql\n  mysql: {hosts: [" + hosts +
                                              "], user: " + galera.user() + ", password: '" +
                                              galera.password() + "', database: " + database +
                                              (mysqlOptions.empty() ? "" : ", " + mysqlOptions) +
                                              "}\n";
                    parleyds.push_back(startParleyd(store, variant.yaml, i));
                }
                const std::string writers =
                    galeraSpread && instances > 1 ? ", each through its own node" : ", via node 1";
                const std::string target =
                    (instances == 1 ? "parleyd" : std::to_string(instances) + " parleyd") +
                    " + Galera (3 nodes" + writers + ")" + variant.label;
                // The database CPU column is node 1's; the notes add up all three.
                runScenarios(target, parleyds.front()->pid(), galera.node(0).pid(), nodePids);
                notifyEvidence(target, *parleyds.front(), sinkLogBefore);
            }
        }
        if (wanted("socketio")) {
            MariaDbServer mariadb;
            TempDir dir("parley-bench-socketio");
            const int port = freeLoopbackPort();
            ChildProcess server(
                {nodePath, sourceDir() + "/clients/bench/socketio/server.mjs", "--port",
                 std::to_string(port), "--db-host", "127.0.0.1", "--db-port",
                 std::to_string(mariadb.port()), "--db-user", mariadb.user(), "--db-password",
                 mariadb.password(), "--db-name", mariadb.createDatabase()},
                dir.file("server.log"));
            if (!server.waitForLog("socketio ready", std::chrono::seconds(30))) {
                throw std::runtime_error(
                    "the Socket.IO server did not start (npm ci in clients/ first: "
                    "tools/bench.sh does it):\n" +
                    server.log());
            }
            runSocketIoScenarios(server.pid(), mariadb.pid(), port, dir);
            server.terminate(std::chrono::seconds(5));
        }
    } catch (const std::exception& error) {
        std::cerr << "parley-bench-suite: " << error.what() << '\n';
        printTable(rows);
        return 3;
    }
    utsname system{};
    uname(&system);
    std::cout << "\nparley-bench-suite: " << users << " users, " << seconds
              << " s of sending per run; " << machine() << ", " << system.sysname << ' '
              << system.release << '\n';
    printTable(rows);
    for (const auto& note : notes) {
        std::cout << '\n' << note << '\n';
    }
    return 0;
}
