#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/Model.h"
#include "store/SqlConnection.h"

// What the files that implement SqlStore share: column lists, readers of rows, and the reads
// several concerns make (a conversation's view, messages with their reactions). Internal to the
// store: nothing outside core/src/store includes it.
namespace parley::store {

constexpr const char* kConversationColumns =
    "c.id, c.kind, c.title, c.ctx_type, c.ctx_id, c.ctx_title, c.created_by, c.created_at, "
    "c.last_seq, c.last_activity, c.ctx_status, c.rev";
constexpr size_t kConversationColumnCount = 12;
constexpr const char* kMessageColumns =
    "conv, seq, sender, cmid, body, meta, ts, erased_at, rev, edited_at, deleted_by, reply_to, "
    "attachments";
// The same, of messages joined as m.
constexpr const char* kMessageColumnsOfM =
    "m.conv, m.seq, m.sender, m.cmid, m.body, m.meta, m.ts, m.erased_at, m.rev, m.edited_at, "
    "m.deleted_by, m.reply_to, m.attachments";
// The one way text leaves a stored message (admin.user.erase, msg.delete): overwritten in the
// row, not flagged, so with SQLite's secure_delete (and the write-ahead log emptied after) it
// leaves the file. The attachments go with it, which is how their files lose this reference
// (docs/attachments.md). Its one parameter is the time.
constexpr const char* kEraseText = "body = '', meta = NULL, attachments = NULL, erased_at = ?";
// The columns of the last message that summaries join as lm.
constexpr const char* kLastMessageColumns =
    ", lm.sender, lm.cmid, lm.body, lm.meta, lm.ts, lm.erased_at, lm.deleted_by, lm.attachments";

ConversationRecord readConversation(const SqlRow& row);
// Reads the last message columns (kLastMessageColumns) that follow at `offset`.
void readLastMessage(const SqlRow& row, size_t offset, ConversationRecord& record);
MessageRecord readMessage(const SqlRow& row);
std::string placeholders(size_t count);
// A member's own settings, in the columns muted, archived, pinned_at from `offset`.
MemberSettings settingsOf(const SqlRow& row, size_t offset);
PresenceState parseState(const std::string& text);

// Conversation, members with their watermarks, and the asking user's, in one query.
struct ViewRows {
    bool exists = false;
    int64_t lastSeq = 0;
    ConversationKind kind = ConversationKind::Direct;
    std::optional<ContextRef> context;
    std::vector<MemberInfo> members;
    std::optional<int64_t> readSeq;  // set when uid is a member

    bool hasMember(const std::string& uid) const {
        return std::any_of(members.begin(), members.end(),
                           [&](const MemberInfo& member) { return member.uid == uid; });
    }

    std::vector<std::string> memberIds() const {
        std::vector<std::string> ids;
        ids.reserve(members.size());
        for (const auto& member : members) {
            ids.push_back(member.uid);
        }
        return ids;
    }
};

ViewRows loadView(SqlConnection& db, const std::string& conv, const std::string& uid);
// Lists in batch statements are padded to a power of two by repeating their last entry, so a
// few statement shapes cover every batch size and stay in the prepared-statement cache.
size_t paddedSize(size_t count);
// Several conversations with their members, in one query; `suffix` may lock the rows read.
std::map<std::string, ViewRows> loadViews(SqlConnection& db, std::vector<std::string> convs,
                                          const std::string& suffix);
// Unread messages over all conversations of each of `uids` (those with none may be absent).
std::map<std::string, int64_t> sumUnread(SqlConnection& db, const std::vector<std::string>& uids);
Access accessOf(const ViewRows& view);
MemberView memberViewOf(ViewRows view);
std::optional<MessageRecord> loadByCmid(SqlConnection& db, const std::string& sender,
                                        const std::string& cmid);
// Fills the reactions and reply previews of messages of one conversation: one query each,
// whatever the page size.
void decorateMessages(SqlConnection& db, std::vector<MessageRecord>& messages);
std::optional<MessageRecord> loadMessage(SqlConnection& db, const std::string& conv, int64_t seq);
// Why a reader with no visible range reads nothing.
Access readerWithoutRange(SqlConnection& db, const std::string& conv);

// What of conv `uid` may read (current member, or former member up to their going); none if
// they never were a member. The one place that rule is read from the database: every query of
// messages for a user goes through it (history, changes, and search).
std::optional<VisibleRange> visibleRange(SqlConnection& db, const std::string& conv,
                                         const std::string& uid);
// " AND <seqColumn> >= ? [AND <seqColumn> <= ?]" with its parameters appended to `params`.
std::string visibleSeqClause(const VisibleRange& range, const std::string& seqColumn,
                             SqlParams& params);

// "a|b" or "a|b|type|id" with a <= b: one direct conversation per pair and context.
std::string directConversationKey(const std::string& first, const std::string& second,
                                  const std::optional<ContextRef>& context);

}  // namespace parley::store
