#include "Relay.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "parley/wire/ErrorCode.h"

namespace parley::bench {

namespace {

long long nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

volatile sig_atomic_t stopSignal = 0;
volatile bool stopRequested = false;

void onSignal(int) {
    stopSignal = 1;
}

}  // namespace

Relay::Relay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight)
    : topics_(prefix) {
    connection_ = std::make_unique<MosquittoConnection>(
        uri, tls, "parley-bench-relay", user, password, inflight,
        [this](MosquittoConnection&, std::string_view topic, std::string_view payload) {
            onCommand(topic, payload);
        });
}

void Relay::start() {
    connection_->startConnect();
    const std::vector<MosquittoConnection*> connections{connection_.get()};
    if (!MosquittoConnection::runUntil(
            connections, [&] { return connection_->connected(); }, std::chrono::seconds(20))) {
        throw std::runtime_error("no CONNACK within 20 s");
    }
    connection_->subscribe(topics_.commandSubscription("parley-relay"), 1);
    if (!MosquittoConnection::runUntil(
            connections, [&] { return connection_->subscribed() > 0; }, std::chrono::seconds(20))) {
        throw std::runtime_error("no SUBACK within 20 s");
    }
}

void Relay::run(const volatile bool& stop) {
    const std::vector<MosquittoConnection*> connections{connection_.get()};
    auto lastMisc = std::chrono::steady_clock::now();
    while (!stop && stopSignal == 0) {
        MosquittoConnection::pollOnce(connections, std::chrono::milliseconds(50));
        if (connection_->failed()) {
            throw std::runtime_error(connection_->failure());
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - lastMisc >= std::chrono::seconds(1)) {
            lastMisc = now;
            connection_->misc();
        }
    }
    connection_->disconnect();
}

void Relay::reply(const std::string& uid, const std::string& text) {
    connection_->publish(topics_.replyTopic(uid), text);
}

void Relay::onCommand(std::string_view topic, std::string_view payload) {
    // Commands with bytes (c2s/{uid}/bin) are not the bench's: routed nowhere, not counted.
    const std::optional<std::string> sender = topics_.uidFromCommandTopic(topic);
    if (!sender) {
        return;
    }
    ++commands_;
    const std::string& uid = *sender;
    nlohmann::json command = nlohmann::json::parse(payload, nullptr, false);
    if (!command.is_object()) {
        return;
    }
    const std::string op = command.value("op", "");
    nlohmann::json answer = {{"id", command["id"]}, {"ok", true}};
    if (op == "msg.send") {
        const std::string conv = command.value("conv", "");
        auto found = conversations_.find(conv);
        if (found == conversations_.end()) {
            answer = {{"id", command["id"]},
                      {"ok", false},
                      {"error", {{"code", errorCodeName(ErrorCode::NotFound)}}}};
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
            connection_->publish(topics_.conversationTopic(member, conv), text);
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
    } else if (op == "presence") {
        answer["state"] = command.value("state", "online");
    }
    reply(uid, answer.dump());
}

int runRelay(const std::string& uri, const TlsSettings& tls, const std::string& prefix,
             const std::string& user, const std::string& password, int inflight) {
    std::signal(SIGTERM, onSignal);
    std::signal(SIGINT, onSignal);
    std::unique_ptr<Relay> relay;
    try {
        relay = std::make_unique<Relay>(uri, tls, prefix, user, password, inflight);
        relay->start();
    } catch (const std::exception& error) {
        std::cerr << "relay: cannot start: " << error.what() << '\n';
        return 3;
    }
    std::cout << "relay ready" << std::endl;
    try {
        relay->run(stopRequested);
    } catch (const std::exception& error) {
        std::cerr << "relay: " << error.what() << '\n';
        return 3;
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    std::cout << "relay: " << relay->commands() << " commands, CPU "
              << (relay->commands() > 0 ? 1e6 * cpu / static_cast<double>(relay->commands()) : 0)
              << " µs per command" << std::endl;
    return 0;
}

}  // namespace parley::bench
