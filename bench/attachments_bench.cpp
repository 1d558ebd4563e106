// parley-bench-attachments: prints the figures of docs/attachments.md, "Performance". Starts a
// private Mosquitto and a parleyd (SQLite) with plugins/attachments on loopback in temporary
// folders, then for a file of --mib MiB (default 25), by --path json (attach.chunk commands with
// base64, the first protocol) or --path bin (raw bytes on the .../bin topics):
//   raw       the same chunk payloads published by one client and received by another through
//             the broker alone, with the same window in flight;
//   upload    attach.begin, every attach.chunk (a window in flight), attach.commit;
//   download  every attach.download chunk (a window in flight), checked byte for byte;
// and parleyd's resident memory (sampled every 10 ms) during the upload, against before it.
// Not a test: it asserts nothing about speed. Everything stops by itself.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "Content.h"
#include "MosquittoServer.h"
#include "ParleydProcess.h"
#include "TempDir.h"
#include "parley/mqtt/MqttClient.h"
#include "parley/wire/TopicScheme.h"

using namespace parley::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// An MQTT 5 client (parley::MqttClient, the one wrapper) that counts the replies (.../resp)
// arriving on its subscription and keeps them only when asked to: throughput is not measured
// through a test client's bookkeeping.
class CountingClient {
  public:
    CountingClient(const std::string& uri, const std::string& user, const std::string& password,
                   const std::string& filter)
        : client_(connection(uri, user, password)) {
        client_.onMessage([this](mqtt::const_message_ptr message) {
            // Replies only (with bytes: .../bin): other events to the inbox are not counted.
            if (!message->get_topic().ends_with("/resp") &&
                !message->get_topic().ends_with("/bin")) {
                return;
            }
            const std::lock_guard lock(mutex_);
            ++arrived_;
            if (keep_) {
                kept_.push_back(message->to_string());
            }
            changed_.notify_all();
        });
        client_.connect();
        if (!filter.empty()) {
            const int granted = client_.subscribe(filter, std::chrono::seconds(10));
            if (granted >= 0x80) {
                throw std::runtime_error("subscribe to " + filter +
                                         " refused: " + std::to_string(granted));
            }
        }
    }

    void publish(const std::string& topic, const std::string& payload) {
        client_.publish(topic, payload);
    }
    // Waits until `count` messages arrived in all; false after a minute.
    bool waitFor(int64_t count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::minutes(1), [&] { return arrived_ >= count; });
    }
    int64_t arrived() {
        const std::lock_guard lock(mutex_);
        return arrived_;
    }
    void keep(bool on) {
        const std::lock_guard lock(mutex_);
        keep_ = on;
    }
    std::vector<std::string> takeKept() {
        const std::lock_guard lock(mutex_);
        return std::exchange(kept_, {});
    }

  private:
    static parley::MqttClientOptions connection(const std::string& uri, const std::string& user,
                                                const std::string& password) {
        parley::MqttClientOptions options;
        options.uri = uri;
        options.clientId = user + "-attachments-bench";
        options.user = user;
        options.password = password;
        return options;
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    int64_t arrived_ = 0;
    bool keep_ = false;
    std::vector<std::string> kept_;
    parley::MqttClient client_;  // last: its handler uses the members above
};

// Sends commands[i] for i in 0..n with at most `window` unanswered, counting replies on `client`.
double windowed(CountingClient& client, const std::string& topic,
                const std::function<std::string(int64_t)>& command, int64_t count, int window) {
    const int64_t base = client.arrived();
    const auto start = Clock::now();
    for (int64_t i = 0; i < count; ++i) {
        if (i >= window) {
            client.waitFor(base + i - window + 1);
        }
        client.publish(topic, command(i));
    }
    client.waitFor(base + count);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t rssKiB(int pid, const char* field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field, 0) == 0) {
            return std::stoll(line.substr(std::strlen(field) + 1));
        }
    }
    return -1;
}

std::string fixed(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Attachment throughput and parleyd's memory during an upload"};
    int64_t mib = 25;
    int window = 16;
    int64_t chunkKiB = 0;
    std::string path = "json";
    app.add_option("--mib", mib, "file size in MiB")->check(CLI::Range(1, 25));
    app.add_option("--window", window, "commands in flight")->check(CLI::Range(1, 100));
    app.add_option("--path", path,
                   "json: attach.chunk with base64 in JSON; bin: raw bytes on the .../bin topics")
        ->check(CLI::IsMember({"json", "bin"}));
    app.add_option("--chunk-kib", chunkKiB,
                   "chunk size in KiB (default 32 for json, 256 for bin; json above 32 raises "
                   "parleyd's max_payload_bytes to fit)")
        ->check(CLI::Range(1, 1024));
    CLI11_PARSE(app, argc, argv);

    const bool bin = path == "bin";
    if (chunkKiB == 0) {
        chunkKiB = bin ? 256 : 32;
    }
    const int64_t size = mib * 1024 * 1024;
    const int64_t chunkBytes = chunkKiB * 1024;
    const int64_t payloadLimit = bin ? 65536 : std::max<int64_t>(65536, chunkBytes * 4 / 3 + 4096);
    std::string bytes = "%PDF-1.4\n";
    std::mt19937 generator(42);
    while (static_cast<int64_t>(bytes.size()) < size) {
        const uint32_t word = generator();
        bytes.append(reinterpret_cast<const char*>(&word), sizeof word);
    }
    bytes.resize(static_cast<size_t>(size));
    const int64_t chunks = (size + chunkBytes - 1) / chunkBytes;

    // The limits that would cap a user's chunks (broker and parleyd) raised: this measures the
    // path, not the limits (docs/attachments.md, "Limits and configuration").
    MosquittoServer broker({{"parleyd", "pd"}, {"alice", "a"}, {"bob", "b"}},
                           BrokerOptions{.pluginOptions = "plugin_opt_publish_rate 100000\n"
                                                          "plugin_opt_publish_burst 100000\n"});
    const TempDir files("parley-bench-attachments");
    ParleydProcess parleyd(
        "broker: {uri: " + broker.uri() +
        ", client_id: parleyd-bench, username: parleyd, password: pd}\n"
        "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
        "limits: {user_command_burst: 100000, user_commands_per_second: 100000, "
        "user_queued_commands: 1000, user_transfer_bytes_per_second: 0, max_payload_bytes: " +
        std::to_string(payloadLimit) +
        ", max_bytes_per_command: " + std::to_string(std::max<int64_t>(chunkBytes, 1024 * 1024)) +
        "}\n"
        "hooks: {command: {budget: 30s}}\n"
        "extensions:\n"
        "  - name: attachments\n"
        "    plugin: " PARLEY_ATTACHMENTS_PLUGIN
        "\n"
        "    options: {folder: " +
        files.path() + ", daily_quota_bytes: 0, " + (bin ? "raw_chunk_bytes: " : "chunk_bytes: ") +
        std::to_string(chunkBytes) + "}\n");

    // The raw broker: alice's chunk commands to a topic bob reads, the same window in flight.
    std::vector<std::string> commands;
    commands.reserve(static_cast<size_t>(chunks));
    // What one chunk command is on the wire: JSON with base64, or one line of JSON, a newline
    // and the raw bytes.
    const auto chunkCommand = [&](int64_t i, const std::string& upload) {
        const auto piece = std::string_view(bytes).substr(i * chunkBytes, chunkBytes);
        json command = {{"op", "attach.chunk"},
                        {"id", "c" + std::to_string(i)},
                        {"upload", upload},
                        {"index", i}};
        if (!bin) {
            command["data"] = parley::attachments::base64Encode(piece);
            return command.dump();
        }
        return command.dump() + "\n" + std::string(piece);
    };
    for (int64_t i = 0; i < chunks; ++i) {
        commands.push_back(chunkCommand(i, "placeholder-upload-id-000"));
    }
    const parley::TopicScheme topics("parley/v1");
    double rawSeconds = 0;
    {
        // A user may write only their own c2s topic, which parleyd reads: the raw run goes from
        // parleyd's account to bob's inbox instead, the same bytes through the same broker.
        CountingClient bob(broker.uri(), "bob", "b", topics.inboxSubscription("bob"));
        CountingClient service(broker.uri(), "parleyd", "pd", "");
        const auto start = Clock::now();
        for (int64_t i = 0; i < chunks; ++i) {
            if (i >= window) {
                bob.waitFor(i - window + 1);
            }
            service.publish(bin ? topics.bytesReplyTopic("bob") : topics.replyTopic("bob"),
                            commands[static_cast<size_t>(i)]);
        }
        bob.waitFor(chunks);
        rawSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    }

    CountingClient alice(broker.uri(), "alice", "a", topics.inboxSubscription("alice"));
    alice.keep(true);
    const std::string c2s = topics.commandTopic("alice");
    alice.publish(c2s, json{{"op", "attach.begin"},
                            {"id", "b"},
                            {"name", "bench.pdf"},
                            {"mime", "application/pdf"},
                            {"size", size},
                            {"raw", bin},
                            {"sha256", parley::attachments::sha256Hex(bytes)}}
                           .dump());
    alice.waitFor(1);
    const json begun = json::parse(alice.takeKept().at(0));
    const std::string upload = begun.at("upload");
    alice.keep(false);

    const int pid = parleyd.pid();
    const int64_t rssBefore = rssKiB(pid, "VmRSS:");
    std::atomic<bool> sampling{true};
    std::atomic<int64_t> rssPeak{rssBefore};
    std::thread sampler([&] {
        while (sampling) {
            rssPeak = std::max<int64_t>(rssPeak, rssKiB(pid, "VmRSS:"));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    const auto uploadStart = Clock::now();
    commands.clear();
    for (int64_t i = 0; i < chunks; ++i) {
        commands.push_back(chunkCommand(i, upload));
    }
    const std::string chunkTopic = bin ? topics.bytesCommandTopic("alice") : c2s;
    windowed(
        alice, chunkTopic, [&](int64_t i) { return commands[static_cast<size_t>(i)]; }, chunks,
        window);
    alice.keep(true);
    alice.publish(c2s, json{{"op", "attach.commit"}, {"id", "commit"}, {"upload", upload}}.dump());
    alice.waitFor(alice.arrived() + 1);
    const double uploadSeconds = std::chrono::duration<double>(Clock::now() - uploadStart).count();
    sampling = false;
    sampler.join();
    const json committed = json::parse(alice.takeKept().at(0));
    if (!committed.value("ok", false)) {
        std::cerr << "commit refused: " << committed.dump() << "\n";
        return 1;
    }
    const std::string id = committed["attachment"]["id"];

    std::string downloaded(static_cast<size_t>(size), '\0');
    const double downloadSeconds = windowed(
        alice, chunkTopic,
        [&](int64_t i) {
            const std::string command = json{
                {"op", "attach.download"},
                {"id", "d" + std::to_string(i)},
                {"attachment", id},
                {"index", i}}.dump();
            return bin ? command + "\n" : command;
        },
        chunks, window);
    for (const auto& text : alice.takeKept()) {
        const auto newline = bin ? text.find('\n') : std::string::npos;
        const json reply = json::parse(text.substr(0, newline));
        std::optional<std::string> piece;
        if (newline != std::string::npos) {
            piece = text.substr(newline + 1);
        } else if (reply.contains("data")) {
            piece = parley::attachments::base64Decode(reply["data"].get<std::string>());
        }
        if (piece && reply.contains("index")) {
            downloaded.replace(static_cast<size_t>(reply["index"].get<int64_t>() * chunkBytes),
                               piece->size(), *piece);
        }
    }
    const bool identical = downloaded == bytes;

    const double mibs = static_cast<double>(mib);
    std::cout << "file: " << mib << " MiB in " << chunks << " chunks of " << chunkBytes / 1024
              << " KiB, " << window << " in flight, SQLite, "
              << (bin ? "raw bytes on .../bin" : "base64 in JSON commands") << "\n"
              << "| path | seconds | MiB/s |\n|---|---|---|\n"
              << "| raw broker, same bytes | " << fixed(rawSeconds) << " | "
              << fixed(mibs / rawSeconds) << " |\n"
              << "| upload (begin, chunks, commit) | " << fixed(uploadSeconds) << " | "
              << fixed(mibs / uploadSeconds) << " |\n"
              << "| download (chunks) | " << fixed(downloadSeconds) << " | "
              << fixed(mibs / downloadSeconds) << " |\n"
              << "parleyd RSS before the upload: " << rssBefore / 1024
              << " MiB, peak during it: " << rssPeak / 1024 << " MiB (+"
              << (rssPeak - rssBefore) / 1024 << " MiB)\n"
              << "download byte-identical: " << (identical ? "yes" : "NO") << "\n";
    return identical ? 0 : 1;
}
