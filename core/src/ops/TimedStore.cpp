#include "ops/TimedStore.h"

#include <chrono>

namespace parley::ops {

namespace {
constexpr const char* kMethods[] = {"migrate",
                                    "findDirect",
                                    "openDirect",
                                    "createGroup",
                                    "conversation",
                                    "listConversations",
                                    "updateContext",
                                    "conversationsAbout",
                                    "memberView",
                                    "appendMessage",
                                    "findByCmid",
                                    "messageContext",
                                    "history",
                                    "markRead",
                                    "unreadTotals",
                                    "setDisplayName",
                                    "user",
                                    "knownUsers",
                                    "updateUser",
                                    "listUsers",
                                    "setPresence",
                                    "recordActivity",
                                    "markIdleAway",
                                    "kvGet",
                                    "kvSet",
                                    "kvDelete",
                                    "kvIncr",
                                    "kvList",
                                    "kvPurgeExpired",
                                    "memberConversations",
                                    "messagesBySender",
                                    "eraseUser"};
}  // namespace

TimedStore::TimedStore(store::Store& inner, Metrics& metrics) : inner_(inner) {
    for (const char* method : kMethods) {
        stats_[method] = &metrics.storeMethod(method);
    }
    inner_.observeAppendBatches(
        [&metrics](size_t messages, std::chrono::steady_clock::duration took) {
            metrics.appendBatches.fetch_add(1, std::memory_order_relaxed);
            metrics.appendBatchMessages.fetch_add(messages, std::memory_order_relaxed);
            metrics.appendBatchDuration.observe(std::chrono::duration<double>(took).count());
        });
}

TimedStore::~TimedStore() {
    inner_.observeAppendBatches({});
}

template <typename Call>
auto TimedStore::timed(const char* method, Call&& call) {
    // Filled in the constructor and never changed: no lock here.
    StoreMethodMetrics* stats = stats_.at(method);
    const auto started = std::chrono::steady_clock::now();
    struct Observe {
        StoreMethodMetrics& stats;
        std::chrono::steady_clock::time_point started;
        bool failed = true;
        ~Observe() {
            stats.duration.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            if (failed) {
                stats.errors.fetch_add(1, std::memory_order_relaxed);
            }
        }
    } observe{*stats, started};
    if constexpr (std::is_void_v<decltype(call())>) {
        call();
        observe.failed = false;
    } else {
        auto result = call();
        observe.failed = false;
        return result;
    }
}

int TimedStore::migrate() {
    return timed("migrate", [&] { return inner_.migrate(); });
}

std::optional<store::ConversationRecord> TimedStore::findDirect(
    const std::string& first, const std::string& second,
    const std::optional<store::ContextRef>& context) {
    return timed("findDirect", [&] { return inner_.findDirect(first, second, context); });
}

store::OpenDirectResult TimedStore::openDirect(const std::string& initiator,
                                               const std::string& peer,
                                               const std::optional<store::ContextRef>& context,
                                               const std::string& newId, int64_t now) {
    return timed("openDirect",
                 [&] { return inner_.openDirect(initiator, peer, context, newId, now); });
}

store::ConversationRecord TimedStore::createGroup(const std::string& creator,
                                                  const std::vector<std::string>& members,
                                                  const std::optional<std::string>& title,
                                                  const std::string& newId, int64_t now) {
    return timed("createGroup",
                 [&] { return inner_.createGroup(creator, members, title, newId, now); });
}

std::optional<store::ConversationRecord> TimedStore::conversation(const std::string& conv) {
    return timed("conversation", [&] { return inner_.conversation(conv); });
}

store::ConversationPage TimedStore::listConversations(
    const std::string& uid, int limit, const std::optional<store::ListCursor>& before,
    const std::optional<store::ContextRef>& context) {
    return timed("listConversations",
                 [&] { return inner_.listConversations(uid, limit, before, context); });
}

std::vector<std::string> TimedStore::updateContext(const std::string& type, const std::string& id,
                                                   const std::optional<std::string>& title,
                                                   const std::optional<std::string>& status) {
    return timed("updateContext", [&] { return inner_.updateContext(type, id, title, status); });
}

std::vector<std::string> TimedStore::conversationsAbout(const std::string& type,
                                                        const std::string& id, int limit) {
    return timed("conversationsAbout", [&] { return inner_.conversationsAbout(type, id, limit); });
}

store::MemberView TimedStore::memberView(const std::string& conv, const std::string& uid) {
    return timed("memberView", [&] { return inner_.memberView(conv, uid); });
}

store::AppendResult TimedStore::appendMessage(const store::NewMessage& message) {
    return timed("appendMessage", [&] { return inner_.appendMessage(message); });
}

std::optional<store::MessageRecord> TimedStore::findByCmid(const std::string& sender,
                                                           const std::string& cmid) {
    return timed("findByCmid", [&] { return inner_.findByCmid(sender, cmid); });
}

store::MessageContext TimedStore::messageContext(const std::string& conv, const std::string& sender,
                                                 const std::string& cmid) {
    return timed("messageContext", [&] { return inner_.messageContext(conv, sender, cmid); });
}

store::HistoryPage TimedStore::history(const store::HistoryQuery& query) {
    return timed("history", [&] { return inner_.history(query); });
}

store::ReadResult TimedStore::markRead(const std::string& conv, const std::string& uid,
                                       int64_t seq) {
    return timed("markRead", [&] { return inner_.markRead(conv, uid, seq); });
}

std::vector<store::UnreadTotal> TimedStore::unreadTotals(const std::vector<std::string>& uids) {
    return timed("unreadTotals", [&] { return inner_.unreadTotals(uids); });
}

void TimedStore::setDisplayName(const std::string& uid, const std::string& name, int64_t now) {
    timed("setDisplayName", [&] { inner_.setDisplayName(uid, name, now); });
}

std::optional<store::UserRecord> TimedStore::user(const std::string& uid) {
    return timed("user", [&] { return inner_.user(uid); });
}

std::set<std::string> TimedStore::knownUsers(const std::vector<std::string>& uids) {
    return timed("knownUsers", [&] { return inner_.knownUsers(uids); });
}

store::UserRecord TimedStore::updateUser(const std::string& uid, const store::UserUpdate& update,
                                         int64_t now) {
    return timed("updateUser", [&] { return inner_.updateUser(uid, update, now); });
}

store::UserPage TimedStore::listUsers(int limit, const std::optional<std::string>& after) {
    return timed("listUsers", [&] { return inner_.listUsers(limit, after); });
}

std::vector<store::ConversationRecord> TimedStore::memberConversations(const std::string& uid,
                                                                       const std::string& afterConv,
                                                                       int limit) {
    return timed("memberConversations",
                 [&] { return inner_.memberConversations(uid, afterConv, limit); });
}

std::vector<store::MessageRecord> TimedStore::messagesBySender(const std::string& uid,
                                                               const std::string& afterCmid,
                                                               int limit) {
    return timed("messagesBySender",
                 [&] { return inner_.messagesBySender(uid, afterCmid, limit); });
}

store::UserErasure TimedStore::eraseUser(const std::string& uid, int64_t now) {
    return timed("eraseUser", [&] { return inner_.eraseUser(uid, now); });
}

store::PresenceChange TimedStore::setPresence(const std::string& uid, store::PresenceState state,
                                              int64_t now) {
    return timed("setPresence", [&] { return inner_.setPresence(uid, state, now); });
}

store::PresenceChange TimedStore::recordActivity(const std::string& uid, int64_t now) {
    return timed("recordActivity", [&] { return inner_.recordActivity(uid, now); });
}

std::vector<store::PresenceRecord> TimedStore::markIdleAway(int64_t idleBefore, int limit) {
    return timed("markIdleAway", [&] { return inner_.markIdleAway(idleBefore, limit); });
}

std::optional<std::string> TimedStore::kvGet(const std::string& extension, const std::string& key,
                                             int64_t now) {
    return timed("kvGet", [&] { return inner_.kvGet(extension, key, now); });
}

void TimedStore::kvSet(const std::string& extension, const std::string& key,
                       const std::string& value, std::optional<int64_t> expiresAt, int64_t now) {
    timed("kvSet", [&] { inner_.kvSet(extension, key, value, expiresAt, now); });
}

bool TimedStore::kvDelete(const std::string& extension, const std::string& key) {
    return timed("kvDelete", [&] { return inner_.kvDelete(extension, key); });
}

int64_t TimedStore::kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                           std::optional<int64_t> expiresAt, int64_t now) {
    return timed("kvIncr", [&] { return inner_.kvIncr(extension, key, delta, expiresAt, now); });
}

std::vector<std::pair<std::string, std::string>> TimedStore::kvList(const std::string& extension,
                                                                    const std::string& prefix,
                                                                    int limit, int64_t now) {
    return timed("kvList", [&] { return inner_.kvList(extension, prefix, limit, now); });
}

int TimedStore::kvPurgeExpired(int64_t now, int limit) {
    return timed("kvPurgeExpired", [&] { return inner_.kvPurgeExpired(now, limit); });
}

}  // namespace parley::ops
