#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "parley/mqtt/TlsSettings.h"

namespace parley {

// How an MqttClient connects. MQTT 5 and a clean start always.
struct MqttClientOptions {
    std::string uri;
    std::string clientId;
    std::string user;
    std::string password;
    // For an ssl://, mqtts:// or wss:// uri (applyTls); TLS files for any other uri are refused.
    TlsSettings tls;
    std::chrono::seconds keepAlive{30};
    // How long connect() waits for the CONNACK (and Paho's own connect timeout).
    std::chrono::milliseconds connectTimeout{10000};
    // QoS 1 publishes awaiting their PUBACK; 0: Paho's default. More than the broker's receive
    // maximum is a protocol error.
    int maxInflight = 0;
    // Paho's queue of messages not yet sent is bounded (100 by default) even while connected:
    // past it publish() fails. 0: Paho's default.
    int maxBufferedMessages = 0;
    // Paho reconnects by itself after a connection loss (retrying after 1 s, up to 16 s apart).
    bool automaticReconnect = false;
    // The last will: this payload on this topic at QoS 1, not retained.
    struct Will {
        std::string topic;
        std::string payload;
    };
    std::optional<Will> will;
};

// Why connect() failed, in words a person acts on (describeConnectFailure, explainTlsFailure).
class MqttConnectError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One MQTT 5 connection through Paho, as every Paho client of Parley outside parleyd makes it
// (the clients' Session, the bench's BenchClient, the tests' MqttTestClient): the Paho library
// held open (PahoLibrary.h), TLS through applyTls, a connect that wakes Paho's receive thread
// (ConnectWaker.h), TCP_NODELAY after every (re)connect (SocketTuning.h), connect failures in
// words, QoS 1 subscribes and publishes, and a clean disconnect. What a message means and what
// to do after a connection loss is its owner's business.
//
// Handlers run on Paho's threads and are set before connect(). The owner keeps its MqttClient
// as its last member, so that no handler runs into members already destroyed.
class MqttClient {
  public:
    using MessageHandler = std::function<void(mqtt::const_message_ptr)>;
    using ConnectionHandler = std::function<void()>;

    explicit MqttClient(MqttClientOptions options);
    // Disconnects cleanly if connected.
    ~MqttClient();
    MqttClient(const MqttClient&) = delete;
    MqttClient& operator=(const MqttClient&) = delete;

    void onMessage(MessageHandler handler);
    // After every connect and reconnect, once TCP_NODELAY is set.
    void onConnected(ConnectionHandler handler);
    void onConnectionLost(ConnectionHandler handler);

    // Connects and waits for the CONNACK and for the onConnected handler to have run; throws
    // MqttConnectError (refused, unreachable, TLS, timed out).
    void connect();
    // QoS 1; waits for the SUBACK and returns its reason code: the granted QoS, or 0x80 and up
    // when refused (0x87 not authorized). Throws std::runtime_error if no SUBACK comes within
    // `timeout` or the subscribe fails otherwise.
    int subscribe(const std::string& filter, std::chrono::milliseconds timeout);
    // QoS 1, without waiting for the SUBACK (from a connected handler, which must not wait);
    // throws mqtt::exception if not connected.
    void subscribeNoWait(const std::string& filter) { client_->subscribe(filter, 1); }
    // QoS 1, not retained, without waiting; throws mqtt::exception (not connected, Paho's queue
    // full). The topic and payload are copied into Paho's message, as by Paho's own publish.
    void publish(const std::string& topic, std::string_view payload) {
        client_->publish(topic, payload.data(), payload.size(), 1, false);
    }
    // The same; `onPuback` hears the PUBACK (on_success) or its absence or refusal (on_failure,
    // the token's reason code 0x80 and up for a refusal) on Paho's thread.
    void publish(const std::string& topic, std::string_view payload,
                 mqtt::iaction_listener& onPuback) {
        client_->publish(topic, payload.data(), payload.size(), 1, false, nullptr, onPuback);
    }
    // Publishes `message` (its QoS, properties) and waits for the PUBACK: returns its reason code
    // (0 success, 0x80 and up refused). Throws std::runtime_error if none comes within `timeout`
    // or the publish fails otherwise.
    int publishAndWait(const mqtt::message_ptr& message, std::chrono::milliseconds timeout);
    // Disconnects cleanly (DISCONNECT, waiting up to `timeout`) if connected; never throws.
    void disconnect(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    bool connected() const { return client_->is_connected(); }
    const std::string& clientId() const { return options_.clientId; }
    const std::string& uri() const { return options_.uri; }

  private:
    void afterConnect();

    MqttClientOptions options_;
    ConnectionHandler connectedHandler_;
    ConnectionHandler connectionLostHandler_;
    std::mutex mutex_;
    std::condition_variable connectedRan_;
    unsigned long connects_ = 0;      // connected handlers run so far
    std::atomic<bool> awake_{false};  // in ConnectWaker's set
    // Paho 1.2.0 keeps pointers into the options: they must outlive connect() (and the client).
    mqtt::connect_options connectOptions_;
    std::unique_ptr<mqtt::async_client> client_;  // last: destroyed first
};

}  // namespace parley
