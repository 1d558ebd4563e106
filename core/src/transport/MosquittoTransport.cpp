#include "transport/MosquittoTransport.h"

#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "parley/mqtt/ConnectFailure.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsDiagnosis.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley {

namespace {

using namespace std::chrono_literals;

// How long one turn of the loop may wait for the socket: what a stop() waits at most to be seen
// (libmosquitto wakes its loop for a publish, but has no call that only wakes it).
constexpr int kLoopTimeoutMs = 100;
// As Paho's connect timeout: a broker that accepts the TCP connection and never answers.
constexpr auto kConnackTimeout = 10s;
// As Paho's disconnect timeout: how long a stop waits for the broker's acknowledgements.
constexpr auto kSettleAtStop = 5s;

MosquittoTransport* self(void* userdata) {
    return static_cast<MosquittoTransport*>(userdata);
}

void initLibraryOnce() {
    // Never cleaned up: other libmosquitto users of the process (tests, the bench) share it.
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

bool isWebSocketUri(const std::string& uri) {
    return uri.rfind("ws://", 0) == 0 || uri.rfind("wss://", 0) == 0;
}

}  // namespace

MosquittoTransport::MosquittoTransport(const BrokerConfig& config, std::string password,
                                       std::string subscription)
    : config_(config),
      password_(std::move(password)),
      subscription_(std::move(subscription)),
      client_(nullptr, mosquitto_destroy) {
    initLibraryOnce();
    std::tie(host_, port_) = checkUri(config_.uri);
    // clean_session false: MQTT 5 clean start off, the session outlives a restart of parleyd.
    client_.reset(mosquitto_new(config_.clientId.c_str(), false, this));
    if (!client_) {
        throw std::runtime_error("libmosquitto could not create a client (mosquitto_new)");
    }
    mosquitto* client = client_.get();
    mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(client, MOSQ_OPT_TCP_NODELAY, 1);
    // libmosquitto's default is 20 in flight; the broker's receive maximum lowers it further.
    mosquitto_int_option(client, MOSQ_OPT_SEND_MAXIMUM, config_.maxInflight);
    mosquitto_int_option(client, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    // Workers publish from their own threads; only the network thread writes to the socket.
    mosquitto_threaded_set(client, true);
    mosquitto_username_pw_set(client, config_.username.c_str(), password_.c_str());
    if (isTlsUri(config_.uri)) {
        const auto& tls = config_.tls;
        const int rc =
            mosquitto_tls_set(client, tls.caFile.empty() ? nullptr : tls.caFile.c_str(),
                              tls.caFile.empty() ? "/etc/ssl/certs" : nullptr,
                              tls.certFile.empty() ? nullptr : tls.certFile.c_str(),
                              tls.keyFile.empty() ? nullptr : tls.keyFile.c_str(), nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
            throw std::invalid_argument("broker.tls refused by libmosquitto: " +
                                        std::string(mosquitto_strerror(rc)));
        }
        // The chain and the host name, as for Paho (mosquitto_tls_insecure_set stays false).
        mosquitto_tls_opts_set(client, 1, nullptr, nullptr);
    } else if (config_.tls.any()) {
        throw std::invalid_argument("a CA file or client certificate is for TLS, but " +
                                    config_.uri + " is not a TLS address: use ssl://HOST:8883");
    }
    mosquitto_connect_v5_callback_set(
        client, [](mosquitto*, void* userdata, int reasonCode, int, const mosquitto_property*) {
            self(userdata)->onConnect(reasonCode);
        });
    mosquitto_subscribe_v5_callback_set(
        client,
        [](mosquitto*, void* userdata, int mid, int count, const int* grantedQos,
           const mosquitto_property*) { self(userdata)->onSubscribe(mid, count, grantedQos); });
    mosquitto_unsubscribe_v5_callback_set(
        client, [](mosquitto*, void* userdata, int mid, const mosquitto_property*) {
            self(userdata)->onUnsubscribe(mid);
        });
    mosquitto_message_v5_callback_set(
        client, [](mosquitto*, void* userdata, const mosquitto_message* message,
                   const mosquitto_property* properties) {
            self(userdata)->onMessage(*message, properties);
        });
    mosquitto_publish_v5_callback_set(
        client, [](mosquitto*, void* userdata, int, int, const mosquitto_property*) {
            self(userdata)->onPublish();
        });
}

std::pair<std::string, int> MosquittoTransport::checkUri(const std::string& uri) {
    if (isWebSocketUri(uri)) {
        throw std::invalid_argument(
            "broker.client: mosquitto cannot connect over WebSockets (libmosquitto has no "
            "WebSocket client): use ssl://HOST:8883, or broker.client: paho");
    }
    const auto schemeEnd = uri.find("://");
    const std::string scheme = schemeEnd == std::string::npos ? "tcp" : uri.substr(0, schemeEnd);
    if (scheme != "tcp" && scheme != "mqtt" && scheme != "ssl" && scheme != "mqtts") {
        throw std::invalid_argument("broker.uri " + uri +
                                    ": unknown scheme (tcp://, mqtt://, ssl:// or mqtts://)");
    }
    std::pair<std::string, int> hostAndPort;
    if (!parseBrokerUri(uri, hostAndPort.first, hostAndPort.second)) {
        throw std::invalid_argument("broker.uri " + uri + ": not HOST:PORT");
    }
    return hostAndPort;
}

MosquittoTransport::~MosquittoTransport() {
    try {
        stop();
    } catch (const std::exception& error) {
        spdlog::warn("transport: error while stopping: {}", error.what());
    }
}

bool MosquittoTransport::start(InboundHandler handler) {
    handler_ = std::move(handler);
    receiving_ = true;
    network_ = std::thread([this] { networkLoop(); });
    std::unique_lock lock(mutex_);
    // No time limit: a connection lost before the SUBACK reconnects and subscribes again.
    changed_.wait(lock, [this] { return stopping_ || subscribed_ || subscribeRefused_; });
    if (subscribeRefused_) {
        throw std::runtime_error("the broker refused the subscription to " + subscription_ +
                                 " (check the broker's ACL for the parleyd account)");
    }
    return !stopping_;
}

void MosquittoTransport::networkLoop() {
    auto backoff = std::chrono::seconds(1);
    bool everOnline = false;
    while (!stopping_) {
        std::string failure;
        if (connect(failure)) {
            failure = runConnection();
            if (stopping_) {
                break;  // finish() lets the broker acknowledge, then disconnects
            }
            const bool wasOnline = online_;
            goOffline();
            if (wasOnline) {
                everOnline = true;
                backoff = std::chrono::seconds(1);
                spdlog::warn("transport: connection lost: {}; reconnecting", failure);
                failure.clear();
            }
        }
        if (!failure.empty()) {
            spdlog::warn("transport: cannot connect to {} as {}: {}; retrying in {}s", config_.uri,
                         config_.username, failure, backoff.count());
        }
        {
            std::unique_lock lock(mutex_);
            changed_.wait_for(lock, backoff, [this] { return stopping_.load(); });
        }
        // Backoff 1, 2, 4 s, then every 5 s once connected before (as Paho's automatic
        // reconnect); up to 30 s between first attempts, as PahoTransport's start().
        backoff =
            std::min(backoff * 2, everOnline ? std::chrono::seconds(5) : std::chrono::seconds(30));
    }
    finish();
}

bool MosquittoTransport::connect(std::string& failure) {
    spdlog::info("transport: connecting to {} as {} (client id {})", config_.uri, config_.username,
                 config_.clientId);
    connackCode_ = -1;
    connackArrived_ = false;
    mosquitto_property* properties = nullptr;
    mosquitto_property_add_int32(&properties, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 static_cast<uint32_t>(config_.sessionExpirySeconds));
    // libmosquitto refuses a keepalive under 5 s.
    const int keepAlive = std::max(config_.keepAliveSeconds, 5);
    const int rc = mosquitto_connect_bind_v5(client_.get(), host_.c_str(), port_, keepAlive,
                                             nullptr, properties);
    mosquitto_property_free_all(&properties);
    if (rc != MOSQ_ERR_SUCCESS) {
        failure = explain(rc);
        return false;
    }
    return true;
}

std::string MosquittoTransport::runConnection() {
    const auto connackDeadline = std::chrono::steady_clock::now() + kConnackTimeout;
    while (!stopping_) {
        const int rc = mosquitto_loop(client_.get(), kLoopTimeoutMs, 1);
        if (connackArrived_.exchange(false) && connackCode_ == 0) {
            goOnline();
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            return explain(rc);
        }
        if (connackCode_ < 0 && std::chrono::steady_clock::now() > connackDeadline) {
            mosquitto_disconnect(client_.get());
            return "no CONNACK from the broker within 10 s";
        }
    }
    return {};
}

std::string MosquittoTransport::explain(int rc) const {
    const int error = errno;  // what MOSQ_ERR_ERRNO means, before anything below changes it
    const int connack = connackCode_;
    if (connack > 0) {
        if (isLoginRefusalCode(connack)) {
            return describeLoginRefusal();
        }
        return "the broker refused the connection: " +
               std::string(mosquitto_reason_string(connack));
    }
    // Before a CONNACK any failure may be TLS's, whatever libmosquitto says: a broker that wants a
    // client certificate ends the connection after the handshake (TLS 1.3), which it reports as
    // a lost connection or a protocol error. A handshake of our own says which, as for Paho.
    if (connack < 0 && isTlsUri(config_.uri)) {
        auto reason = explainTlsFailure(config_.uri, config_.tls);
        if (!reason.empty()) {
            return reason;
        }
    }
    if (rc == MOSQ_ERR_ERRNO) {
        return std::strerror(error);
    }
    std::string text = mosquitto_strerror(rc);
    if (!text.empty() && text.back() == '.') {
        text.pop_back();  // it goes inside a sentence of ours
    }
    return text;
}

void MosquittoTransport::onConnect(int reasonCode) {
    connackCode_ = reasonCode;
    connackArrived_ = true;
    if (reasonCode != 0) {
        return;
    }
    spdlog::info("transport: connected to {}", config_.uri);
    if (receiving_) {
        // Subscribing again after a reconnect is harmless and covers an expired session.
        const int rc = mosquitto_subscribe_v5(client_.get(), &subscribeMid_, subscription_.c_str(),
                                              1, 0, nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
            spdlog::error("transport: subscribe to {} failed: {}", subscription_,
                          mosquitto_strerror(rc));
        }
    }
}

void MosquittoTransport::onSubscribe(int mid, int count, const int* grantedQos) {
    if (mid != subscribeMid_) {
        return;
    }
    // MQTT 5: a reason code of 0x80 or more refuses the subscription (the broker's ACL).
    if (count < 1 || grantedQos[0] >= 0x80) {
        spdlog::error("transport: subscribe to {} failed (reason code {}): refused by the broker",
                      subscription_, count < 1 ? -1 : grantedQos[0]);
        {
            std::lock_guard lock(mutex_);
            subscribeRefused_ = true;
        }
        changed_.notify_all();
        return;
    }
    spdlog::info("transport: subscribed to {}", subscription_);
    {
        std::lock_guard lock(mutex_);
        subscribed_ = true;
    }
    changed_.notify_all();
}

void MosquittoTransport::onUnsubscribe(int mid) {
    {
        std::lock_guard lock(mutex_);
        if (mid != unsubscribeMid_) {
            return;
        }
        unsubscribed_ = true;
    }
    changed_.notify_all();
}

void MosquittoTransport::onMessage(const mosquitto_message& message,
                                   const mosquitto_property* properties) {
    InboundMessage inbound;
    inbound.topic = message.topic;
    inbound.payload.assign(static_cast<const char*>(message.payload),
                           static_cast<size_t>(message.payloadlen));
    void* correlation = nullptr;
    uint16_t correlationLength = 0;
    if (mosquitto_property_read_binary(properties, MQTT_PROP_CORRELATION_DATA, &correlation,
                                       &correlationLength, false) != nullptr) {
        inbound.correlationData.assign(static_cast<const char*>(correlation), correlationLength);
        std::free(correlation);
    }
    // Exceptions must not reach libmosquitto's C frames.
    try {
        handler_(std::move(inbound));
    } catch (const std::exception& error) {
        spdlog::error("transport: handler failed on {}: {}", message.topic, error.what());
    }
}

void MosquittoTransport::onPublish() {
    --unsettled_;
}

void MosquittoTransport::goOnline() {
    long dropped = 0;
    size_t waited = 0;
    {
        std::lock_guard lock(bufferMutex_);
        waited = buffered_.size();
        for (const auto& message : buffered_) {
            handOver(message);
        }
        buffered_.clear();
        dropped = std::exchange(droppedWhileAway_, 0);
        online_ = true;
    }
    if (waited > 0 || dropped > 0) {
        spdlog::info("transport: {} replies and events published after waiting for the broker{}",
                     waited,
                     dropped > 0 ? "; " + std::to_string(dropped) +
                                       " older ones dropped (broker.max_buffered_messages)"
                                 : std::string());
    }
}

void MosquittoTransport::goOffline() {
    {
        std::lock_guard lock(bufferMutex_);
        online_ = false;
    }
    subscribed_ = false;
}

void MosquittoTransport::handOver(const OutboundMessage& message) {
    mosquitto_property* properties = nullptr;
    if (!message.correlationData.empty()) {
        mosquitto_property_add_binary(&properties, MQTT_PROP_CORRELATION_DATA,
                                      message.correlationData.data(),
                                      static_cast<uint16_t>(message.correlationData.size()));
    }
    ++unsettled_;
    const int rc = mosquitto_publish_v5(
        client_.get(), nullptr, message.topic.c_str(), static_cast<int>(message.payload.size()),
        message.payload.data(), message.qos, message.retain, properties);
    mosquitto_property_free_all(&properties);
    if (rc != MOSQ_ERR_SUCCESS) {
        --unsettled_;
        // The client (and the store) can recover: a missing reply makes it resend, a missing event
        // is in msg.history.
        spdlog::warn("transport: publish to {} failed: {}", message.topic, mosquitto_strerror(rc));
    }
}

void MosquittoTransport::publish(OutboundMessage message) {
    std::lock_guard lock(bufferMutex_);
    if (online_) {
        handOver(message);
        return;
    }
    // Replies and events published while the broker is away wait here (the store has them anyway).
    buffered_.push_back(std::move(message));
    if (buffered_.size() > static_cast<size_t>(config_.maxBufferedMessages)) {
        buffered_.pop_front();
        ++droppedWhileAway_;
    }
}

void MosquittoTransport::stopReceiving() {
    if (!receiving_.exchange(false)) {
        return;
    }
    bool refused = false;
    {
        std::lock_guard lock(mutex_);
        refused = subscribeRefused_;
    }
    // The broker refused the subscription: there is none to undo. (Otherwise unsubscribe even
    // without a SUBACK yet: one may be on its way.)
    if (!online_ || refused || !network_.joinable()) {
        return;
    }
    std::unique_lock lock(mutex_);
    unsubscribed_ = false;
    const int rc =
        mosquitto_unsubscribe_v5(client_.get(), &unsubscribeMid_, subscription_.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
        spdlog::warn("transport: unsubscribe failed: {}", mosquitto_strerror(rc));
        return;
    }
    if (changed_.wait_for(lock, 5s, [this] { return unsubscribed_ || stopping_; }) &&
        unsubscribed_) {
        spdlog::info("transport: unsubscribed from {}", subscription_);
    } else {
        spdlog::warn("transport: unsubscribe from {} not acknowledged", subscription_);
    }
}

void MosquittoTransport::finish() {
    if (!online_) {
        return;
    }
    const auto deadline = std::chrono::steady_clock::now() + kSettleAtStop;
    while (unsettled_ > 0 && std::chrono::steady_clock::now() < deadline) {
        if (mosquitto_loop(client_.get(), kLoopTimeoutMs, 1) != MOSQ_ERR_SUCCESS) {
            goOffline();
            return;
        }
    }
    if (unsettled_ > 0) {
        spdlog::warn("transport: stopping with {} publishes not acknowledged by the broker",
                     unsettled_.load());
    }
    mosquitto_disconnect(client_.get());
    // Until DISCONNECT is written (the loop then reports the connection closed).
    const auto written = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < written &&
           mosquitto_loop(client_.get(), kLoopTimeoutMs, 1) == MOSQ_ERR_SUCCESS) {
    }
    goOffline();
}

void MosquittoTransport::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    {
        std::lock_guard lock(mutex_);  // a waiter between its check and its sleep still wakes
    }
    changed_.notify_all();
    receiving_ = false;
    if (network_.joinable()) {
        network_.join();
    }
}

bool MosquittoTransport::isConnected() const {
    return online_ && (subscribed_ || !receiving_);
}

}  // namespace parley
