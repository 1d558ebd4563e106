#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "parley/mqtt/MqttClient.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley::testing {

// "ok", or the error code of a reply that request() returned.
inline std::string codeOf(const nlohmann::json& reply) {
    return reply.value("ok", false) ? "ok" : reply["error"]["code"].get<std::string>();
}

// One message as a test client received it.
struct Received {
    std::string topic;
    nlohmann::json payload;  // a JSON string holding the raw text if the payload is not JSON
    bool retained = false;
    std::string correlationData;
};

// A real MQTT 5 client (Paho async_client, no persistence) acting as one Parley user. It does
// not reconnect: after a broker restart, make a new one.
class MqttTestClient {
  public:
    // Connects (clean start, MQTT 5) as user `uid`, client id `clientId` or uid + "-" + a random
    // suffix, with `will` (if any) as last will on parley/v1/c2s/<uid> (QoS 1); subscribes to
    // parley/v1/u/<uid>/# (QoS 1) and waits for the SUBACK. Throws std::runtime_error on failure
    // (a refused password included). `tls`: the CA file and client certificate for an ssl:// or
    // wss:// uri (applyTls, as the clients).
    MqttTestClient(const std::string& uri, const std::string& uid, const std::string& password,
                   std::optional<nlohmann::json> will = std::nullopt, std::string clientId = "",
                   const TlsSettings& tls = {});
    // Clean disconnect if connected.
    ~MqttTestClient();
    MqttTestClient(const MqttTestClient&) = delete;
    MqttTestClient& operator=(const MqttTestClient&) = delete;

    const std::string& uid() const { return uid_; }
    const std::string& clientId() const { return clientId_; }

    // Adds a fresh unique "id" unless the command has one, publishes it to parley/v1/c2s/<uid>
    // (QoS 1) and returns the reply on parley/v1/u/<uid>/resp with the same "id". Throws
    // std::runtime_error naming the command if none arrives within `timeout`.
    nlohmann::json request(nlohmann::json command,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Publishes at QoS 1 and returns the reason code of the PUBACK: 0 success (Mosquitto 2.0.11
    // does not send 0x10 "no matching subscribers"), 0x87 not authorized, ... Throws if no PUBACK
    // comes (10 s) or the publish fails otherwise.
    int publishRaw(const std::string& topic, const std::string& payload,
                   const std::string& correlationData = "");
    // QoS 1; waits for the SUBACK and throws if the broker refuses (Parley's broker plugin
    // refuses what is not the user's inbox or presence; the acl_file alone would grant any
    // subscription and check each delivered message instead).
    void subscribe(const std::string& filter);
    // QoS 1; waits for the SUBACK and returns its reason code: the granted QoS (1), or 0x80 and
    // up when refused (0x87 not authorized). Throws if no SUBACK comes (10 s).
    int subscribeReasonCode(const std::string& filter);
    // The first received message (in arrival order, old ones included) that satisfies `match`,
    // waiting for new ones up to `timeout`; throws std::runtime_error then. `match` runs under
    // the client's lock: it must not call this client.
    Received waitFor(std::function<bool(const Received&)> match,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Everything received so far.
    std::vector<Received> received() const;
    void clearReceived();
    void disconnect();
    bool connected() const;

  private:
    static MqttClientOptions connection(const std::string& uri, const std::string& uid,
                                        const std::string& password,
                                        const std::optional<nlohmann::json>& will,
                                        const std::string& clientId, const TlsSettings& tls);
    void onMessage(const mqtt::const_message_ptr& message);

    std::string uid_;
    std::string clientId_;
    std::string commandTopic_;
    std::string replyTopic_;
    std::atomic<unsigned long> nextRequest_{1};
    std::string requestPrefix_;

    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Received> received_;
    unsigned long clears_ = 0;  // lets waitFor notice clearReceived()

    // Last: destroyed first, so no callback runs into destroyed members.
    MqttClient client_;
};

}  // namespace parley::testing
