#include "extensions/ExtensionServices.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "protocol/Decoder.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {

// Extensions posting from their own after_store hooks could feed each other forever.
thread_local int postingDepth = 0;
constexpr int kMaxPostingDepth = 3;

std::string randomSuffix() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    for (int i = 0; i < 20; ++i) {
        text += kDigits[generator() % 16];
    }
    return text;
}

void requireUid(const std::string& uid) {
    if (!isValidUid(uid)) {
        throw ProtocolError(ErrorCode::BadRequest, "'" + uid + "' is not a valid user id");
    }
}

}  // namespace

ExtensionServices::ExtensionServices(const ChatRules& rules, store::Store& store, Outbox& outbox,
                                     HookBus& hooks, TimerService& timers, const Clock& clock,
                                     const MessagePosting& posting)
    : rules_(rules),
      store_(store),
      outbox_(outbox),
      hooks_(hooks),
      timers_(timers),
      clock_(clock),
      posting_(posting) {}

void ExtensionServices::checkEvent(const nlohmann::json& event) const {
    if (!event.is_object() || !event.contains("ev") || !event["ev"].is_string() ||
        event["ev"].get_ref<const std::string&>().empty()) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "an event must be a JSON object with a non-empty string \"ev\"");
    }
    if (static_cast<int64_t>(toPayload(event).size()) > rules_.limits.maxPayloadBytes) {
        throw ProtocolError(ErrorCode::TooLarge, "event exceeds limits.max_payload_bytes");
    }
}

void ExtensionServices::publishToUser(const std::string&, const std::string& uid,
                                      const nlohmann::json& event) {
    requireUid(uid);
    checkEvent(event);
    outbox_.toUser(uid, event);
}

void ExtensionServices::publishToConversation(const std::string&, const std::string& conv,
                                              const nlohmann::json& event) {
    checkEvent(event);
    auto view = store_.memberView(conv, "");
    if (view.access == store::Access::NoConversation) {
        throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
    }
    outbox_.toConversation(view.memberIds, conv, event);
}

store::MessageRecord ExtensionServices::postMessage(const std::string& extension,
                                                    const std::string& conv,
                                                    const std::optional<std::string>& cmid,
                                                    const std::string& body,
                                                    const nlohmann::json& meta) {
    if (postingDepth >= kMaxPostingDepth) {
        throw ProtocolError(ErrorCode::Forbidden,
                            "messages posted from hooks of posted messages nest too deep");
    }
    // The extension's name keeps its cmids apart from every other extension's.
    std::string storedCmid = extension + ":" + (cmid ? *cmid : randomSuffix());
    if (storedCmid.size() > 64 || (cmid && (cmid->empty() || hasControlCharacter(*cmid)))) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "cmid must be 1 or more characters and at most 64 with the "
                            "extension's name and ':'");
    }
    // Only message.after_store handlers can post from inside this call: the depth counts them.
    ++postingDepth;
    struct Unwind {
        ~Unwind() { --postingDepth; }
    } unwind;
    return posting_
        .post(
            MessageSubmission{conv, store::kSystemSender, std::move(storedCmid), body, meta, true})
        .message;
}

std::optional<nlohmann::json> ExtensionServices::conversation(const std::string& conv) {
    auto record = store_.conversation(conv);
    if (!record) {
        return std::nullopt;
    }
    auto summary = summaryJson(*record, "");
    summary.erase("read_seq");
    summary.erase("unread");
    return summary;
}

nlohmann::json ExtensionServices::messages(const std::string& conv, std::optional<int64_t> before,
                                           std::optional<int64_t> after, int limit) {
    if (limit < 1 || limit > 100) {
        throw ProtocolError(ErrorCode::BadRequest, "limit must be between 1 and 100");
    }
    if (store_.memberView(conv, "").access == store::Access::NoConversation) {
        throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
    }
    auto page = store_.history(store::HistoryQuery{conv, before, after, limit});
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& message : page.messages) {
        msgs.push_back(messageJson(message));
    }
    return {{"msgs", msgs}, {"has_more", page.hasMore}};
}

std::vector<std::string> ExtensionServices::updateContext(
    const std::string&, const std::string& type, const std::string& id,
    const std::optional<std::string>& title, const std::optional<std::string>& status) {
    if (type.empty() || id.empty() || hasControlCharacter(id) || utf8Length(id) > 128) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "a context is a type and an id of 1-128 characters");
    }
    if (title &&
        (utf8Length(*title) > 128 || !isValidUtf8(*title) || hasControlCharacter(*title))) {
        throw ProtocolError(ErrorCode::BadRequest, "a context title is at most 128 characters");
    }
    if (status && (status->empty() || status->size() > 32 ||
                   status->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") !=
                       std::string::npos)) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "a context status is 1-32 characters from a-z 0-9 _ -");
    }
    auto ids = store_.updateContext(type, id, title, status);
    if (!title && !status) {
        return ids;  // nothing changed: nobody to tell
    }
    for (const auto& conv : ids) {
        auto record = store_.conversation(conv);
        if (!record) {
            continue;
        }
        for (const auto& member : record->members) {
            auto event = summaryJson(*record, member.uid);
            event["ev"] = "conv";
            event["reason"] = "changed";
            outbox_.toUser(member.uid, event);
        }
    }
    return ids;
}

std::vector<std::string> ExtensionServices::conversationsAbout(const std::string& type,
                                                               const std::string& id, int limit) {
    return store_.conversationsAbout(type, id, std::clamp(limit, 1, 1000));
}

nlohmann::json ExtensionServices::user(const std::string& uid) {
    requireUid(uid);
    auto record = store_.user(uid);
    store::PresenceRecord presence{uid, store::PresenceState::Offline, false, std::nullopt};
    std::string name;
    nlohmann::json email = nullptr;  // extensions are the operator's: they see what admins see
    if (record) {
        presence = record->presence;
        name = record->name;
        if (record->email) {
            email = *record->email;
        }
    }
    return {{"user", uid}, {"name", name}, {"presence", presenceJson(presence)}, {"email", email}};
}

void ExtensionServices::checkKey(const std::string& key) const {
    if (key.empty() || key.size() > kMaxKeyBytes || !isValidUtf8(key) || hasControlCharacter(key)) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "a key is 1-190 bytes of UTF-8 without control characters");
    }
}

nlohmann::json ExtensionServices::unreadMembers(int64_t activeSince,
                                                const std::optional<std::string>& uid, int limit) {
    if (uid) {
        requireUid(*uid);
    }
    if (limit < 1 || limit > static_cast<int>(kMaxListLimit)) {
        throw ProtocolError(ErrorCode::BadRequest, "limit must be 1-1000");
    }
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& member : store_.unreadMembers(activeSince, uid, limit)) {
        rows.push_back({{"user", member.uid},
                        {"conv", member.conv},
                        {"read_seq", member.readSeq},
                        {"last_seq", member.lastSeq},
                        {"last_activity", member.lastActivity},
                        {"presence", store::presenceStateName(member.presence)}});
    }
    return rows;
}

void ExtensionServices::addHttpRoute(const std::string& extension, const std::string& path,
                                     ExtensionHttpHandler handler) {
    const bool wellFormed = path.size() >= 2 && path.size() <= 128 && path[0] == '/' &&
                            std::all_of(path.begin(), path.end(),
                                        [](char c) {
                                            return (c >= 'a' && c <= 'z') ||
                                                   (c >= '0' && c <= '9') || c == '/' || c == '.' ||
                                                   c == '_' || c == '-';
                                        }) &&
                            path.find("..") == std::string::npos;
    if (!wellFormed) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "an HTTP route is 2-128 of a-z 0-9 / . _ - starting with '/'");
    }
    std::lock_guard lock(httpMutex_);
    if (!httpRoutes_.emplace("/ext/" + extension + path, std::move(handler)).second) {
        throw std::invalid_argument("route " + path + " is registered already");
    }
}

void ExtensionServices::removeHttpRoutes(const std::string& extension) {
    const std::string prefix = "/ext/" + extension + "/";
    std::lock_guard lock(httpMutex_);
    for (auto it = httpRoutes_.lower_bound(prefix);
         it != httpRoutes_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
        it = httpRoutes_.erase(it);
    }
}

std::optional<ExtensionHttpResponse> ExtensionServices::handleHttp(
    const std::string& fullPath, ExtensionHttpRequest request) const {
    ExtensionHttpHandler handler;
    {
        std::lock_guard lock(httpMutex_);
        const auto found = httpRoutes_.find(fullPath);
        if (found == httpRoutes_.end()) {
            return std::nullopt;
        }
        handler = found->second;
    }
    // "/ext/" + extension: the extension's own path starts at the next '/'.
    request.path = fullPath.substr(fullPath.find('/', 5));
    return handler(request);
}

std::optional<std::string> ExtensionServices::kvGet(const std::string& extension,
                                                    const std::string& key) {
    checkKey(key);
    return store_.kvGet(extension, key, clock_.nowMs());
}

void ExtensionServices::kvSet(const std::string& extension, const std::string& key,
                              const std::string& value, int64_t ttlMs) {
    checkKey(key);
    if (value.size() > kMaxValueBytes) {
        throw ProtocolError(ErrorCode::TooLarge, "a value is at most 1 MiB");
    }
    if (!isValidUtf8(value)) {
        throw ProtocolError(ErrorCode::BadRequest, "a value is UTF-8 text (encode binary data)");
    }
    if (ttlMs < 0) {
        throw ProtocolError(ErrorCode::BadRequest, "ttl must not be negative");
    }
    const int64_t now = clock_.nowMs();
    store_.kvSet(extension, key, value, ttlMs > 0 ? std::optional(now + ttlMs) : std::nullopt, now);
}

bool ExtensionServices::kvDelete(const std::string& extension, const std::string& key) {
    checkKey(key);
    return store_.kvDelete(extension, key);
}

int64_t ExtensionServices::kvIncr(const std::string& extension, const std::string& key,
                                  int64_t delta, int64_t ttlMs) {
    checkKey(key);
    if (ttlMs < 0) {
        throw ProtocolError(ErrorCode::BadRequest, "ttl must not be negative");
    }
    const int64_t now = clock_.nowMs();
    return store_.kvIncr(extension, key, delta,
                         ttlMs > 0 ? std::optional(now + ttlMs) : std::nullopt, now);
}

std::vector<std::pair<std::string, std::string>> ExtensionServices::kvList(
    const std::string& extension, const std::string& prefix, size_t limit,
    const std::string& after) {
    if (prefix.size() > kMaxKeyBytes || !isValidUtf8(prefix) || after.size() > kMaxKeyBytes ||
        !isValidUtf8(after)) {
        throw ProtocolError(ErrorCode::BadRequest, "a prefix is at most 190 bytes of UTF-8");
    }
    const auto bounded = static_cast<int>(std::clamp<size_t>(limit, 1, kMaxListLimit));
    return store_.kvList(extension, prefix, bounded, clock_.nowMs(), after);
}

uint64_t ExtensionServices::addTimer(const std::string& extension, int64_t delayMs,
                                     int64_t periodMs, std::function<void()> fn) {
    if (delayMs < 0 || periodMs < 0) {
        throw ProtocolError(ErrorCode::BadRequest, "timer delay and period must not be negative");
    }
    if (periodMs > 0 && periodMs < 10) {
        throw ProtocolError(ErrorCode::BadRequest, "a periodic timer runs at most every 10 ms");
    }
    return timers_.schedule(extension, delayMs, periodMs, [this, extension, fn = std::move(fn)] {
        hooks_.runGuarded(extension, "timer", hooks_.timerPolicy(), fn);
    });
}

bool ExtensionServices::cancelTimer(const std::string& extension, uint64_t id) {
    return timers_.cancel(extension, id);
}

void ExtensionServices::cancelTimers(const std::string& extension) {
    timers_.cancelOwner(extension);
}

FoldedText ExtensionServices::foldText(std::string_view text, TextForm form, bool spans) const {
    const TextFolder& folder = TextFolder::instance();
    if (text.size() > TextFolder::kMaxSourceBytes) {
        throw ProtocolError(
            ErrorCode::TooLarge,
            "a text to fold is at most " + std::to_string(TextFolder::kMaxSourceBytes) + " bytes");
    }
    if (!isValidUtf8(text)) {
        throw ProtocolError(ErrorCode::BadRequest, "the text is not valid UTF-8");
    }
    if (spans) {
        return folder.foldWithSpans(text, form);
    }
    return FoldedText{folder.fold(text, form), {}, {}};
}

void ExtensionServices::log(const std::string& extension, LogLevel level,
                            const std::string& message) {
    const auto spdLevel = level == LogLevel::Debug     ? spdlog::level::debug
                          : level == LogLevel::Info    ? spdlog::level::info
                          : level == LogLevel::Warning ? spdlog::level::warn
                                                       : spdlog::level::err;
    spdlog::log(spdLevel, "[{}] {}", extension, message);
}

bool ExtensionServices::isAdmin(const std::string& uid) const {
    return rules_.isAdmin(uid);
}

}  // namespace parley
