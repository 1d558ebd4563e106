#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "transport/BrokerConfig.h"
#include "transport/Transport.h"

namespace parley {

// MQTT 5 over Paho C++: persistent session (session expiry from config), shared subscription on
// the command topics, automatic reconnect that resubscribes, QoS 1 both ways.
class PahoTransport final : public Transport,
                            private mqtt::callback,
                            private mqtt::iaction_listener {
  public:
    PahoTransport(const BrokerConfig& config, std::string password, std::string subscription);
    ~PahoTransport() override;

    bool start(InboundHandler handler) override;
    void stopReceiving() override;
    void stop() override;
    bool isConnected() const override;
    void publish(OutboundMessage message) override;

  private:
    void connected(const std::string& cause) override;
    void connection_lost(const std::string& cause) override;
    void message_arrived(mqtt::const_message_ptr message) override;
    // The broker's answer to our SUBSCRIBE (the only request that uses this listener).
    void on_success(const mqtt::token& token) override;
    void on_failure(const mqtt::token& token) override;
    // Waits (on the publisher thread) while Paho holds kHandedToPahoAtMost publishes not yet
    // acknowledged, unless disconnected or stopping.
    void waitForRoomInPaho();

    void subscribe();
    bool waitUntilSubscribed();  // false if stop() came first
    // Hands one message to Paho (on the publisher thread).
    void send(const OutboundMessage& message);
    void publishLoop();

    BrokerConfig config_;
    std::string subscription_;
    // Paho keeps connect properties by reference: this object must outlive every (re)connect.
    mqtt::connect_options connectOptions_;
    InboundHandler handler_;
    std::atomic<bool> receiving_{false};
    std::atomic<bool> stopping_{false};
    // The broker acknowledged the subscription on the current connection: commands can arrive.
    // start() waits for it, so "ready" in the log means subscribed, not just connected.
    std::atomic<bool> subscribed_{false};
    bool subscribeRefused_ = false;  // guarded by mutex_
    std::mutex mutex_;
    std::condition_variable stopped_;

    // Workers never call Paho themselves: Paho holds its own lock while our message_arrived runs,
    // and that callback waits when the workers' queues are full (backpressure on the broker). A
    // worker blocked on Paho's lock could then never empty its queue: parleyd stopped for good.
    // Workers queue here instead, and one thread publishes, in order.
    std::mutex outgoingMutex_;
    std::condition_variable outgoingReady_;
    std::deque<OutboundMessage> outgoing_;
    bool publisherStopping_ = false;
    // Publishes handed to Paho and not yet settled (PublishListener). Paho C scans its
    // lists of queued commands and messages in flight on every publish to pick a message id
    // (MQTTAsync_assignMsgId): thousands deep at flood, that scan was a large share of parleyd's
    // CPU (docs/performance.md). Past the limit they wait in outgoing_, which costs nothing per
    // message. A count that drifts (a message Paho dropped without a callback) is corrected
    // by starting over from zero whenever the publisher has waited without progress: never a
    // stall, at worst a longer list for a while.
    static constexpr int kHandedToPahoAtMost = 256;
    std::atomic<int> inPaho_{0};
    class PublishListener final : public mqtt::iaction_listener {
      public:
        explicit PublishListener(PahoTransport& transport) : transport_(transport) {}

      private:
        void on_success(const mqtt::token&) override { transport_.publishSettled(); }
        void on_failure(const mqtt::token&) override { transport_.publishSettled(); }
        PahoTransport& transport_;
    };
    void publishSettled();
    PublishListener publishListener_{*this};
    std::mutex roomMutex_;
    std::condition_variable roomInPaho_;
    // Declared after everything Paho's callbacks touch, so it is destroyed first: destroying it
    // fails every publish and request Paho still holds (unacknowledged at a stop) and calls their
    // listeners (publishListener_, this) back on the spot.
    mqtt::async_client client_;
    std::thread publisher_;  // last: started once everything above exists
};

}  // namespace parley
