#include "Flood.h"

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "BenchClient.h"

namespace parley::bench {

nlohmann::json FloodReport::toJson() const {
    return {{"sent", sent},
            {"refused_at_broker", refusedAtBroker},
            {"publishes_failed", publishesFailed},
            {"stored", stored},
            {"refused", refused},
            {"unanswered", unanswered},
            {"reconnects", reconnects},
            {"send_seconds", sendSeconds}};
}

FloodReport FloodReport::fromJson(const nlohmann::json& json) {
    FloodReport report;
    report.sent = json.at("sent").get<long long>();
    report.refusedAtBroker = json.at("refused_at_broker").get<long long>();
    report.publishesFailed = json.at("publishes_failed").get<long long>();
    report.stored = json.at("stored").get<long long>();
    report.refused = json.at("refused").get<std::map<std::string, long long>>();
    report.unanswered = json.at("unanswered").get<long long>();
    report.reconnects = json.at("reconnects").get<long long>();
    report.sendSeconds = json.at("send_seconds").get<double>();
    return report;
}

FloodReport runFlood(const FloodOptions& options) {
    std::atomic<long long> stored{0};
    std::atomic<long long> answered{0};
    std::mutex refusedMutex;
    std::map<std::string, long long> refused;
    PublishTally tally;  // before the client: Paho calls it until the client is gone
    const BenchClient::Handler onReply = [&](BenchClient&, const std::string& suffix,
                                             nlohmann::json&& payload, Clock::time_point) {
        if (suffix != "resp") {
            return;
        }
        const std::string id = payload.value("id", "");
        if (id.empty() || id[0] != 'f') {
            return;
        }
        if (payload.value("ok", false)) {
            ++stored;
        } else {
            std::lock_guard lock(refusedMutex);
            ++refused[payload.value("error", nlohmann::json::object()).value("code", "?")];
        }
        ++answered;
    };
    const auto connected = [&] {
        auto client = std::make_unique<BenchClient>(options.uri, options.tls, options.prefix,
                                                    options.uid, options.password, onReply, 1000,
                                                    "-flood", options.deniedPeer);
        client->connect();
        return client;
    };
    auto client = connected();
    long long reconnects = 0;

    const std::string prefix =
        R"({"op":"msg.send","conv":")" + options.conv + R"(","body":"flood","id":"f)";
    const std::string cmidPrefix =
        options.uid + "-" +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()) +
        "-f";
    // The broker's receive maximum in flight and as much again queued in Paho: the connection
    // never waits for the flooder, and Paho's queue does not grow without bound.
    constexpr long long kWindow = 2000;
    const auto start = Clock::now();
    const auto until =
        start + std::chrono::milliseconds(static_cast<long long>(options.seconds * 1000));
    const auto going = [&](long long i) {
        return options.seconds > 0 ? Clock::now() < until : i < options.count;
    };
    long long sent = 0;
    for (long long i = 0; going(i); ++i) {
        while (sent - tally.settled() >= kWindow && going(i)) {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        const std::string number = std::to_string(i);
        try {
            client->publish(prefix + number + R"(","cmid":")" + cmidPrefix + number + "\"}",
                            &tally);
            ++sent;
        } catch (const std::exception&) {
            // Disconnected (the broker's rate limit does that): back at once.
            try {
                client = connected();
                ++reconnects;
            } catch (const std::exception& error) {
                std::cerr << "parley-bench flood: cannot reconnect: " << error.what() << '\n';
                break;
            }
        }
    }
    FloodReport report;
    report.sendSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto drainUntil = Clock::now() + std::chrono::milliseconds(
                                               static_cast<long long>(options.drainSeconds * 1000));
    while (Clock::now() < drainUntil &&
           (tally.settled() < sent || answered + tally.refused + tally.failed < sent)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    report.sent = sent;
    report.refusedAtBroker = tally.refused;
    report.publishesFailed = tally.failed;
    report.stored = stored;
    {
        std::lock_guard lock(refusedMutex);
        report.refused = refused;
    }
    report.unanswered = sent - answered - report.refusedAtBroker - report.publishesFailed;
    report.reconnects = reconnects;
    try {
        client->disconnect();
    } catch (const std::exception&) {
        // Disconnected by the broker already.
    }
    return report;
}

}  // namespace parley::bench
