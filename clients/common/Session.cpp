#include "Session.h"

#include <random>
#include <vector>

namespace parley::client {

namespace {

// Safe to send twice: the server answers a repeat with the same result (msg.send by its cmid).
const std::set<std::string> kResendable = {
    "ping",        "conv.open",   "conv.list",   "conv.get",       "msg.send",        "msg.history",
    "msg.read",    "presence",    "typing",      "profile.set",    "profile.get",     "mod.block",
    "mod.unblock", "mod.blocked", "listing.get", "listing.upsert", "admin.extensions"};

std::string randomToken(size_t length) {
    static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    thread_local std::mt19937_64 generator{std::random_device{}()};
    std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
    std::string text;
    for (size_t i = 0; i < length; ++i) {
        text += kAlphabet[pick(generator)];
    }
    return text;
}

nlohmann::json disconnectedReply(const nlohmann::json& id) {
    return {{"id", id},
            {"ok", false},
            {"error",
             {{"code", "disconnected"},
              {"message",
               "the connection was lost before the reply; the command may or may not have been "
               "done"}}}};
}

}  // namespace

Session::Session(ConnectionOptions options)
    : options_(std::move(options)),
      clientId_(options_.clientId.empty() ? options_.user + "-" + randomToken(8)
                                          : options_.clientId),
      topics_(options_.prefix),
      commandTopic_(topics_.commandTopic(options_.user)),
      replyTopic_(topics_.replyTopic(options_.user)),
      idPrefix_(randomToken(6) + "-") {
    if (options_.user.empty()) {
        throw SessionError("no user given (flag --user, PARLEY_USER or the config file)");
    }
    MqttClientOptions connection;
    connection.uri = options_.uri;
    connection.clientId = clientId_;
    connection.user = options_.user;
    connection.password = options_.password;
    connection.tls = options_.tls;
    connection.keepAlive = std::chrono::seconds(30);
    connection.connectTimeout = options_.connectTimeout;
    // Paho's queue of commands not yet sent is bounded (100 by default) even while connected:
    // past it publish() fails. A script may send faster than that.
    connection.maxBufferedMessages = 10000;
    connection.automaticReconnect = true;
    if (options_.announcePresence) {
        connection.will = MqttClientOptions::Will{
            commandTopic_, nlohmann::json({{"op", "presence"}, {"state", "offline"}}).dump()};
    }
    client_ = std::make_unique<MqttClient>(std::move(connection));
}

Session::~Session() {
    try {
        close();
    } catch (...) {
        // The broker may be gone; nothing left to tell it.
    }
}

void Session::onEvent(EventHandler handler) {
    eventHandler_ = std::move(handler);
}

void Session::onConnection(ConnectionHandler handler) {
    connectionHandler_ = std::move(handler);
}

void Session::connect() {
    client_->onMessage([this](mqtt::const_message_ptr message) { onMessage(message); });
    client_->onConnected([this] { onConnected(everConnected_.exchange(true)); });
    client_->onConnectionLost([this] {
        {
            std::lock_guard lock(mutex_);
            connected_ = false;
        }
        if (connectionHandler_) {
            connectionHandler_(false, false);
        }
    });
    try {
        client_->connect();
    } catch (const MqttConnectError& error) {
        throw SessionError("cannot connect to " + options_.uri + " as " + options_.user + ": " +
                           error.what());
    }
    resender_ = std::thread([this] { resendLoop(); });
}

void Session::resendLoop() {
    std::unique_lock lock(mutex_);
    while (!closing_) {
        closed_.wait_for(lock, std::min<std::chrono::milliseconds>(options_.resendAfter / 2,
                                                                   std::chrono::seconds(1)));
        if (closing_ || !connected_) {
            continue;
        }
        const auto now = std::chrono::steady_clock::now();
        std::vector<nlohmann::json> due;
        for (auto& [id, entry] : pending_) {
            if (entry.published && entry.resend && now - entry.sentAt >= entry.resendAfter) {
                entry.sentAt = now;
                entry.resendAfter = std::min<std::chrono::milliseconds>(entry.resendAfter * 2,
                                                                        std::chrono::seconds(60));
                due.push_back(entry.command);
            }
        }
        lock.unlock();
        for (const auto& command : due) {
            publish(command);
        }
        lock.lock();
    }
}

void Session::onConnected(bool reconnect) {
    try {
        subscribeAll();
    } catch (const mqtt::exception&) {
        return;  // lost again at once; the next reconnect starts over
    }
    std::vector<nlohmann::json> toPublish;
    std::vector<std::pair<nlohmann::json, std::promise<nlohmann::json>>> failed;
    {
        // Under the lock: what send() adds from now on it publishes itself.
        std::lock_guard lock(mutex_);
        connected_ = true;
        for (auto it = pending_.begin(); it != pending_.end();) {
            Pending& entry = it->second;
            if (entry.published && !entry.resend) {
                failed.emplace_back(entry.command["id"], std::move(entry.reply));
                it = pending_.erase(it);
                continue;
            }
            entry.published = true;
            entry.sentAt = std::chrono::steady_clock::now();
            toPublish.push_back(entry.command);
            ++it;
        }
    }
    for (auto& [id, reply] : failed) {
        reply.set_value(disconnectedReply(id));
    }
    if (options_.announcePresence) {
        send({{"op", "presence"}, {"state", "online"}});
    }
    for (const auto& command : toPublish) {
        publish(command);
    }
    if (connectionHandler_) {
        connectionHandler_(true, reconnect);
    }
}

void Session::subscribeAll() {
    client_->subscribeNoWait(topics_.inboxSubscription(options_.user));
    std::set<std::string> watched;
    {
        std::lock_guard lock(mutex_);
        watched = watched_;
    }
    for (const auto& uid : watched) {
        client_->subscribeNoWait(topics_.presenceTopic(uid));
    }
}

void Session::watchPresence(const std::string& uid) {
    {
        std::lock_guard lock(mutex_);
        if (!watched_.insert(uid).second) {
            return;
        }
    }
    if (connected_) {
        try {
            client_->subscribeNoWait(topics_.presenceTopic(uid));
        } catch (const mqtt::exception&) {
            // Subscribed again on the next connect.
        }
    }
}

void Session::publish(const nlohmann::json& command) {
    const std::string text = command.dump();
    try {
        client_->publish(commandTopic_, text);
    } catch (const mqtt::exception&) {
        // Not connected after all: the command stays pending and goes out on the next connect
        // (or fails there if it may not be sent twice).
    }
}

std::future<nlohmann::json> Session::send(nlohmann::json command) {
    if (!command.is_object() || !command.contains("op")) {
        throw SessionError("a command is a JSON object with an \"op\"");
    }
    if (!command.contains("id")) {
        command["id"] = idPrefix_ + std::to_string(nextId_++);
    }
    if (!options_.countsAsActivity && !command.contains("activity")) {
        command["activity"] = false;
    }
    const std::string id =
        command["id"].is_string() ? command["id"].get<std::string>() : command["id"].dump();
    std::future<nlohmann::json> reply;
    bool publishNow = false;
    {
        std::lock_guard lock(mutex_);
        Pending entry;
        entry.command = command;
        entry.resend = kResendable.count(command.value("op", "")) > 0;
        entry.published = connected_;
        entry.sentAt = std::chrono::steady_clock::now();
        entry.resendAfter = options_.resendAfter;
        publishNow = entry.published;
        if (pending_.count(id) > 0) {
            throw SessionError("request id " + id + " is already waiting for its reply");
        }
        reply = entry.reply.get_future();
        pending_[id] = std::move(entry);
    }
    if (publishNow) {
        publish(command);
    }
    return reply;
}

nlohmann::json Session::call(nlohmann::json command, std::chrono::milliseconds timeout) {
    if (!command.contains("id")) {
        command["id"] = idPrefix_ + std::to_string(nextId_++);
    }
    const nlohmann::json id = command["id"];
    const std::string op = command.value("op", "");
    auto reply = send(std::move(command));
    if (reply.wait_for(timeout) != std::future_status::ready) {
        std::lock_guard lock(mutex_);
        pending_.erase(id.is_string() ? id.get<std::string>() : id.dump());
        throw SessionError("no reply to " + op + " within " + std::to_string(timeout.count()) +
                           " ms" + (connected_ ? "" : " (not connected)"));
    }
    return reply.get();
}

void Session::onMessage(const mqtt::const_message_ptr& message) {
    const std::string& topic = message->get_topic();
    nlohmann::json body = nlohmann::json::parse(message->get_payload_str(), nullptr, false);
    if (body.is_discarded()) {
        return;  // not Parley's
    }
    if (topic == replyTopic_) {
        if (!body.is_object() || !body.contains("id")) {
            return;
        }
        const auto& id = body["id"];
        const std::string key = id.is_string() ? id.get<std::string>() : id.dump();
        std::promise<nlohmann::json> reply;
        {
            std::lock_guard lock(mutex_);
            auto found = pending_.find(key);
            if (found == pending_.end()) {
                return;  // a repeat's second reply, or one we stopped waiting for
            }
            reply = std::move(found->second.reply);
            pending_.erase(found);
        }
        reply.set_value(std::move(body));
        return;
    }
    if (!eventHandler_) {
        return;
    }
    Event event;
    event.topic = topic;
    if (topics_.uidFromPresenceTopic(topic)) {
        event.presence = true;
    } else if (auto conv = topics_.convFromConversationTopic(options_.user, topic)) {
        event.conv = std::move(*conv);
    }
    event.body = std::move(body);
    eventHandler_(event);
}

void Session::close() {
    {
        std::lock_guard lock(mutex_);
        if (closing_.exchange(true)) {
            return;
        }
        closed_.notify_all();
    }
    if (resender_.joinable()) {
        resender_.join();
    }
    if (client_->connected() && options_.announcePresence) {
        const std::string text = nlohmann::json({{"op", "presence"}, {"state", "offline"}}).dump();
        try {
            client_->publishAndWait(mqtt::make_message(commandTopic_, text, 1, false),
                                    std::chrono::seconds(2));
        } catch (const std::exception&) {
            // Gone meanwhile: the broker says it with the last will.
        }
    }
    client_->disconnect(std::chrono::seconds(5));
    connected_ = false;
    std::map<std::string, Pending> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(pending_);
    }
    for (auto& [id, entry] : left) {
        entry.reply.set_value(disconnectedReply(entry.command["id"]));
    }
}

std::string Session::newCmid() {
    return clientId_ + "-" + randomToken(10);
}

size_t Session::unanswered() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
}

}  // namespace parley::client
