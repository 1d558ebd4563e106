#pragma once

#include <mosquitto.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "transport/BrokerConfig.h"
#include "transport/Transport.h"

namespace parley {

// MQTT 5 over libmosquitto (broker.client: mosquitto), with the same guarantees as PahoTransport:
// persistent session (session expiry from config), the shared subscription on the command
// topics, reconnect with backoff that resubscribes, QoS 1 both ways, replies and events buffered
// while disconnected (broker.max_buffered_messages, oldest dropped first).
//
// One thread of ours drives libmosquitto's network loop: it connects, reads commands and runs the
// handler, and writes what workers publish. Workers call mosquitto_publish themselves (it only
// queues, and wakes the loop; libmosquitto's own locks make that safe from any thread), so a
// reply crosses one thread boundary on its way out, where Paho took two (the publisher thread and
// Paho's send thread), and a command one on its way in. No WebSockets: libmosquitto has no
// WebSocket client, so a ws:// or wss:// uri is refused.
class MosquittoTransport final : public Transport {
  public:
    MosquittoTransport(const BrokerConfig& config, std::string password, std::string subscription);
    ~MosquittoTransport() override;

    // Throws std::invalid_argument if libmosquitto cannot connect to `uri` (a WebSocket uri, an
    // unknown scheme, no host); else its host and port.
    static std::pair<std::string, int> checkUri(const std::string& uri);

    bool start(InboundHandler handler) override;
    void stopReceiving() override;
    void stop() override;
    bool isConnected() const override;
    void publish(OutboundMessage message) override;

  private:
    void networkLoop();
    // Starts a connection (TCP connect, CONNECT sent); on failure says why in `failure`.
    bool connect(std::string& failure);
    // Runs the loop until the connection ends (why, in words) or stop() (empty).
    std::string runConnection();
    // At a stop: what was published before it reaches libmosquitto, then the broker, which is
    // given a few seconds to acknowledge it; then DISCONNECT.
    void finish();
    // Hands what waited while disconnected to libmosquitto, in order, then lets workers publish
    // straight through. Network thread.
    void goOnline();
    void goOffline();
    // To libmosquitto; caller holds bufferMutex_.
    void handOver(const OutboundMessage& message);
    std::string explain(int rc) const;

    void onConnect(int reasonCode);
    void onSubscribe(int mid, int count, const int* grantedQos);
    void onUnsubscribe(int mid);
    void onMessage(const mosquitto_message& message, const mosquitto_property* properties);
    void onPublish();

    BrokerConfig config_;
    std::string password_;
    std::string subscription_;
    std::string host_;
    int port_ = 0;
    std::unique_ptr<mosquitto, void (*)(mosquitto*)> client_;
    InboundHandler handler_;

    std::atomic<bool> receiving_{false};
    std::atomic<bool> stopping_{false};
    // The broker acknowledged the subscription on the current connection: commands can arrive.
    std::atomic<bool> subscribed_{false};
    std::atomic<bool> unsubscribed_{false};
    bool subscribeRefused_ = false;  // guarded by mutex_
    std::mutex mutex_;
    std::condition_variable changed_;

    // The CONNACK of the current connection: -1 none yet, 0 accepted, else its reason code.
    std::atomic<int> connackCode_{-1};
    std::atomic<bool> connackArrived_{false};  // set by the callback, acted on by the loop
    int subscribeMid_ = -1;                    // network thread
    int unsubscribeMid_ = -1;                  // written before the request, under mutex_

    // online_: connected, accepted, and what waited has been handed over. Written under
    // bufferMutex_, so a worker's publish goes either to libmosquitto behind everything that
    // waited, or into buffered_.
    mutable std::mutex bufferMutex_;
    std::atomic<bool> online_{false};
    std::deque<OutboundMessage> buffered_;
    long droppedWhileAway_ = 0;  // guarded by bufferMutex_
    // Published and not yet acknowledged (QoS 1) or written (QoS 0): how long a stop waits.
    std::atomic<long> unsettled_{0};

    std::thread network_;
};

}  // namespace parley
