#include "BenchClient.h"

#include <stdexcept>

#include "parley/wire/TopicScheme.h"

namespace parley::bench {

namespace {

constexpr auto kTimeout = std::chrono::seconds(20);

MqttClientOptions benchConnection(const std::string& uri, const TlsSettings& tls,
                                  const std::string& uid, const std::string& password,
                                  int maxInflight, const std::string& clientIdSuffix) {
    MqttClientOptions options;
    options.uri = uri;
    options.clientId = uid + clientIdSuffix;
    options.user = uid;
    options.password = password;
    options.tls = tls;
    options.keepAlive = std::chrono::seconds(60);
    options.connectTimeout = kTimeout;
    options.maxInflight = maxInflight;
    // Paho's queue of commands not yet sent is bounded (100 by default) even while connected.
    options.maxBufferedMessages = 100000;
    return options;
}

}  // namespace

BenchClient::BenchClient(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
                         std::string uid, const std::string& password, Handler handler,
                         int maxInflight, const std::string& clientIdSuffix,
                         const std::string& commandsAs)
    : uid_(std::move(uid)),
      inboxSubscription_(TopicScheme(prefix).inboxSubscription(uid_)),
      commandTopic_(TopicScheme(prefix).commandTopic(commandsAs.empty() ? uid_ : commandsAs)),
      inboxPrefix_(TopicScheme(prefix).inboxPrefix(uid_)),
      handler_(std::move(handler)),
      client_(benchConnection(uri, tls, uid_, password, maxInflight, clientIdSuffix)) {}

BenchClient::~BenchClient() {
    disconnect();
}

void BenchClient::connect() {
    client_.onMessage([this](mqtt::const_message_ptr message) {
        const auto arrived = Clock::now();
        const std::string& topic = message->get_topic();
        if (topic.size() <= inboxPrefix_.size()) {
            return;
        }
        nlohmann::json payload = nlohmann::json::parse(message->get_payload_str(), nullptr, false);
        if (payload.is_discarded()) {
            return;
        }
        handler_(*this, topic.substr(inboxPrefix_.size()), std::move(payload), arrived);
    });
    try {
        client_.connect();
        const int code = client_.subscribe(inboxSubscription_, kTimeout);
        if (code >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
            throw std::runtime_error("subscribe to " + inboxSubscription_ +
                                     " refused, reason code " + std::to_string(code));
        }
    } catch (const std::exception& error) {
        throw std::runtime_error("bench user " + uid_ + " cannot connect: " + error.what());
    }
}

void BenchClient::disconnect() {
    client_.disconnect();
}

}  // namespace parley::bench
