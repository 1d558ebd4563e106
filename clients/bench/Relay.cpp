#include "Relay.h"

#include "transport/PahoLibrary.h"
#include "transport/SocketTuning.h"
#include "transport/TlsDiagnosis.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

namespace parley::bench {

namespace {

long long nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::atomic<bool> stopRequested{false};

// Paho's queue of commands not yet sent is bounded (100 by default) even while connected: past
// it publish() fails with "No more messages can be buffered". parleyd allows 100,000.
mqtt::create_options benchCreateOptions() {
    mqtt::create_options options(MQTTVERSION_5);
    options.set_max_buffered_messages(100000);
    return options;
}

void onSignal(int) {
    stopRequested = true;
}

}  // namespace

Relay::Relay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight)
    : prefix_(prefix) {
    client_ = newPahoClient(uri, "parley-bench-relay", benchCreateOptions());
    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(true);
    connectOptions_.set_keep_alive_interval(60);
    connectOptions_.set_user_name(user);
    connectOptions_.set_password(password);
    connectOptions_.set_max_inflight(inflight);  // as parleyd's broker.max_inflight
    applyTls(connectOptions_, uri, tls);
}

Relay::~Relay() {
    try {
        stop();
    } catch (...) {
    }
}

void Relay::start() {
    client_->set_message_callback([this](mqtt::const_message_ptr message) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(message));
        }
        arrived_.notify_one();
    });
    worker_ = std::thread([this] { work(); });
    client_->connect(connectOptions_)->wait();
    std::string host;
    int port = 0;
    if (parseBrokerUri(client_->get_server_uri(), host, port)) {
        enableTcpNoDelayTowards(host, port);  // as parleyd does
    }
    client_->subscribe("$share/parley-relay/" + prefix_ + "/c2s/+", 1)->wait();
}

void Relay::work() {
    // The only thread that routes: the maps need no lock.
    std::unique_lock lock(mutex_);
    while (true) {
        arrived_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;
        }
        auto message = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            onCommand(message);
        } catch (const std::exception& error) {
            std::cerr << "relay: " << error.what() << '\n';
        }
        lock.lock();
    }
}

void Relay::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    arrived_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
    }
    if (client_->is_connected()) {
        client_->disconnect()->wait_for(std::chrono::seconds(5));
    }
}

void Relay::reply(const std::string& uid, const std::string& text) {
    client_->publish(prefix_ + "/u/" + uid + "/resp", text.data(), text.size(), 1, false);
}

void Relay::onCommand(const mqtt::const_message_ptr& message) {
    const std::string& topic = message->get_topic();
    const std::string uid = topic.substr(topic.rfind('/') + 1);
    nlohmann::json command = nlohmann::json::parse(message->get_payload_str(), nullptr, false);
    if (!command.is_object()) {
        return;
    }
    const std::string op = command.value("op", "");
    nlohmann::json answer = {{"id", command["id"]}, {"ok", true}};
    if (op == "msg.send") {
        const std::string conv = command.value("conv", "");
        auto found = conversations_.find(conv);
        if (found == conversations_.end()) {
            answer = {{"id", command["id"]}, {"ok", false}, {"error", {{"code", "not_found"}}}};
            reply(uid, answer.dump());
            return;
        }
        Conversation& conversation = found->second;
        const long long seq = ++conversation.lastSeq;
        const long long ts = nowMs();
        answer["conv"] = conv;
        answer["seq"] = seq;
        answer["ts"] = ts;
        reply(uid, answer.dump());
        const nlohmann::json event = {{"ev", "msg"},
                                      {"conv", conv},
                                      {"seq", seq},
                                      {"sender", uid},
                                      {"cmid", command["cmid"]},
                                      {"body", command["body"]},
                                      {"meta", command.value("meta", nlohmann::json())},
                                      {"ts", ts}};
        const std::string text = event.dump();
        for (const auto& member : conversation.members) {
            client_->publish(prefix_ + "/u/" + member + "/c/" + conv, text.data(), text.size(), 1,
                             false);
        }
        return;
    }
    if (op == "conv.open") {
        const std::string peer = command.value("peer", "");
        std::string context;
        if (command.contains("context") && command["context"].is_object()) {
            context = command["context"].dump();
        }
        const std::string key = std::min(uid, peer) + "|" + std::max(uid, peer) + "|" + context;
        auto& conv = directByKey_[key];
        if (conv.empty()) {
            conv = "r" + std::to_string(nextConversation_++);
            conversations_[conv].members = {uid, peer};
        }
        answer["conv"] = conv;
        answer["kind"] = "direct";
        answer["members"] = conversations_[conv].members;
    } else if (op == "conv.create") {
        const std::string conv = "r" + std::to_string(nextConversation_++);
        std::vector<std::string> members = {uid};
        for (const auto& member : command.value("members", nlohmann::json::array())) {
            if (member.is_string() && member != uid) {
                members.push_back(member);
            }
        }
        conversations_[conv].members = members;
        answer["conv"] = conv;
        answer["kind"] = "group";
        answer["members"] = members;
    }
    reply(uid, answer.dump());
}

int runRelay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight) {
    std::signal(SIGTERM, onSignal);
    std::signal(SIGINT, onSignal);
    try {
        checkTlsFiles(tls);
    } catch (const std::invalid_argument& error) {
        std::cerr << "relay: cannot start: " << error.what() << '\n';
        return 3;
    }
    std::unique_ptr<Relay> relay;
    try {
        relay = std::make_unique<Relay>(uri, tls, prefix, user, password, inflight);
        relay->start();
    } catch (const mqtt::exception& error) {
        const std::string reason = error.get_return_code() == MQTTASYNC_FAILURE
                                       ? explainTlsFailure(uri, tls)
                                       : std::string();
        std::cerr << "relay: cannot start: " << (reason.empty() ? error.what() : reason) << '\n';
        return 3;
    } catch (const std::exception& error) {
        std::cerr << "relay: cannot start: " << error.what() << '\n';
        return 3;
    }
    std::cout << "relay ready" << std::endl;
    while (!stopRequested) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    relay->stop();
    return 0;
}

}  // namespace parley::bench
