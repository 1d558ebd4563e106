#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/ChatRules.h"
#include "chat/MessagePosting.h"
#include "extensions/TimerService.h"
#include "hooks/HookBus.h"
#include "protocol/Outbox.h"
#include "store/Store.h"
#include "util/Clock.h"
#include "util/TextFolder.h"

namespace parley {

enum class LogLevel { Debug, Info, Warning, Error };

// A request to an extension's HTTP route on parleyd's HTTP listener (/ext/{extension}{path}).
struct ExtensionHttpRequest {
    std::string method;  // GET or POST
    std::string path;    // after /ext/{extension}, starting with '/'
    std::string query;   // the raw query string, without '?'
    std::string body;
};

struct ExtensionHttpResponse {
    int status = 404;
    std::string contentType = "text/plain; charset=utf-8";
    std::string body = "not found\n";
    // Instead of `body`: an open file whose fileBytes bytes the listener streams (a download
    // must not be held in memory whole). Extra headers go with either.
    std::shared_ptr<std::FILE> file{};
    int64_t fileBytes = 0;
    std::vector<std::pair<std::string, std::string>> headers{};
};

using ExtensionHttpHandler = std::function<ExtensionHttpResponse(const ExtensionHttpRequest&)>;

// What parleyd offers extensions, the same for plugins (through the C host table) and Lua scripts
// (through the `parley` table). Every method takes the calling extension's name: it scopes the
// key-value store, timers and logs. Invalid arguments throw ProtocolError (bad_request,
// not_found, too_large, forbidden); an unreachable database throws store::StoreUnavailable.
// Thread-safe.
class ExtensionServices {
  public:
    ExtensionServices(const ChatRules& rules, store::Store& store, Outbox& outbox, HookBus& hooks,
                      TimerService& timers, const Clock& clock, const MessagePosting& posting);

    // An event ({"ev": "...", ...}) on the user's ".../n" topic.
    void publishToUser(const std::string& extension, const std::string& uid,
                       const nlohmann::json& event);
    // An event on ".../c/{conv}" of every member.
    void publishToConversation(const std::string& extension, const std::string& conv,
                               const nlohmann::json& event);
    // A message from "system", posted through the one message path (MessagePosting: the same
    // limits, store and delivery as a member's, message.after_store too; message.before_store is
    // for members' messages). cmid (1-64 characters with the extension's name) makes it
    // idempotent; none = fresh.
    store::MessageRecord postMessage(const std::string& extension, const std::string& conv,
                                     const std::optional<std::string>& cmid,
                                     const std::string& body, const nlohmann::json& meta);

    // A conversation summary (members, context, last_seq, preview), or nothing.
    std::optional<nlohmann::json> conversation(const std::string& conv);
    // Messages of a conversation, ascending, as msg.history pages them (limit 1-100).
    nlohmann::json messages(const std::string& conv, std::optional<int64_t> before,
                            std::optional<int64_t> after, int limit);
    // Sets the title and/or status of every conversation about (type, id), e.g. a listing that
    // was renamed or sold, and tells their members (a "conv" event, reason "changed"). Returns
    // the conversations' ids. status: 1-32 characters from a-z 0-9 _ -.
    std::vector<std::string> updateContext(const std::string& extension, const std::string& type,
                                           const std::string& id,
                                           const std::optional<std::string>& title,
                                           const std::optional<std::string>& status);
    // Ids of the conversations about (type, id), most recently active first.
    std::vector<std::string> conversationsAbout(const std::string& type, const std::string& id,
                                                int limit);
    // {user, name, presence} as profile.get answers, plus the "email" admins set (or null).
    nlohmann::json user(const std::string& uid);

    // Members with unread messages in conversations active since `activeSince` (ms), oldest
    // activity first, only `uid`'s when given: [{user, conv, read_seq, last_seq, last_activity,
    // presence}]. limit 1-1000.
    nlohmann::json unreadMembers(int64_t activeSince, const std::optional<std::string>& uid,
                                 int limit);

    // HTTP routes on parleyd's HTTP listener: `path` (1-128 of a-z 0-9 / . _ -, starting with
    // '/') of `extension` answers /ext/{extension}{path}. Throws ProtocolError (bad_request) for
    // a malformed path, std::invalid_argument if the extension has it already.
    void addHttpRoute(const std::string& extension, const std::string& path,
                      ExtensionHttpHandler handler);
    void removeHttpRoutes(const std::string& extension);
    // The answer of the route a request's full path (/ext/...) names, or nothing.
    std::optional<ExtensionHttpResponse> handleHttp(const std::string& fullPath,
                                                    ExtensionHttpRequest request) const;

    std::optional<std::string> kvGet(const std::string& extension, const std::string& key);
    void kvSet(const std::string& extension, const std::string& key, const std::string& value,
               int64_t ttlMs);
    bool kvDelete(const std::string& extension, const std::string& key);
    int64_t kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                   int64_t ttlMs);
    // after: only keys after it ("" = from the first), to walk past one page.
    std::vector<std::pair<std::string, std::string>> kvList(const std::string& extension,
                                                            const std::string& prefix, size_t limit,
                                                            const std::string& after = {});

    // The callback runs on the timer thread, guarded like a hook call (policy "timer").
    uint64_t addTimer(const std::string& extension, int64_t delayMs, int64_t periodMs,
                      std::function<void()> fn);
    bool cancelTimer(const std::string& extension, uint64_t id);
    void cancelTimers(const std::string& extension);

    // Text folded for comparing (util/TextFolder.h), with where each byte came from if `spans`.
    // Throws ProtocolError: bad_request if it is not UTF-8, too_large past
    // TextFolder::kMaxSourceBytes.
    FoldedText foldText(std::string_view text, TextForm form, bool spans) const;

    void log(const std::string& extension, LogLevel level, const std::string& message);
    int64_t monotonicMs() const { return clock_.steadyMs(); }
    int64_t wallMs() const { return clock_.nowMs(); }
    bool isAdmin(const std::string& uid) const;

    const ChatRules& rules() const { return rules_; }
    HookBus& hooks() { return hooks_; }

    static constexpr size_t kMaxKeyBytes = 190;
    static constexpr size_t kMaxValueBytes = 1024 * 1024;
    static constexpr size_t kMaxListLimit = 1000;

  private:
    void checkKey(const std::string& key) const;
    void checkEvent(const nlohmann::json& event) const;

    const ChatRules& rules_;
    store::Store& store_;
    Outbox& outbox_;
    HookBus& hooks_;
    TimerService& timers_;
    const Clock& clock_;
    const MessagePosting& posting_;
    mutable std::mutex httpMutex_;
    std::map<std::string, ExtensionHttpHandler> httpRoutes_;  // "/ext/{extension}{path}"
};

}  // namespace parley
