#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>

#include "store/Model.h"

namespace parley::store {

// Messages: appending them (seq, dedup on (sender, cmid)), reading them (history, by cmid),
// changing stored ones (edit, delete, react, and the changes since a rev) and searching them.
// Part of Store: every method is one transaction.
class MessageStore {
  public:
    virtual ~MessageStore() = default;

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
    // Once `stop` is requested (parleyd stopping) a rewrite that commits a batch at a time
    // (MariaDB's) returns early, false, and leaves the purge due: the next purge, in this
    // instance or another, finishes it.
    virtual bool purgeSearchIndex(int64_t dueBefore, std::stop_token stop = {}) = 0;
};

}  // namespace parley::store
