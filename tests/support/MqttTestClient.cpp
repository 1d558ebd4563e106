#include "MqttTestClient.h"

#include "parley/mqtt/ConnectWaker.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/wire/TopicScheme.h"

#include <random>
#include <stdexcept>

namespace parley::testing {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kAckTimeout = std::chrono::seconds(10);
// Parley's default prefix, which every test stack's broker and parleyd use.
const TopicScheme kTopics("parley/v1");

std::string randomHex(size_t length) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::random_device random;
    std::uniform_int_distribution<int> digit(0, 15);
    std::string text;
    for (size_t i = 0; i < length; ++i) {
        text += kDigits[digit(random)];
    }
    return text;
}

std::string describe(const std::vector<Received>& messages) {
    std::string text;
    for (const auto& message : messages) {
        std::string payload = message.payload.dump();
        if (payload.size() > 300) {
            payload = payload.substr(0, 300) + "...";
        }
        text += "\n  " + message.topic + (message.retained ? " (retained) " : " ") + payload;
    }
    return text.empty() ? " nothing" : text;
}

}  // namespace

MqttTestClient::MqttTestClient(const std::string& uri, const std::string& uid,
                               const std::string& password, std::optional<nlohmann::json> will,
                               std::string clientId, const TlsSettings& tls)
    : uid_(uid),
      clientId_(clientId.empty() ? uid + "-" + randomHex(8) : std::move(clientId)),
      commandTopic_(kTopics.commandTopic(uid)),
      replyTopic_(kTopics.replyTopic(uid)),
      requestPrefix_("t" + randomHex(12) + "-") {
    client_ = newPahoClient(uri, clientId_, mqtt::create_options(MQTTVERSION_5));
    client_->set_message_callback([this](mqtt::const_message_ptr message) { onMessage(message); });

    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(true);
    connectOptions_.set_keep_alive_interval(30);
    connectOptions_.set_connect_timeout(static_cast<int>(kConnectTimeout.count()));
    connectOptions_.set_user_name(uid);
    connectOptions_.set_password(password);
    if (will) {
        connectOptions_.set_will(mqtt::will_options(commandTopic_, will->dump(), 1, false));
    }
    try {
        applyTls(connectOptions_, uri, tls);
        auto token = client_->connect(connectOptions_);
        if (!ConnectWaker::waitForConnect(token, kConnectTimeout)) {
            throw std::runtime_error("timed out");
        }
    } catch (const std::exception& error) {
        throw std::runtime_error("MqttTestClient " + clientId_ + ": cannot connect to " + uri +
                                 " as " + uid + ": " + error.what());
    }
    // Like parleyd, so round trips are not held by Nagle's algorithm (see SocketTuning.h).
    std::string host;
    int port = 0;
    if (parseBrokerUri(uri, host, port)) {
        enableTcpNoDelayTowards(host, port);
    }
    subscribe(kTopics.inboxSubscription(uid));
    ConnectWaker::add(client_.get());  // last: the destructor does not run if this throws
}

MqttTestClient::~MqttTestClient() {
    ConnectWaker::remove(client_.get());
    try {
        disconnect();
    } catch (...) {
        // The broker may be gone already; nothing to clean up then.
    }
}

void MqttTestClient::onMessage(const mqtt::const_message_ptr& message) {
    Received entry;
    entry.topic = message->get_topic();
    const std::string& text = message->get_payload_str();
    entry.payload = nlohmann::json::parse(text, nullptr, false);
    if (entry.payload.is_discarded()) {
        entry.payload = text;
    }
    entry.retained = message->is_retained();
    const auto& properties = message->get_properties();
    if (properties.contains(mqtt::property::CORRELATION_DATA)) {
        entry.correlationData =
            mqtt::get<std::string>(properties, mqtt::property::CORRELATION_DATA);
    }
    {
        std::lock_guard lock(mutex_);
        received_.push_back(std::move(entry));
    }
    arrived_.notify_all();
}

nlohmann::json MqttTestClient::request(nlohmann::json command, std::chrono::milliseconds timeout) {
    if (!command.is_object()) {
        throw std::invalid_argument("MqttTestClient::request: not an object: " + command.dump());
    }
    if (!command.contains("id")) {
        command["id"] = requestPrefix_ + std::to_string(nextRequest_++);
    }
    const nlohmann::json id = command["id"];
    const std::string text = command.dump();
    try {
        client_->publish(commandTopic_, text.data(), text.size(), 1, false);
    } catch (const std::exception& error) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": cannot publish " + text + ": " +
                                 error.what());
    }
    try {
        return waitFor(
                   [&](const Received& message) {
                       return message.topic == replyTopic_ && message.payload.is_object() &&
                              message.payload.contains("id") && message.payload["id"] == id;
                   },
                   timeout)
            .payload;
    } catch (const std::runtime_error& error) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": no reply within " +
                                 std::to_string(timeout.count()) + " ms to " + text + "\n" +
                                 error.what());
    }
}

int MqttTestClient::publishRaw(const std::string& topic, const std::string& payload,
                               const std::string& correlationData) {
    auto message = mqtt::make_message(topic, payload, 1, false);
    if (!correlationData.empty()) {
        mqtt::properties properties;
        properties.add(mqtt::property(mqtt::property::CORRELATION_DATA, correlationData));
        message->set_properties(std::move(properties));
    }
    mqtt::delivery_token_ptr token;
    try {
        token = client_->publish(message);
        if (!token->wait_for(kAckTimeout)) {
            throw std::runtime_error("no PUBACK within 10 s");
        }
        return token->get_reason_code();
    } catch (const mqtt::exception& error) {
        // Paho reports a PUBACK with an error reason code as a failed delivery.
        if (error.get_reason_code() >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
            return error.get_reason_code();
        }
        throw std::runtime_error("MqttTestClient " + uid_ + ": publish to " + topic +
                                 " failed: " + error.what());
    }
}

void MqttTestClient::subscribe(const std::string& filter) {
    const int code = subscribeReasonCode(filter);
    if (code >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": subscribe to " + filter +
                                 " refused, reason code " + std::to_string(code));
    }
}

int MqttTestClient::subscribeReasonCode(const std::string& filter) {
    mqtt::token_ptr token;
    try {
        token = client_->subscribe(filter, 1);
        if (!token->wait_for(kAckTimeout)) {
            throw std::runtime_error("no SUBACK within 10 s");
        }
    } catch (const mqtt::exception& error) {
        // Paho reports a SUBACK with an error reason code as a failed subscribe.
        if (error.get_reason_code() >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
            return error.get_reason_code();
        }
        throw std::runtime_error("MqttTestClient " + uid_ + ": subscribe to " + filter +
                                 " failed: " + error.what());
    } catch (const std::exception& error) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": subscribe to " + filter +
                                 " failed: " + error.what());
    }
    const mqtt::subscribe_response response = token->get_subscribe_response();
    const auto codes = response.get_reason_codes();
    if (codes.size() != 1) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": subscribe to " + filter + ": " +
                                 std::to_string(codes.size()) + " reason codes in the SUBACK");
    }
    return codes.front();
}

Received MqttTestClient::waitFor(std::function<bool(const Received&)> match,
                                 std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    size_t scanned = 0;
    unsigned long clears = clears_;
    while (true) {
        if (clears != clears_) {
            clears = clears_;
            scanned = 0;
        }
        for (; scanned < received_.size(); ++scanned) {
            if (match(received_[scanned])) {
                return received_[scanned];
            }
        }
        if (arrived_.wait_until(lock, deadline) == std::cv_status::timeout &&
            scanned == received_.size()) {
            throw std::runtime_error("MqttTestClient " + uid_ + ": no matching message within " +
                                     std::to_string(timeout.count()) +
                                     " ms; received:" + describe(received_));
        }
    }
}

std::vector<Received> MqttTestClient::received() const {
    std::lock_guard lock(mutex_);
    return received_;
}

void MqttTestClient::clearReceived() {
    std::lock_guard lock(mutex_);
    received_.clear();
    ++clears_;
}

void MqttTestClient::disconnect() {
    if (client_->is_connected()) {
        client_->disconnect()->wait_for(kAckTimeout);
    }
}

bool MqttTestClient::connected() const {
    return client_->is_connected();
}

}  // namespace parley::testing
