#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "parley/mqtt/MqttClient.h"
#include "parley/mqtt/TlsSettings.h"
#include "parley/wire/TopicScheme.h"

namespace parley::client {

struct ConnectionOptions {
    std::string uri = "ssl://127.0.0.1:8883";
    std::string user;
    std::string password;
    std::string clientId;  // empty: "<user>-<random>", one session per device
    std::string prefix = "parley/v1";
    // For an ssl://, mqtts:// or wss:// uri: the CA file (else the system's CAs) and an optional
    // client certificate.
    TlsSettings tls;
    // Tells the server "online" on every (re)connect, and leaves "offline" as the last will.
    bool announcePresence = true;
    // False: every command goes out marked "activity": false, so the server leaves the user's
    // presence as it is (docs/protocol.md): for scripts acting for the user (one-shot `parley`
    // subcommands), which are not the user being there.
    bool countsAsActivity = true;
    std::chrono::milliseconds connectTimeout{10000};
    // A command still unanswered this long after it went out is sent again (then after twice
    // that, and so on up to 60 s).
    std::chrono::milliseconds resendAfter{10000};
};

class SessionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Something the server published for this user: a conversation event (`conv` set), a user-level
// event, or someone's presence.
struct Event {
    std::string topic;
    std::string conv;  // the conversation of parley/v1/u/<me>/c/<conv>, else empty
    bool presence = false;
    nlohmann::json body;
};

// One user's connection to Parley over MQTT 5: commands and their replies, events, and the
// reconnect rules of docs/protocol.md. After a connection loss it reconnects by itself,
// subscribes again and resends every command still waiting for its reply that is safe to send
// twice (msg.send is, by its cmid); a command that is not (conv.create, extension commands) and
// may have reached the server gets a local `disconnected` error reply instead.
class Session {
  public:
    using EventHandler = std::function<void(const Event&)>;
    // connected, and whether this is a reconnect (time to catch up with msg.history).
    using ConnectionHandler = std::function<void(bool connected, bool reconnect)>;

    explicit Session(ConnectionOptions options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Set before connect(). Handlers run on the MQTT library's thread: they must return quickly
    // and must not wait for a reply (call()) themselves.
    void onEvent(EventHandler handler);
    void onConnection(ConnectionHandler handler);

    // Connects and subscribes; throws SessionError (refused, unreachable, timed out).
    void connect();
    // Sends a command (an "id" is added unless present) and returns its reply: the server's,
    // or a local {"ok": false, "error": {"code": "disconnected"}} (see above). Queued while
    // disconnected.
    std::future<nlohmann::json> send(nlohmann::json command);
    // send() and wait; throws SessionError if no reply comes within `timeout`.
    nlohmann::json call(nlohmann::json command,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Also receive the presence of `uid` (retained: the current state arrives at once).
    void watchPresence(const std::string& uid);
    // Says "offline" (if announcing presence) and disconnects cleanly.
    void close();

    std::string newCmid();
    const std::string& user() const { return options_.user; }
    const std::string& clientId() const { return clientId_; }
    bool connected() const { return connected_; }
    // Commands sent and not answered yet.
    size_t unanswered() const;

  private:
    struct Pending {
        nlohmann::json command;
        std::promise<nlohmann::json> reply;
        bool published = false;
        bool resend = false;
        std::chrono::steady_clock::time_point sentAt;
        std::chrono::milliseconds resendAfter{10000};
    };

    void onConnected(bool reconnect);
    void onMessage(const mqtt::const_message_ptr& message);
    void publish(const nlohmann::json& command);
    void subscribeAll();
    // Resends what is safe to resend and still unanswered after 10 s, 20 s, 40 s, then every
    // 60 s (options_.resendAfter sets the first): after a broker restart the server may subscribe
    // again later than we reconnect, and what we sent meanwhile reached nobody (docs/protocol.md,
    // "Guarantees").
    void resendLoop();

    ConnectionOptions options_;
    std::string clientId_;
    TopicScheme topics_;
    std::string commandTopic_;
    std::string replyTopic_;
    std::string idPrefix_;
    std::atomic<unsigned long> nextId_{1};
    std::atomic<bool> connected_{false};
    std::atomic<bool> everConnected_{false};
    std::atomic<bool> closing_{false};

    EventHandler eventHandler_;
    ConnectionHandler connectionHandler_;

    mutable std::mutex mutex_;
    std::map<std::string, Pending> pending_;  // by request id
    std::set<std::string> watched_;
    std::condition_variable closed_;
    std::thread resender_;

    std::unique_ptr<MqttClient> client_;  // last: destroyed first, so no handler outlives us
};

}  // namespace parley::client
