#include "parley/mqtt/MqttClient.h"

#include "parley/mqtt/ConnectFailure.h"
#include "parley/mqtt/ConnectWaker.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsDiagnosis.h"

namespace parley {

namespace {

mqtt::create_options createOptions(const MqttClientOptions& options) {
    mqtt::create_options created(MQTTVERSION_5);
    if (options.maxBufferedMessages > 0) {
        created.set_max_buffered_messages(options.maxBufferedMessages);
    }
    return created;
}

}  // namespace

MqttClient::MqttClient(MqttClientOptions options) : options_(std::move(options)) {
    client_ = newPahoClient(options_.uri, options_.clientId, createOptions(options_));
    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(true);
    connectOptions_.set_keep_alive_interval(options_.keepAlive);
    connectOptions_.set_connect_timeout(
        std::chrono::duration_cast<std::chrono::seconds>(options_.connectTimeout));
    if (options_.automaticReconnect) {
        connectOptions_.set_automatic_reconnect(1, 16);
    }
    connectOptions_.set_user_name(options_.user);
    connectOptions_.set_password(options_.password);
    if (options_.maxInflight > 0) {
        connectOptions_.set_max_inflight(options_.maxInflight);
    }
    if (options_.will) {
        connectOptions_.set_will(
            mqtt::will_options(options_.will->topic, options_.will->payload, 1, false));
    }
}

MqttClient::~MqttClient() {
    disconnect();
}

void MqttClient::onMessage(MessageHandler handler) {
    client_->set_message_callback(std::move(handler));
}

void MqttClient::onConnected(ConnectionHandler handler) {
    connectedHandler_ = std::move(handler);
}

void MqttClient::onConnectionLost(ConnectionHandler handler) {
    connectionLostHandler_ = std::move(handler);
}

void MqttClient::connect() {
    client_->set_connected_handler([this](const std::string&) { afterConnect(); });
    if (connectionLostHandler_) {
        client_->set_connection_lost_handler(
            [this](const std::string&) { connectionLostHandler_(); });
    }
    unsigned long connectsBefore = 0;
    {
        std::lock_guard lock(mutex_);
        connectsBefore = connects_;
    }
    try {
        checkTlsFiles(options_.tls);
        applyTls(connectOptions_, options_.uri, options_.tls);
        auto token = client_->connect(connectOptions_);
        if (!ConnectWaker::waitForConnect(token, options_.connectTimeout)) {
            throw MqttConnectError("timed out");
        }
    } catch (const mqtt::exception& error) {
        // Paho says "TCP/TLS connect failure" (MQTTASYNC_FAILURE) whatever went wrong with TLS.
        std::string reason;
        if (isTlsUri(options_.uri) && error.get_return_code() == MQTTASYNC_FAILURE) {
            reason = explainTlsFailure(options_.uri, options_.tls);
        }
        throw MqttConnectError(reason.empty() ? describeConnectFailure(error) : reason);
    } catch (const std::invalid_argument& error) {  // the TLS files, or TLS for a tcp:// uri
        throw MqttConnectError(error.what());
    }
    // Paho completes the connect token before it runs the connected handler: wait for it, so
    // that what the owner does next goes out with TCP_NODELAY set and after its handler.
    {
        std::unique_lock lock(mutex_);
        connectedRan_.wait_for(lock, options_.connectTimeout,
                               [&] { return connects_ != connectsBefore; });
    }
    ConnectWaker::add(client_.get());
    awake_ = true;
}

void MqttClient::afterConnect() {
    std::string host;
    int port = 0;
    if (parseBrokerUri(options_.uri, host, port)) {
        enableTcpNoDelayTowards(host, port);  // see SocketTuning.h
    }
    if (connectedHandler_) {
        connectedHandler_();
    }
    {
        std::lock_guard lock(mutex_);
        ++connects_;
    }
    connectedRan_.notify_all();
}

int MqttClient::subscribe(const std::string& filter, std::chrono::milliseconds timeout) {
    mqtt::token_ptr token;
    try {
        token = client_->subscribe(filter, 1);
        if (!token->wait_for(timeout)) {
            throw std::runtime_error("no SUBACK within " + std::to_string(timeout.count()) + " ms");
        }
    } catch (const mqtt::exception& error) {
        // Paho reports a SUBACK with an error reason code as a failed subscribe.
        if (error.get_reason_code() >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
            return error.get_reason_code();
        }
        throw std::runtime_error(error.what());
    }
    const auto codes = token->get_subscribe_response().get_reason_codes();
    if (codes.size() != 1) {
        throw std::runtime_error(std::to_string(codes.size()) + " reason codes in the SUBACK");
    }
    return codes.front();
}

int MqttClient::publishAndWait(const mqtt::message_ptr& message,
                               std::chrono::milliseconds timeout) {
    try {
        auto token = client_->publish(message);
        if (!token->wait_for(timeout)) {
            throw std::runtime_error("no PUBACK within " + std::to_string(timeout.count()) + " ms");
        }
        return token->get_reason_code();
    } catch (const mqtt::exception& error) {
        // Paho reports a PUBACK with an error reason code as a failed delivery.
        if (error.get_reason_code() >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
            return error.get_reason_code();
        }
        throw std::runtime_error(error.what());
    }
}

void MqttClient::disconnect(std::chrono::milliseconds timeout) {
    if (awake_.exchange(false)) {
        ConnectWaker::remove(client_.get());
    }
    try {
        if (client_->is_connected()) {
            client_->disconnect()->wait_for(timeout);
        }
    } catch (const mqtt::exception&) {
        // The broker may be gone already; nothing left to tell it.
    }
}

}  // namespace parley
