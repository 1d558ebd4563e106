#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "parley/mqtt/MqttClient.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley::bench {

using Clock = std::chrono::steady_clock;

// What the broker made of a client's publishes, counted as their PUBACKs arrive (on Paho's
// threads): acknowledged, refused with an error reason code (0x87 "not authorized": the ACL, or
// the broker plugin's publish rate limit, dropped it), or failed without one (the connection
// went away).
class PublishTally : public mqtt::iaction_listener {
  public:
    std::atomic<long long> acknowledged{0};
    std::atomic<long long> refused{0};
    std::atomic<long long> failed{0};
    long long settled() const { return acknowledged + refused + failed; }

  private:
    void on_success(const mqtt::token&) override { ++acknowledged; }
    void on_failure(const mqtt::token& token) override {
        ++(token.get_reason_code() >= mqtt::ReasonCode::UNSPECIFIED_ERROR ? refused : failed);
    }
};

// One simulated user: a real MQTT 5 connection (Paho), publishing commands on its c2s topic and
// receiving its inbox. Lighter than the clients' Session on purpose: the load generator must
// cost the machine as little as it can, and it keeps its own books on what was answered.
class BenchClient {
  public:
    // Called on Paho's receive thread for every reply and event: topic suffix after
    // "<prefix>/u/<uid>/" ("resp", "c/<conv>", "n") and the parsed payload.
    using Handler = std::function<void(BenchClient&, const std::string& suffix,
                                       nlohmann::json&& payload, Clock::time_point arrived)>;

    // maxInflight: QoS 1 publishes awaiting their PUBACK; at most the broker's receive maximum
    // (Parley's broker settings: 1000). The client id is uid + clientIdSuffix. `commandsAs`:
    // publish on that user's command topic instead (which the broker refuses: a test of its ACL).
    BenchClient(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
                std::string uid, const std::string& password, Handler handler,
                int maxInflight = 100, const std::string& clientIdSuffix = "-bench",
                const std::string& commandsAs = "");
    ~BenchClient();
    BenchClient(const BenchClient&) = delete;
    BenchClient& operator=(const BenchClient&) = delete;

    // Connects and subscribes; throws std::runtime_error.
    void connect();
    void disconnect();
    // Publishes one command (QoS 1) without waiting; `tally`, if given, counts its PUBACK.
    // Inline: the load generator's every message goes through here.
    void publish(const std::string& payload, PublishTally* tally = nullptr) {
        if (tally != nullptr) {
            client_.publish(commandTopic_, payload, *tally);
        } else {
            client_.publish(commandTopic_, payload);
        }
    }
    const std::string& uid() const { return uid_; }
    size_t index = 0;  // the load run's number for this user

  private:
    std::string uid_;
    std::string inboxSubscription_;
    std::string commandTopic_;
    std::string inboxPrefix_;
    Handler handler_;
    MqttClient client_;  // last: destroyed first, so no handler runs into destroyed members
};

}  // namespace parley::bench
