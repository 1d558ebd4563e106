#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "Digest.h"
#include "PluginHost.h"
#include "Transport.h"
#include "parley/plugin.h"

namespace parley::notify {

// The plugin's options (docs/notifications.md lists them).
struct NotifierSettings {
    int64_t delayMs = 5 * 60 * 1000;
    int64_t pollMs = 5000;
    int64_t throttleMinMs = 10 * 60 * 1000;
    int64_t throttleMaxMs = 4 * 60 * 60 * 1000;
    int64_t retryBaseMs = 30 * 1000;
    int64_t retryMaxMs = 60 * 60 * 1000;
    int64_t leaseMs = 5 * 60 * 1000;
    int64_t overlapMs = 30 * 1000;
    size_t latestMessages = 3;
    std::string templatesDir;
    SmtpSettings smtp;  // smtp.url empty: no email
    PushSettings push;  // push.url empty: no push
    std::string unsubscribeBaseUrl;
    std::string unsubscribeSecret;

    // Throws std::runtime_error naming the option that is wrong.
    static NotifierSettings fromOptions(const nlohmann::json& options);
};

// The host table with `self` bound (plugins/common: every shipped C++ plugin's one wrapper).
using Host = plugins::PluginHost;

// Finds members who are away with unread messages (host->unread_scan), keeps what is pending
// in the plugin's key-value store (the database), and delivers digests from a thread of its
// own, so nothing here runs on the message path. Keys (docs/notifications.md, "Storage"):
//   cursor          last activity scanned
//   p/{uid}/{conv}  pending: {"since": ms}
//   u/{uid}         {"notified": {conv: seq}, "outbox": {...} or absent, "last_sent", "interval"}
//   q/{uid}         an outbox waits to be (re)sent
//   c/{uid}         claim (kv_incr with a lease): one instance works on a user at a time
//   prefs/{uid}     {"email": bool, "delay_ms": n, "muted": [conv]}
//   dev/{uid}       push tokens [{"token", "platform"}]
//   seen/{uid}      when the user last came online
class Notifier {
  public:
    Notifier(Host host, NotifierSettings settings);
    ~Notifier();
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    void start();
    void stop();

    // One round: find new pending notifications, then deliver what is due. Public for tests.
    void runOnce();

    // Hooks and commands (called by the plugin's C callbacks).
    void userConnected(const std::string& uid);
    nlohmann::json preferences(const std::string& uid) const;
    nlohmann::json setPreferences(const std::string& uid, const nlohmann::json& change);
    void registerDevice(const std::string& uid, const std::string& token,
                        const std::string& platform, bool add);
    // The unsubscribe endpoint: GET shows a confirmation form, POST turns email off.
    std::pair<int, std::string> unsubscribe(const std::string& method, const std::string& query);

    const NotifierSettings& settings() const { return settings_; }

  private:
    void loop();
    void discover();
    void deliverDue();
    // With the claim of uid held.
    void processUser(const std::string& uid, const std::vector<std::string>& pendingConvs,
                     int64_t pendingSince);
    void deliverOutbox(const std::string& uid, nlohmann::json& state);
    // Takes the user's claim (c/{uid}); false if another instance holds it.
    bool claim(const std::string& uid);
    // Gives the claim back when the work on a user ends, however it ends.
    struct Release {
        const Host& host;
        const std::string& uid;
        ~Release() {
            try {
                host.kvDelete("c/" + uid);
            } catch (...) {
                // The lease frees it.
            }
        }
    };
    std::string unsubscribeUrl(const std::string& uid) const;

    Host host_;
    NotifierSettings settings_;
    std::unique_ptr<DigestTemplates> templates_;
    // What discover() recorded last round (p/ key -> last_seq): a cache for the worker thread
    // only; the database stays the truth.
    std::map<std::string, int64_t> recorded_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread worker_;
};

}  // namespace parley::notify
