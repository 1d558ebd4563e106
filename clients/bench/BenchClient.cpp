#include "BenchClient.h"

#include "parley/mqtt/ConnectWaker.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsDiagnosis.h"

#include <stdexcept>

#include "parley/wire/TopicScheme.h"

namespace parley::bench {

namespace {

// Paho's queue of commands not yet sent is bounded (100 by default) even while connected.
mqtt::create_options benchCreateOptions() {
    mqtt::create_options options(MQTTVERSION_5);
    options.set_max_buffered_messages(100000);
    return options;
}

}  // namespace

BenchClient::BenchClient(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
                         std::string uid, const std::string& password, Handler handler,
                         int maxInflight, const std::string& clientIdSuffix,
                         const std::string& commandsAs)
    : uri_(uri),
      tls_(tls),
      uid_(std::move(uid)),
      prefix_(prefix),
      commandTopic_(TopicScheme(prefix).commandTopic(commandsAs.empty() ? uid_ : commandsAs)),
      inboxPrefix_(TopicScheme(prefix).inboxPrefix(uid_)),
      handler_(std::move(handler)) {
    client_ = newPahoClient(uri, uid_ + clientIdSuffix, benchCreateOptions());
    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(true);
    connectOptions_.set_keep_alive_interval(60);
    connectOptions_.set_connect_timeout(20);
    connectOptions_.set_user_name(uid_);
    connectOptions_.set_password(password);
    connectOptions_.set_max_inflight(maxInflight);  // more than the broker's receive maximum
                                                    // is a protocol error
    applyTls(connectOptions_, uri, tls);
}

BenchClient::~BenchClient() {
    try {
        disconnect();
    } catch (...) {
    }
}

void BenchClient::connect() {
    client_->set_message_callback([this](mqtt::const_message_ptr message) {
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
        auto token = client_->connect(connectOptions_);
        if (!ConnectWaker::waitForConnect(token, std::chrono::seconds(20))) {
            throw std::runtime_error("timed out");
        }
        std::string host;
        int port = 0;
        if (parseBrokerUri(client_->get_server_uri(), host, port)) {
            enableTcpNoDelayTowards(host, port);
        }
        if (!client_->subscribe(TopicScheme(prefix_).inboxSubscription(uid_), 1)
                 ->wait_for(std::chrono::seconds(20))) {
            throw std::runtime_error("no SUBACK");
        }
    } catch (const mqtt::exception& error) {
        // Paho says "TCP/TLS connect failure" (MQTTASYNC_FAILURE) whatever went wrong with TLS.
        std::string reason;
        if (isTlsUri(uri_) && error.get_return_code() == MQTTASYNC_FAILURE) {
            reason = explainTlsFailure(uri_, tls_);
        }
        throw std::runtime_error("bench user " + uid_ + " cannot connect: " +
                                 (reason.empty() ? std::string(error.what()) : reason));
    } catch (const std::exception& error) {
        throw std::runtime_error("bench user " + uid_ + " cannot connect: " + error.what());
    }
    ConnectWaker::add(client_.get());
}

void BenchClient::disconnect() {
    ConnectWaker::remove(client_.get());
    if (client_->is_connected()) {
        client_->disconnect()->wait_for(std::chrono::seconds(5));
    }
}

void BenchClient::publish(const std::string& payload, PublishTally* tally) {
    if (tally != nullptr) {
        client_->publish(commandTopic_, payload.data(), payload.size(), 1, false, nullptr, *tally);
    } else {
        client_->publish(commandTopic_, payload.data(), payload.size(), 1, false);
    }
}

}  // namespace parley::bench
