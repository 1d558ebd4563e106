#pragma once

#include <atomic>
#include <variant>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "store/AppendBatcher.h"
#include "store/ConnectionPool.h"
#include "store/SearchIndex.h"
#include "store/SqlDialect.h"
#include "store/Store.h"

namespace parley::store {

// The Store over any SQL backend: one implementation of every query, run through a connection
// pool, each method one transaction retried on busy/deadlock/lost connection until `retryForMs`.
// One class, its methods in one file per concern (named below): SqlStore.cpp holds construction,
// migrations and what every concern's transactions share; SqlStoreTransaction.h the templates
// each method runs its transaction through; SqlSupport.h the queries several concerns make.
class SqlStore : public Store {
  public:
    // appendBatchesInFlight: how many batches of messages may be stored at once (see
    // AppendBatcher), at most poolSize.
    SqlStore(const SqlDialect& dialect, ConnectionPool::Factory factory, size_t poolSize,
             size_t appendBatchesInFlight, int64_t retryForMs);

    std::string backendName() const override { return dialect_.name; }
    int migrate() override;

    // Conversations, settings, read marks (SqlConversations.cpp)
    std::optional<ConversationRecord> findDirect(const std::string& first,
                                                 const std::string& second,
                                                 const std::optional<ContextRef>& context) override;
    OpenDirectResult openDirect(const std::string& initiator, const std::string& peer,
                                const std::optional<ContextRef>& context, const std::string& newId,
                                int64_t now) override;
    ConversationRecord createGroup(const std::string& creator,
                                   const std::vector<std::string>& members,
                                   const std::optional<std::string>& title,
                                   const std::string& newId, int64_t now) override;
    std::optional<ConversationRecord> conversation(const std::string& conv) override;
    ConversationPage listConversations(const std::string& uid, int limit,
                                       const std::optional<ListCursor>& before,
                                       const std::optional<ContextRef>& context = {}) override;
    std::vector<std::string> updateContext(const std::string& type, const std::string& id,
                                           const std::optional<std::string>& title,
                                           const std::optional<std::string>& status) override;
    std::vector<UnreadMember> unreadMembers(int64_t activeSince,
                                            const std::optional<std::string>& uid,
                                            int limit) override;
    std::vector<std::string> conversationsAbout(const std::string& type, const std::string& id,
                                                int limit) override;
    MemberView memberView(const std::string& conv, const std::string& uid) override;
    SettingsResult changeSettings(const std::string& conv, const std::string& uid,
                                  const SettingsChange& change) override;
    ReadResult markRead(const std::string& conv, const std::string& uid, int64_t seq) override;
    std::vector<UnreadTotal> unreadTotals(const std::vector<std::string>& uids) override;

    // Membership (SqlMembership.cpp)
    MembershipResult changeMembership(const MembershipRequest& request) override;

    // Appending messages in batches (SqlAppend.cpp)
    AppendResult appendMessage(const NewMessage& message) override;

    // Reading messages (SqlMessages.cpp)
    std::optional<MessageRecord> findByCmid(const std::string& sender,
                                            const std::string& cmid) override;
    MessageContext messageContext(const std::string& conv, const std::string& sender,
                                  const std::string& cmid) override;
    HistoryPage history(const HistoryQuery& query) override;
    std::optional<MessageRecord> message(const std::string& conv, int64_t seq) override;

    // Changes to stored messages (SqlMessageChanges.cpp)
    MessageChange editMessage(const MessageEdit& edit) override;
    MessageChange deleteMessage(const std::string& conv, int64_t seq, const std::string& actor,
                                bool mayDeleteOthers, int64_t now) override;
    MessageChange reactToMessage(const ReactionChange& change) override;
    ChangesPage changes(const std::string& conv, int64_t sinceRev, int limit,
                        const std::optional<std::string>& reader = {}) override;

    // Search (SqlSearch.cpp)
    SearchPage searchMessages(const SearchQuery& query) override;
    bool purgeSearchIndex(int64_t dueBefore, std::stop_token stop = {}) override;

    // Users, export and erasure (SqlUsers.cpp)
    void setDisplayName(const std::string& uid, const std::string& name, int64_t now) override;
    std::optional<UserRecord> user(const std::string& uid) override;
    std::set<std::string> knownUsers(const std::vector<std::string>& uids) override;
    UserRecord updateUser(const std::string& uid, const UserUpdate& update, int64_t now) override;
    UserPage listUsers(int limit, const std::optional<std::string>& after) override;
    std::vector<ConversationRecord> memberConversations(const std::string& uid,
                                                        const std::string& afterConv,
                                                        int limit) override;
    std::vector<MessageRecord> messagesBySender(const std::string& uid,
                                                const std::string& afterCmid, int limit) override;
    UserErasure eraseUser(const std::string& uid, int64_t now) override;

    // Presence (SqlPresence.cpp)
    PresenceChange setPresence(const std::string& uid, PresenceState state, int64_t now) override;
    PresenceChange recordActivity(const std::string& uid, int64_t now) override;
    std::vector<PresenceRecord> markIdleAway(int64_t idleBefore, int limit) override;

    // Extension data (SqlExtensionData.cpp)
    std::optional<std::string> kvGet(const std::string& extension, const std::string& key,
                                     int64_t now) override;
    void kvSet(const std::string& extension, const std::string& key, const std::string& value,
               std::optional<int64_t> expiresAt, int64_t now) override;
    bool kvDelete(const std::string& extension, const std::string& key) override;
    int64_t kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                   std::optional<int64_t> expiresAt, int64_t now) override;
    std::vector<std::pair<std::string, std::string>> kvList(const std::string& extension,
                                                            const std::string& prefix, int limit,
                                                            int64_t now,
                                                            const std::string& after = {}) override;
    int kvPurgeExpired(int64_t now, int limit) override;

    // The database as a whole (SqlStore.cpp)
    void ping() override;
    PresenceCounts presenceCounts() override;
    void setObserver(StoreObserver* observer) override;

  private:
    enum class Mode { Read, Write };

    // The transactions every method runs (their templates in SqlStoreTransaction.h).
    // Runs `work` in one transaction, retrying it whole on retryable errors: the call of Store
    // method `what`, reported to the observer.
    template <typename Work>
    auto transaction(const char* what, Mode mode, Work&& work);
    // Runs `call`, then tells the observer (if any) how long the call of `method` took and
    // whether it threw.
    template <typename Call>
    auto observed(const char* method, Call&& call);
    // The same, retrying for up to retry_for counted from `since` instead of from now.
    template <typename Work>
    auto transaction(const char* what, Mode mode, std::chrono::steady_clock::time_point since,
                     Work&& work);
    // One try of `work` in a transaction on a pooled connection: rolled back on any exception, the
    // connection dropped if it was lost.
    template <typename Work>
    auto attempt(Mode mode, Work&& work);
    // Runs `work` in one read transaction, once: StoreUnavailable if it fails.
    template <typename Work>
    auto readOnce(const char* what, Work&& work);

    // SqlConversations.cpp; search and the export read conversations too.
    std::optional<ConversationRecord> loadConversation(SqlConnection& db, const std::string& conv);
    void attachMembers(SqlConnection& db, std::vector<ConversationRecord>& conversations);
    // SqlStore.cpp.
    std::string insertIgnore(const std::string& rest) const;
    // After a commit that erased text (eraseUser, deleteMessage): the dialect's afterErase, so
    // the text does not outlive the UPDATE in the write-ahead log. Failures are logged, not
    // thrown: the erasure itself is committed.
    void flushErasedText(const std::string& what);
    // SqlMessageChanges.cpp. One change to a stored message, in one write transaction: the
    // conversation row locked, the view and the message read, then `change` decides and writes.
    // Handles the common refusals and the rev.
    template <typename Change>
    MessageChange changeMessage(const char* what, const std::string& conv, int64_t seq,
                                const std::string& uid, bool memberOnly, Change&& change);
    // SqlAppend.cpp. Stores a batch of messages in one transaction (AppendBatcher's runner).
    std::vector<AppendResult> appendBatch(const std::vector<const NewMessage*>& batch,
                                          std::chrono::steady_clock::time_point since);
    // What an attempt at a batch found instead of results: a message of the batch stored
    // already (a resend), which the attempt did not look for. The attempt is rolled back, not
    // committed, and the batch runs again, looking.
    struct ResendFound {};
    using BatchAttempt = std::variant<std::vector<AppendResult>, ResendFound>;
    // One try at it. Without `lookForResends` it assumes no message of the batch is stored yet
    // and ends with ResendFound when the INSERT finds one that is.
    // `triedSeqs[i]` keeps, across attempts, the seqs given to batch[i]: when a commit's outcome
    // was unknown (its connection died) and it did land, a later attempt finds that row, and it
    // is this batch's own message, not a resend.
    using TriedSeqs = std::vector<std::vector<int64_t>>;
    BatchAttempt appendBatchOnce(const std::vector<const NewMessage*>& batch, bool lookForResends,
                                 std::chrono::steady_clock::time_point since, TriedSeqs& triedSeqs);
    // SqlStore.cpp. After a batch's COMMIT on a connection whose commits need confirmation
    // (Galera): throws SqlError(Retryable) unless every message stored as new is there at its seq.
    static void confirmStored(SqlConnection& db, const std::vector<AppendResult>& results);

    const SqlDialect& dialect_;
    ConnectionPool pool_;
    int64_t retryForMs_;
    SearchIndex search_;
    std::atomic<StoreObserver*> observer_{nullptr};
    AppendBatcher appender_;
};

}  // namespace parley::store
