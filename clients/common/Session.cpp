#include "Session.h"

#include "parley/mqtt/ConnectFailure.h"
#include "parley/mqtt/ConnectWaker.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsDiagnosis.h"

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

// Paho's queue of commands not yet sent is bounded (100 by default) even while connected: past
// it publish() fails. A script may send faster than that.
mqtt::create_options sessionCreateOptions() {
    mqtt::create_options options(MQTTVERSION_5);
    options.set_max_buffered_messages(10000);
    return options;
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
    client_ = newPahoClient(options_.uri, clientId_, sessionCreateOptions());
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
    client_->set_message_callback([this](mqtt::const_message_ptr message) { onMessage(message); });
    client_->set_connected_handler(
        [this](const std::string&) { onConnected(everConnected_.exchange(true)); });
    client_->set_connection_lost_handler([this](const std::string&) {
        {
            std::lock_guard lock(mutex_);
            connected_ = false;
        }
        if (connectionHandler_) {
            connectionHandler_(false, false);
        }
    });

    connectOptions_.set_mqtt_version(MQTTVERSION_5);
    connectOptions_.set_clean_start(true);
    connectOptions_.set_keep_alive_interval(30);
    connectOptions_.set_connect_timeout(static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(options_.connectTimeout).count()));
    connectOptions_.set_automatic_reconnect(1, 16);
    connectOptions_.set_user_name(options_.user);
    connectOptions_.set_password(options_.password);
    if (options_.announcePresence) {
        const nlohmann::json will = {{"op", "presence"}, {"state", "offline"}};
        connectOptions_.set_will(mqtt::will_options(commandTopic_, will.dump(), 1, false));
    }
    try {
        checkTlsFiles(options_.tls);
        applyTls(connectOptions_, options_.uri, options_.tls);
        auto token = client_->connect(connectOptions_);
        if (!ConnectWaker::waitForConnect(token, options_.connectTimeout)) {
            throw SessionError("timed out");
        }
    } catch (const mqtt::exception& error) {
        // Paho says "TCP/TLS connect failure" (MQTTASYNC_FAILURE) whatever went wrong with TLS.
        std::string reason;
        if (isTlsUri(options_.uri) && error.get_return_code() == MQTTASYNC_FAILURE) {
            reason = explainTlsFailure(options_.uri, options_.tls);
        }
        throw SessionError("cannot connect to " + options_.uri + " as " + options_.user + ": " +
                           (reason.empty() ? describeConnectFailure(error) : reason));
    } catch (const std::invalid_argument& error) {  // the TLS files, or TLS for a tcp:// uri
        throw SessionError("cannot connect to " + options_.uri + " as " + options_.user + ": " +
                           error.what());
    } catch (const SessionError& error) {
        throw SessionError("cannot connect to " + options_.uri + " as " + options_.user + ": " +
                           error.what());
    }
    ConnectWaker::add(client_.get());
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
    std::string host;
    int port = 0;
    if (parseBrokerUri(options_.uri, host, port)) {
        enableTcpNoDelayTowards(host, port);  // see SocketTuning.h
    }
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
    client_->subscribe(topics_.inboxSubscription(options_.user), 1);
    std::set<std::string> watched;
    {
        std::lock_guard lock(mutex_);
        watched = watched_;
    }
    for (const auto& uid : watched) {
        client_->subscribe(topics_.presenceTopic(uid), 1);
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
            client_->subscribe(topics_.presenceTopic(uid), 1);
        } catch (const mqtt::exception&) {
            // Subscribed again on the next connect.
        }
    }
}

void Session::publish(const nlohmann::json& command) {
    const std::string text = command.dump();
    try {
        client_->publish(commandTopic_, text.data(), text.size(), 1, false);
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
    ConnectWaker::remove(client_.get());
    if (client_->is_connected()) {
        if (options_.announcePresence) {
            const std::string text =
                nlohmann::json({{"op", "presence"}, {"state", "offline"}}).dump();
            try {
                client_->publish(commandTopic_, text.data(), text.size(), 1, false)
                    ->wait_for(std::chrono::seconds(2));
            } catch (const mqtt::exception&) {
            }
        }
        try {
            client_->disconnect()->wait_for(std::chrono::seconds(5));
        } catch (const mqtt::exception&) {
        }
    }
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
