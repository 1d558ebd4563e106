#pragma once

#include <map>
#include <string>
#include <string_view>

#include "ops/Metrics.h"
#include "store/Store.h"

namespace parley::ops {

// A Store that times every call of the one it wraps into parley_store_duration_seconds{method}
// and counts failures into parley_store_errors_total{method}; otherwise passes everything on. It
// takes the wrapped store's batch observer (observeAppendBatches) for the group-commit metrics.
class TimedStore final : public store::Store {
  public:
    TimedStore(store::Store& inner, Metrics& metrics);
    ~TimedStore() override;  // gives the batch observer back (nothing may append by then)
    TimedStore(const TimedStore&) = delete;
    TimedStore& operator=(const TimedStore&) = delete;

    std::string backendName() const override { return inner_.backendName(); }
    int migrate() override;

    std::optional<store::ConversationRecord> findDirect(
        const std::string& first, const std::string& second,
        const std::optional<store::ContextRef>& context) override;
    store::OpenDirectResult openDirect(const std::string& initiator, const std::string& peer,
                                       const std::optional<store::ContextRef>& context,
                                       const std::string& newId, int64_t now) override;
    store::ConversationRecord createGroup(const std::string& creator,
                                          const std::vector<std::string>& members,
                                          const std::optional<std::string>& title,
                                          const std::string& newId, int64_t now) override;
    std::optional<store::ConversationRecord> conversation(const std::string& conv) override;
    store::ConversationPage listConversations(
        const std::string& uid, int limit, const std::optional<store::ListCursor>& before,
        const std::optional<store::ContextRef>& context = {}) override;
    std::vector<std::string> updateContext(const std::string& type, const std::string& id,
                                           const std::optional<std::string>& title,
                                           const std::optional<std::string>& status) override;
    std::vector<std::string> conversationsAbout(const std::string& type, const std::string& id,
                                                int limit) override;
    store::MemberView memberView(const std::string& conv, const std::string& uid) override;

    store::AppendResult appendMessage(const store::NewMessage& message) override;
    std::optional<store::MessageRecord> findByCmid(const std::string& sender,
                                                   const std::string& cmid) override;
    store::HistoryPage history(const store::HistoryQuery& query) override;
    store::ReadResult markRead(const std::string& conv, const std::string& uid,
                               int64_t seq) override;
    std::vector<store::UnreadTotal> unreadTotals(const std::vector<std::string>& uids) override;

    void setDisplayName(const std::string& uid, const std::string& name, int64_t now) override;
    std::optional<store::UserRecord> user(const std::string& uid) override;
    std::set<std::string> knownUsers(const std::vector<std::string>& uids) override;
    store::UserRecord updateUser(const std::string& uid, const store::UserUpdate& update,
                                 int64_t now) override;
    store::UserPage listUsers(int limit, const std::optional<std::string>& after) override;
    std::vector<store::ConversationRecord> memberConversations(const std::string& uid,
                                                               const std::string& afterConv,
                                                               int limit) override;
    std::vector<store::MessageRecord> messagesBySender(const std::string& uid,
                                                       const std::string& afterCmid,
                                                       int limit) override;
    store::UserErasure eraseUser(const std::string& uid, int64_t now) override;

    store::PresenceChange setPresence(const std::string& uid, store::PresenceState state,
                                      int64_t now) override;
    store::PresenceChange recordActivity(const std::string& uid, int64_t now) override;
    std::vector<store::PresenceRecord> markIdleAway(int64_t idleBefore, int limit) override;

    std::optional<std::string> kvGet(const std::string& extension, const std::string& key,
                                     int64_t now) override;
    void kvSet(const std::string& extension, const std::string& key, const std::string& value,
               std::optional<int64_t> expiresAt, int64_t now) override;
    bool kvDelete(const std::string& extension, const std::string& key) override;
    int64_t kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                   std::optional<int64_t> expiresAt, int64_t now) override;
    std::vector<std::pair<std::string, std::string>> kvList(const std::string& extension,
                                                            const std::string& prefix, int limit,
                                                            int64_t now) override;
    int kvPurgeExpired(int64_t now, int limit) override;

    void ping() override { inner_.ping(); }
    store::PresenceCounts presenceCounts() override { return inner_.presenceCounts(); }
    // An extension's background scan, not a command's work: not timed.
    std::vector<store::UnreadMember> unreadMembers(int64_t activeSince,
                                                   const std::optional<std::string>& uid,
                                                   int limit) override {
        return inner_.unreadMembers(activeSince, uid, limit);
    }

  private:
    template <typename Call>
    auto timed(const char* method, Call&& call);

    store::Store& inner_;
    std::map<std::string_view, StoreMethodMetrics*> stats_;
};

}  // namespace parley::ops
