#include "transport/PahoTransport.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "parley/mqtt/ConnectFailure.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsDiagnosis.h"

namespace parley {

namespace {
// Called where client_ is built, before it (the member initializer's argument).
mqtt::create_options createOptions(const BrokerConfig& config) {
    holdPahoLibraryOpen();
    mqtt::create_options options(MQTTVERSION_5);
    // Replies and events published while the broker is away wait here (the store has them anyway).
    options.set_send_while_disconnected(true, true);
    options.set_max_buffered_messages(config.maxBufferedMessages);
    options.set_delete_oldest_messages(true);
    return options;
}
}  // namespace

PahoTransport::PahoTransport(const BrokerConfig& config, std::string password,
                             std::string subscription)
    : config_(config),
      subscription_(std::move(subscription)),
      client_(config.uri, config.clientId, createOptions(config), nullptr) {
    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(false);
    connectOptions_.set_keep_alive_interval(config.keepAliveSeconds);
    // Backoff 1, 2, 4 s, then every 5 s: a broker back after a restart gets every instance back
    // within seconds, and a few instances retrying every 5 s are no load for it.
    connectOptions_.set_automatic_reconnect(1, 5);
    connectOptions_.set_max_inflight(config.maxInflight);
    connectOptions_.set_connect_timeout(10);
    connectOptions_.set_user_name(config.username);
    connectOptions_.set_password(password);
    applyTls(connectOptions_, config.uri, config.tls);
    mqtt::properties properties;
    properties.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                                  static_cast<int>(config.sessionExpirySeconds)));
    // Set last, on the member that lives as long as the client (see notes on Paho 1.2.0).
    connectOptions_.set_properties(std::move(properties));
    client_.set_callback(*this);
    publisher_ = std::thread([this] { publishLoop(); });
}

void PahoTransport::publishLoop() {
    std::deque<OutboundMessage> batch;
    std::unique_lock lock(outgoingMutex_);
    while (true) {
        outgoingReady_.wait(lock, [this] { return publisherStopping_ || !outgoing_.empty(); });
        if (outgoing_.empty()) {
            return;  // stopping, and everything queued was handed to Paho
        }
        batch.swap(outgoing_);
        lock.unlock();
        for (const auto& message : batch) {
            waitForRoomInPaho();
            send(message);
        }
        batch.clear();
        lock.lock();
    }
}

void PahoTransport::waitForRoomInPaho() {
    while (inPaho_.load() >= kHandedToPahoAtMost) {
        {
            std::lock_guard stopping(outgoingMutex_);
            if (publisherStopping_) {
                return;  // stop() flushes everything to Paho before it disconnects
            }
        }
        // Disconnected: Paho buffers (max_buffered_messages, oldest dropped first), as before.
        // Asked without roomMutex_ held: Paho's thread takes roomMutex_ (publishSettled) while
        // holding Paho's lock, which is_connected() takes too.
        if (!client_.is_connected()) {
            return;
        }
        std::unique_lock lock(roomMutex_);
        if (!roomInPaho_.wait_for(lock, std::chrono::milliseconds(100),
                                  [this] { return inPaho_.load() < kHandedToPahoAtMost; })) {
            inPaho_ = 0;
        }
    }
}

void PahoTransport::publishSettled() {
    if (inPaho_.fetch_sub(1) == kHandedToPahoAtMost) {
        std::lock_guard lock(roomMutex_);
        roomInPaho_.notify_one();
    }
}

PahoTransport::~PahoTransport() {
    try {
        stop();
    } catch (const std::exception& error) {
        spdlog::warn("transport: error while stopping: {}", error.what());
    }
}

bool PahoTransport::start(InboundHandler handler) {
    handler_ = std::move(handler);
    receiving_ = true;
    auto backoff = std::chrono::seconds(1);
    while (!stopping_) {
        try {
            spdlog::info("transport: connecting to {} as {} (client id {})", config_.uri,
                         config_.username, config_.clientId);
            client_.connect(connectOptions_)->wait();
            return waitUntilSubscribed();  // connected() subscribes
        } catch (const mqtt::exception& error) {
            // Paho says "TCP/TLS connect failure" (MQTTASYNC_FAILURE) whatever went wrong with
            // TLS; a refused login has a reason code of its own.
            std::string reason;
            if (isTlsUri(config_.uri) && error.get_return_code() == MQTTASYNC_FAILURE) {
                reason = explainTlsFailure(config_.uri, config_.tls);
            }
            spdlog::warn("transport: cannot connect to {} as {}: {}; retrying in {}s", config_.uri,
                         config_.username, reason.empty() ? describeConnectFailure(error) : reason,
                         backoff.count());
        }
        std::unique_lock lock(mutex_);
        stopped_.wait_for(lock, backoff, [this] { return stopping_.load(); });
        backoff = std::min(backoff * 2, std::chrono::seconds(30));
    }
    return false;
}

bool PahoTransport::waitUntilSubscribed() {
    std::unique_lock lock(mutex_);
    // No time limit: a connection lost before the SUBACK reconnects and subscribes again.
    stopped_.wait(lock, [this] { return stopping_ || subscribed_ || subscribeRefused_; });
    if (subscribeRefused_) {
        throw std::runtime_error("the broker refused the subscription to " + subscription_ +
                                 " (check the broker's ACL for the parleyd account)");
    }
    return !stopping_;
}

void PahoTransport::connected(const std::string& cause) {
    spdlog::info("transport: connected to {}{}", config_.uri,
                 cause.empty() ? "" : " (" + cause + ")");
    std::string host;
    int port = 0;
    if (!parseBrokerUri(config_.uri, host, port) || enableTcpNoDelayTowards(host, port) == 0) {
        spdlog::warn(
            "transport: could not disable Nagle's algorithm towards {}: replies may "
            "wait ~40 ms for delayed ACKs",
            config_.uri);
    }
    if (receiving_) {
        subscribe();
    }
}

void PahoTransport::subscribe() {
    try {
        // Subscribing again after a reconnect is harmless and covers an expired session. The
        // answer comes to on_success / on_failure: waiting here would block Paho's thread.
        client_.subscribe(subscription_, 1, nullptr, *this);
    } catch (const mqtt::exception& error) {
        spdlog::error("transport: subscribe to {} failed: {}", subscription_, error.what());
    }
}

void PahoTransport::on_success(const mqtt::token&) {
    spdlog::info("transport: subscribed to {}", subscription_);
    {
        std::lock_guard lock(mutex_);
        subscribed_ = true;
    }
    stopped_.notify_all();
}

void PahoTransport::on_failure(const mqtt::token& token) {
    if (stopping_) {
        // Stopping: nothing to retry. (This also runs inside client_'s destructor, which fails
        // what Paho still holds; client_ must not be called from there.)
        return;
    }
    // A refusal (SUBACK with an error code) is configuration; a lost connection is retried by
    // the reconnect, which subscribes again.
    const bool refused = client_.is_connected();
    spdlog::error("transport: subscribe to {} failed (reason code {}){}", subscription_,
                  static_cast<int>(token.get_reason_code()),
                  refused ? ": refused by the broker" : "; will subscribe again on reconnect");
    if (refused) {
        {
            std::lock_guard lock(mutex_);
            subscribeRefused_ = true;
        }
        stopped_.notify_all();
    }
}

void PahoTransport::connection_lost(const std::string& cause) {
    subscribed_ = false;
    spdlog::warn("transport: connection lost{}; reconnecting", cause.empty() ? "" : ": " + cause);
}

void PahoTransport::message_arrived(mqtt::const_message_ptr message) {
    InboundMessage inbound;
    inbound.topic = message->get_topic();
    inbound.payload = message->get_payload_str();
    const auto& properties = message->get_properties();
    if (properties.contains(mqtt::property::CORRELATION_DATA)) {
        inbound.correlationData =
            mqtt::get<std::string>(properties, mqtt::property::CORRELATION_DATA);
    }
    // Exceptions must not reach Paho's thread.
    try {
        handler_(std::move(inbound));
    } catch (const std::exception& error) {
        spdlog::error("transport: handler failed on {}: {}", message->get_topic(), error.what());
    }
}

void PahoTransport::stopReceiving() {
    if (!receiving_.exchange(false)) {
        return;
    }
    try {
        // The broker refused the subscription: there is none to undo, and it would only answer
        // "no subscription found". (Otherwise unsubscribe even without a SUBACK yet: one may be
        // on its way.)
        bool refused = false;
        {
            std::lock_guard lock(mutex_);
            refused = subscribeRefused_;
        }
        if (client_.is_connected() && !refused) {
            client_.unsubscribe(subscription_)->wait_for(std::chrono::seconds(5));
            spdlog::info("transport: unsubscribed from {}", subscription_);
        }
    } catch (const mqtt::exception& error) {
        spdlog::warn("transport: unsubscribe failed: {}", error.what());
    }
}

void PahoTransport::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    {
        std::lock_guard lock(mutex_);  // a waiter between its check and its sleep still wakes
    }
    stopped_.notify_all();
    receiving_ = false;
    {
        std::lock_guard lock(outgoingMutex_);
        publisherStopping_ = true;
    }
    outgoingReady_.notify_all();
    if (publisher_.joinable()) {
        publisher_.join();  // what was queued reaches Paho before the disconnect
    }
    try {
        if (client_.is_connected()) {
            client_.disconnect()->wait_for(std::chrono::seconds(5));
        }
    } catch (const mqtt::exception& error) {
        spdlog::warn("transport: disconnect failed: {}", error.what());
    }
}

bool PahoTransport::isConnected() const {
    return client_.is_connected() && (subscribed_ || !receiving_);
}

void PahoTransport::publish(OutboundMessage message) {
    {
        std::lock_guard lock(outgoingMutex_);
        outgoing_.push_back(std::move(message));
    }
    outgoingReady_.notify_one();
}

void PahoTransport::send(const OutboundMessage& message) {
    auto outbound = mqtt::make_message(message.topic, message.payload, message.qos, message.retain);
    if (!message.correlationData.empty()) {
        mqtt::properties properties;
        properties.add(mqtt::property(mqtt::property::CORRELATION_DATA, message.correlationData));
        outbound->set_properties(std::move(properties));
    }
    try {
        if (message.qos > 0) {
            ++inPaho_;  // delivery_complete counts it out (QoS 0 gets no acknowledgement)
        }
        client_.publish(std::move(outbound), nullptr, publishListener_);
    } catch (const mqtt::exception& error) {
        if (message.qos > 0) {
            --inPaho_;
        }
        // The client (and the store) can recover: a missing reply makes it resend, a missing event
        // is in msg.history.
        spdlog::warn("transport: publish to {} failed: {}", message.topic, error.what());
    }
}

}  // namespace parley
