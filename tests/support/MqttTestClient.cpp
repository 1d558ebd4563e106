#include "MqttTestClient.h"

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

MqttClientOptions MqttTestClient::connection(const std::string& uri, const std::string& uid,
                                             const std::string& password,
                                             const std::optional<nlohmann::json>& will,
                                             const std::string& clientId, const TlsSettings& tls) {
    MqttClientOptions options;
    options.uri = uri;
    options.clientId = clientId;
    options.user = uid;
    options.password = password;
    options.tls = tls;
    options.keepAlive = std::chrono::seconds(30);
    options.connectTimeout = kConnectTimeout;
    if (will) {
        options.will = MqttClientOptions::Will{kTopics.commandTopic(uid), will->dump()};
    }
    return options;
}

MqttTestClient::MqttTestClient(const std::string& uri, const std::string& uid,
                               const std::string& password, std::optional<nlohmann::json> will,
                               std::string clientId, const TlsSettings& tls)
    : uid_(uid),
      clientId_(clientId.empty() ? uid + "-" + randomHex(8) : std::move(clientId)),
      commandTopic_(kTopics.commandTopic(uid)),
      replyTopic_(kTopics.replyTopic(uid)),
      requestPrefix_("t" + randomHex(12) + "-"),
      client_(connection(uri, uid, password, will, clientId_, tls)) {
    client_.onMessage([this](mqtt::const_message_ptr message) { onMessage(message); });
    try {
        client_.connect();
    } catch (const std::exception& error) {
        throw std::runtime_error("MqttTestClient " + clientId_ + ": cannot connect to " + uri +
                                 " as " + uid + ": " + error.what());
    }
    subscribe(kTopics.inboxSubscription(uid));
}

MqttTestClient::~MqttTestClient() {
    disconnect();
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
        client_.publish(commandTopic_, text);
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
    try {
        return client_.publishAndWait(message, kAckTimeout);
    } catch (const std::exception& error) {
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
    try {
        return client_.subscribe(filter, kAckTimeout);
    } catch (const std::exception& error) {
        throw std::runtime_error("MqttTestClient " + uid_ + ": subscribe to " + filter +
                                 " failed: " + error.what());
    }
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
    client_.disconnect(kAckTimeout);
}

bool MqttTestClient::connected() const {
    return client_.connected();
}

}  // namespace parley::testing
