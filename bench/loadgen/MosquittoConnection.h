#pragma once

#include <mosquitto.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/mqtt/TlsSettings.h"

namespace parley::bench {

// One MQTT 5 connection through libmosquitto, driven by the caller's poll() loop (no thread of
// its own): the load generator and the raw relay run every connection of their process on one
// thread, so what they cost per message is what a client library must cost, not the hand-offs
// between a library's threads (docs/performance.md, "The load generator").
class MosquittoConnection {
  public:
    // Called from read() for every PUBLISH that arrives: the topic and the payload, valid only
    // during the call.
    using MessageHandler =
        std::function<void(MosquittoConnection&, std::string_view topic, std::string_view payload)>;

    // uri: tcp://host:port or mqtt://host:port (ssl:// and mqtts:// with `tls`). inflight: QoS 1
    // publishes awaiting their PUBACK, and how many the broker may send us unacknowledged.
    MosquittoConnection(const std::string& uri, const TlsSettings& tls, const std::string& clientId,
                        const std::string& user, const std::string& password, int inflight,
                        MessageHandler onMessage);
    ~MosquittoConnection();
    MosquittoConnection(const MosquittoConnection&) = delete;
    MosquittoConnection& operator=(const MosquittoConnection&) = delete;

    // Opens the TCP connection and sends CONNECT; connected() turns true on the CONNACK. Throws
    // std::runtime_error.
    void startConnect();
    bool connected() const { return connected_; }
    // Refused by the broker (CONNACK with an error), or the connection dropped.
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }
    // Sends SUBSCRIBE; subscribed() counts the SUBACKs.
    void subscribe(const std::string& filter, int qos);
    int subscribed() const { return subscribed_; }
    // QoS 1, queued in libmosquitto if the connection's window is full. Throws on a dropped
    // connection.
    void publish(const std::string& topic, std::string_view payload, int qos = 1);
    long long publishesAcknowledged() const { return acknowledged_; }
    long long publishesRefused() const { return refused_; }  // PUBACK with an error reason code

    int socket() const;
    bool wantWrite() const;
    // What poll() said about socket(); false once the connection is gone (see failed()).
    bool read();
    bool write();
    // Keepalive and retries: at least once a second.
    void misc();
    void disconnect();

    // Runs each connection's I/O until `done()` or `timeout`; true if done() came true.
    static bool runUntil(const std::vector<MosquittoConnection*>& connections,
                         const std::function<bool()>& done, std::chrono::milliseconds timeout);
    // One pass: ppoll() for at most `timeout` (microseconds: a paced load's sends are due every
    // 200 µs at 5,000/s), then read and write what is ready; write also whatever the handlers
    // queued meanwhile.
    static void pollOnce(const std::vector<MosquittoConnection*>& connections,
                         std::chrono::microseconds timeout);

  private:
    static void onConnect(mosquitto*, void* self, int rc, int flags, const mosquitto_property*);
    static void onDisconnect(mosquitto*, void* self, int rc, const mosquitto_property*);
    static void onSubscribe(mosquitto*, void* self, int mid, int count, const int* granted);
    static void onPublish(mosquitto*, void* self, int mid, int reasonCode,
                          const mosquitto_property*);
    static void onMessageArrived(mosquitto*, void* self, const mosquitto_message* message);

    std::string host_;
    int port_ = 0;
    MessageHandler onMessage_;
    std::unique_ptr<mosquitto, void (*)(mosquitto*)> client_;
    bool connected_ = false;
    bool disconnecting_ = false;
    std::string failure_;
    int subscribed_ = 0;
    long long acknowledged_ = 0;
    long long refused_ = 0;
};

}  // namespace parley::bench
