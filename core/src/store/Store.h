#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/Model.h"

namespace parley::store {

// The database could not be reached for longer than the configured retry window. Nothing of the
// command was committed; the client may retry.
class StoreUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// How many users are in each presence state, over every instance (users it never saw excluded).
struct PresenceCounts {
    int64_t online = 0;
    int64_t away = 0;
    int64_t offline = 0;
};

// Told about the store's work, for metrics (ops::StoreMetrics). Called on the thread that did the
// work, from several at once.
class StoreObserver {
  public:
    virtual ~StoreObserver() = default;
    // A call of a Store method ended: `method` names it, `took` is its time (retries included;
    // for appendMessage, the wait for its batch too), `failed` whether it threw. The operations'
    // probes (ping, presenceCounts) are not reported.
    virtual void storeCall(std::string_view method, std::chrono::steady_clock::duration took,
                           bool failed) = 0;
    // A batch of `messages` messages was committed in one transaction (group commit: the
    // appendMessage calls that arrive together share one), which took `took`, retries included.
    virtual void appendBatch(size_t messages, std::chrono::steady_clock::duration took) = 0;
};

// Everything parleyd keeps. Storage is the source of truth: every method is one transaction, and
// every write is safe to retry (ids are chosen by the caller, messages deduplicate on (sender,
// cmid)).
class Store {
  public:
    virtual ~Store() = default;

    virtual std::string backendName() const = 0;
    // Applies pending schema migrations; returns the resulting schema version.
    virtual int migrate() = 0;

    // Get-or-create the 1:1 conversation of two users about an optional context.
    virtual std::optional<ConversationRecord> findDirect(
        const std::string& first, const std::string& second,
        const std::optional<ContextRef>& context) = 0;
    virtual OpenDirectResult openDirect(const std::string& initiator, const std::string& peer,
                                        const std::optional<ContextRef>& context,
                                        const std::string& newId, int64_t now) = 0;
    // Creates a group; `members` includes the creator. Retrying with the same newId is idempotent.
    virtual ConversationRecord createGroup(const std::string& creator,
                                           const std::vector<std::string>& members,
                                           const std::optional<std::string>& title,
                                           const std::string& newId, int64_t now) = 0;
    virtual std::optional<ConversationRecord> conversation(const std::string& conv) = 0;
    // Newest activity first; only conversations about `context` (type and id) when given.
    virtual ConversationPage listConversations(const std::string& uid, int limit,
                                               const std::optional<ListCursor>& before,
                                               const std::optional<ContextRef>& context = {}) = 0;
    // Sets the title and/or status of every conversation about (type, id); returns their ids.
    virtual std::vector<std::string> updateContext(const std::string& type, const std::string& id,
                                                   const std::optional<std::string>& title,
                                                   const std::optional<std::string>& status) = 0;
    // Members with unread messages in conversations active at or after `activeSince` (ms), with
    // their presence, oldest activity first (then conv, uid); only `uid`'s when given.
    // Members who muted the conversation are left out: nobody is notified about it.
    virtual std::vector<UnreadMember> unreadMembers(int64_t activeSince,
                                                    const std::optional<std::string>& uid,
                                                    int limit) = 0;
    virtual std::vector<std::string> conversationsAbout(const std::string& type,
                                                        const std::string& id, int limit) = 0;
    virtual MemberView memberView(const std::string& conv, const std::string& uid) = 0;

    // Stores a message with the next seq of its conversation, or finds the earlier copy with the
    // same (sender, cmid). Checks membership in the same transaction.
    virtual AppendResult appendMessage(const NewMessage& message) = 0;
    virtual std::optional<MessageRecord> findByCmid(const std::string& sender,
                                                    const std::string& cmid) = 0;
    // memberView(conv, sender) and findByCmid(sender, cmid) in one transaction: what a message
    // needs read before extensions see it.
    virtual MessageContext messageContext(const std::string& conv, const std::string& sender,
                                          const std::string& cmid) = 0;
    // With query.reader, only what that user may read (VisibleRange), checked in the same
    // transaction.
    virtual HistoryPage history(const HistoryQuery& query) = 0;
    // One stored message with its reactions and reply preview; none if there is no such seq.
    virtual std::optional<MessageRecord> message(const std::string& conv, int64_t seq) = 0;
    // Changes to stored messages (docs/design.md, "Changes to stored messages"). Each is one
    // transaction that locks the conversation row, checks everything again (membership, sender,
    // window, tombstone), and on a change gives the message the conversation's next rev.
    virtual MessageChange editMessage(const MessageEdit& edit) = 0;
    // Makes the message a tombstone deleted by `actor`: body and meta overwritten (and pushed out
    // of the write-ahead log, as for eraseUser), reactions dropped, seq and cmid kept. `actor`
    // must be the sender, an admin of the group, or `mayDeleteOthers` (a server admin, who need
    // not be a member).
    virtual MessageChange deleteMessage(const std::string& conv, int64_t seq,
                                        const std::string& actor, bool mayDeleteOthers,
                                        int64_t now) = 0;
    virtual MessageChange reactToMessage(const ReactionChange& change) = 0;
    // The messages and membership changes of conv whose rev > sinceRev, ascending rev, at most
    // `limit` of both together; with a reader, only what that user may read (VisibleRange).
    virtual ChangesPage changes(const std::string& conv, int64_t sinceRev, int limit,
                                const std::optional<std::string>& reader = {}) = 0;
    // Messages of the conversations query.reader is a member of, from where they may read
    // (VisibleRange: their visible_from), holding every term, newest first; never a tombstone.
    // docs/design.md, "Search".
    virtual SearchPage searchMessages(const SearchQuery& query) = 0;
    // Pushes the words of deleted and erased messages out of the full-text index, if any left it
    // since the last purge and the first of them before `dueBefore` (ms; now: at once). Returns
    // whether it purged. Costs a rewrite of the index: run it from a timer, not per command.
    virtual bool purgeSearchIndex(int64_t dueBefore) = 0;
    // Changes uid's own settings of a conversation they are a member of (conv.set).
    virtual SettingsResult changeSettings(const std::string& conv, const std::string& uid,
                                          const SettingsChange& change) = 0;
    // Adds, removes, lets leave, renames or makes admin, in one transaction that locks the
    // conversation row as appendMessage does: a message whose sender is removed is stored
    // before the removal (its seq at most the removal's) or refused. Every check is made again
    // there (docs/design.md, "Groups").
    virtual MembershipResult changeMembership(const MembershipRequest& request) = 0;
    // Moves uid's read watermark forward to min(seq, last_seq); never back.
    virtual ReadResult markRead(const std::string& conv, const std::string& uid, int64_t seq) = 0;
    // Sum of unread messages over all conversations of each user, those they muted left out.
    virtual std::vector<UnreadTotal> unreadTotals(const std::vector<std::string>& uids) = 0;

    virtual void setDisplayName(const std::string& uid, const std::string& name, int64_t now) = 0;
    virtual std::optional<UserRecord> user(const std::string& uid) = 0;
    // Those of `uids` Parley knows: registered by an admin (updateUser), named (setDisplayName)
    // or seen (recordActivity). For the user directory (users.directory: known).
    virtual std::set<std::string> knownUsers(const std::vector<std::string>& uids) = 0;
    // Creates the user if Parley has not seen them yet; returns the user as updated.
    virtual UserRecord updateUser(const std::string& uid, const UserUpdate& update,
                                  int64_t now) = 0;
    // Users Parley has seen, by ascending uid, those after `after` when given.
    virtual UserPage listUsers(int limit, const std::optional<std::string>& after) = 0;

    // A user's data, for admin.user.export, in pages. The conversations uid is a member of, by
    // ascending id, those after `afterConv` ("" for the first page), with their members.
    virtual std::vector<ConversationRecord> memberConversations(const std::string& uid,
                                                                const std::string& afterConv,
                                                                int limit) = 0;
    // The messages uid sent, in every conversation, by ascending cmid (the order of their unique
    // key, so a page costs the same however many there are), those after `afterCmid`.
    virtual std::vector<MessageRecord> messagesBySender(const std::string& uid,
                                                        const std::string& afterCmid,
                                                        int limit) = 0;
    // Erases a user, in one transaction (admin.user.erase): their messages become tombstones
    // (body and meta overwritten, seq kept), they leave every conversation (a conversation left
    // with no member is deleted with its messages; a 1:1 is no longer found by conv.open), and
    // their profile row (name, email, presence) is deleted. Safe to run again.
    virtual UserErasure eraseUser(const std::string& uid, int64_t now) = 0;

    virtual PresenceChange setPresence(const std::string& uid, PresenceState state,
                                       int64_t now) = 0;
    // A command from uid: online again unless they chose "away"; last_seen = now.
    virtual PresenceChange recordActivity(const std::string& uid, int64_t now) = 0;
    // Online users inactive since before `idleBefore` become away; returns those that changed.
    virtual std::vector<PresenceRecord> markIdleAway(int64_t idleBefore, int limit) = 0;

    // A small key-value store per extension. Expired entries read as absent. `now` and
    // `expiresAt` are wall-clock ms.
    virtual std::optional<std::string> kvGet(const std::string& extension, const std::string& key,
                                             int64_t now) = 0;
    virtual void kvSet(const std::string& extension, const std::string& key,
                       const std::string& value, std::optional<int64_t> expiresAt, int64_t now) = 0;
    virtual bool kvDelete(const std::string& extension, const std::string& key) = 0;
    // Adds delta to the integer value (absent or expired counts as 0) and returns the result;
    // `expiresAt` applies when the entry is created.
    virtual int64_t kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                           std::optional<int64_t> expiresAt, int64_t now) = 0;
    virtual std::vector<std::pair<std::string, std::string>> kvList(
        const std::string& extension, const std::string& prefix, int limit, int64_t now,
        const std::string& after = {}) = 0;
    virtual int kvPurgeExpired(int64_t now, int limit) = 0;

    // For operations (readiness, metrics): one attempt each, no retry; throw StoreUnavailable if
    // the database does not answer.
    virtual void ping() = 0;
    virtual PresenceCounts presenceCounts() = 0;

    // Who is told about the store's work from now on (null: nobody). The observer must outlive
    // its being set.
    virtual void setObserver(StoreObserver* observer) = 0;
};

}  // namespace parley::store
