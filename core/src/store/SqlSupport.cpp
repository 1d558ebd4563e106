#include "store/SqlSupport.h"

#include <algorithm>
#include <map>
#include <set>

namespace parley::store {

ConversationRecord readConversation(const SqlRow& row) {
    ConversationRecord record;
    record.id = row.text(0);
    record.kind = row.text(1) == "group" ? ConversationKind::Group : ConversationKind::Direct;
    record.title = row.optionalText(2);
    if (!row.isNull(3)) {
        record.context =
            ContextRef{row.text(3), row.text(4), row.optionalText(5), row.optionalText(10)};
    }
    record.createdBy = row.text(6);
    record.createdAt = row.integer(7);
    record.lastSeq = row.integer(8);
    record.lastActivity = row.integer(9);
    record.rev = row.integer(11);
    return record;
}

void readLastMessage(const SqlRow& row, size_t offset, ConversationRecord& record) {
    if (row.isNull(offset)) {
        return;
    }
    MessageRecord message;
    message.conv = record.id;
    message.seq = record.lastSeq;
    message.sender = row.text(offset);
    message.cmid = row.text(offset + 1);
    message.body = row.text(offset + 2);
    message.metaJson = row.optionalText(offset + 3);
    message.ts = row.integer(offset + 4);
    message.deletedBy = row.optionalText(offset + 6);
    message.erased = !row.isNull(offset + 5) && !message.deletedBy;
    message.attachmentsJson = row.optionalText(offset + 7);
    record.lastMessage = std::move(message);
}

MessageRecord readMessage(const SqlRow& row) {
    MessageRecord message{row.text(0), row.integer(1),      row.text(2),    row.text(3),
                          row.text(4), row.optionalText(5), row.integer(6), false};
    message.rev = row.integer(8);
    if (!row.isNull(9)) {
        message.editedAt = row.integer(9);
    }
    message.deletedBy = row.optionalText(10);
    // Both kinds of tombstone have erased_at; only a deletion names who deleted it.
    if (!row.isNull(7)) {
        if (message.deletedBy) {
            message.deletedAt = row.integer(7);
        } else {
            message.erased = true;
        }
    }
    if (!row.isNull(11)) {
        message.replyTo = row.integer(11);
    }
    message.attachmentsJson = row.optionalText(12);
    return message;
}

std::string placeholders(size_t count) {
    std::string list;
    for (size_t i = 0; i < count; ++i) {
        list += i == 0 ? "?" : ", ?";
    }
    return list;
}

MemberSettings settingsOf(const SqlRow& row, size_t offset) {
    MemberSettings settings;
    settings.muted = row.integer(offset) != 0;
    settings.archived = row.integer(offset + 1) != 0;
    if (!row.isNull(offset + 2)) {
        settings.pinnedAt = row.integer(offset + 2);
    }
    return settings;
}

PresenceState parseState(const std::string& text) {
    if (text == "online") {
        return PresenceState::Online;
    }
    if (text == "away") {
        return PresenceState::Away;
    }
    return PresenceState::Offline;
}

ViewRows loadView(SqlConnection& db, const std::string& conv, const std::string& uid) {
    ViewRows view;
    auto rows = db.query(
        "SELECT c.last_seq, m.uid, m.read_seq, c.kind, c.ctx_type, c.ctx_id, c.ctx_title, "
        "c.ctx_status FROM conversations c LEFT JOIN members m ON m.conv = c.id WHERE c.id = ? "
        "ORDER BY m.joined_at, m.uid",
        {conv});
    for (const auto& row : rows) {
        if (!view.exists) {
            view.kind = row.text(3) == "group" ? ConversationKind::Group : ConversationKind::Direct;
            if (!row.isNull(4)) {
                view.context =
                    ContextRef{row.text(4), row.text(5), row.optionalText(6), row.optionalText(7)};
            }
        }
        view.exists = true;
        view.lastSeq = row.integer(0);
        if (row.isNull(1)) {
            continue;
        }
        view.members.push_back(MemberInfo{row.text(1), {}, row.integer(2)});
        if (view.members.back().uid == uid) {
            view.readSeq = view.members.back().readSeq;
        }
    }
    return view;
}

size_t paddedSize(size_t count) {
    size_t padded = 1;
    while (padded < count) {
        padded *= 2;
    }
    return padded;
}

std::map<std::string, ViewRows> loadViews(SqlConnection& db, std::vector<std::string> convs,
                                          const std::string& suffix) {
    std::sort(convs.begin(), convs.end());
    convs.erase(std::unique(convs.begin(), convs.end()), convs.end());
    SqlParams params(convs.begin(), convs.end());
    params.resize(paddedSize(convs.size()), params.back());
    auto rows = db.query(
        "SELECT c.id, c.last_seq, m.uid, m.read_seq, c.kind, c.ctx_type, c.ctx_id, c.ctx_title, "
        "c.ctx_status FROM conversations c LEFT JOIN members m ON m.conv = c.id WHERE c.id IN (" +
            placeholders(params.size()) + ") ORDER BY c.id, m.joined_at, m.uid" + suffix,
        params);
    std::map<std::string, ViewRows> views;
    for (const auto& row : rows) {
        ViewRows& view = views[row.text(0)];
        if (!view.exists) {
            view.exists = true;
            view.lastSeq = row.integer(1);
            view.kind = row.text(4) == "group" ? ConversationKind::Group : ConversationKind::Direct;
            if (!row.isNull(5)) {
                view.context =
                    ContextRef{row.text(5), row.text(6), row.optionalText(7), row.optionalText(8)};
            }
        }
        if (!row.isNull(2)) {
            view.members.push_back(MemberInfo{row.text(2), {}, row.integer(3)});
        }
    }
    return views;
}

std::map<std::string, int64_t> sumUnread(SqlConnection& db, const std::vector<std::string>& uids) {
    std::map<std::string, int64_t> totals;
    if (uids.empty()) {
        return totals;
    }
    SqlParams params(uids.begin(), uids.end());
    params.resize(paddedSize(uids.size()), params.back());
    // A muted conversation keeps its own unread count but is no part of the total (the badge).
    for (const auto& row :
         db.query("SELECT m.uid, SUM(c.last_seq - m.read_seq) FROM members m "
                  "JOIN conversations c ON c.id = m.conv WHERE m.uid IN (" +
                      placeholders(params.size()) + ") AND m.muted = 0 GROUP BY m.uid",
                  params)) {
        totals[row.text(0)] = row.integer(1);
    }
    return totals;
}

Access accessOf(const ViewRows& view) {
    if (!view.exists) {
        return Access::NoConversation;
    }
    return view.readSeq ? Access::Member : Access::NotMember;
}

MemberView memberViewOf(ViewRows view) {
    return MemberView{accessOf(view),           view.memberIds(), view.lastSeq,
                      view.readSeq.value_or(0), view.kind,        std::move(view.context)};
}

std::optional<MessageRecord> loadByCmid(SqlConnection& db, const std::string& sender,
                                        const std::string& cmid) {
    auto rows = db.query(
        std::string("SELECT ") + kMessageColumns + " FROM messages WHERE sender = ? AND cmid = ?",
        {sender, cmid});
    std::optional<MessageRecord> found;
    if (!rows.empty()) {
        found = readMessage(rows[0]);
    }
    return found;
}

void decorateMessages(SqlConnection& db, std::vector<MessageRecord>& messages) {
    if (messages.empty()) {
        return;
    }
    const std::string& conv = messages.front().conv;
    int64_t lowest = messages.front().seq;
    int64_t highest = lowest;
    std::set<int64_t> answered;
    for (const auto& message : messages) {
        lowest = std::min(lowest, message.seq);
        highest = std::max(highest, message.seq);
        if (message.replyTo) {
            answered.insert(*message.replyTo);
        }
    }
    std::map<int64_t, MessageRecord*> bySeq;
    for (auto& message : messages) {
        bySeq[message.seq] = &message;
    }
    // A range, not a list: a history page is contiguous; msg.changes pages are not, and the
    // few rows of messages outside the page are skipped here.
    for (const auto& row :
         db.query("SELECT seq, emoji, uid FROM message_reactions WHERE conv = ? AND seq >= ? AND "
                  "seq <= ? ORDER BY seq, ts, emoji, uid",
                  {conv, lowest, highest})) {
        auto found = bySeq.find(row.integer(0));
        if (found == bySeq.end()) {
            continue;
        }
        auto& reactions = found->second->reactions;
        const std::string emoji = row.text(1);
        auto same = std::find_if(reactions.begin(), reactions.end(),
                                 [&](const Reaction& reaction) { return reaction.emoji == emoji; });
        if (same == reactions.end()) {
            reactions.push_back(Reaction{emoji, {}});
            same = std::prev(reactions.end());
        }
        same->users.push_back(row.text(2));
    }
    if (answered.empty()) {
        return;
    }
    SqlParams params{conv};
    params.insert(params.end(), answered.begin(), answered.end());
    params.resize(paddedSize(answered.size()) + 1, params.back());
    std::map<int64_t, ReplyPreview> previews;
    for (const auto& row :
         db.query("SELECT seq, sender, body, erased_at, deleted_by FROM messages WHERE conv = ? "
                  "AND seq IN (" +
                      placeholders(params.size() - 1) + ")",
                  params)) {
        const bool deleted = !row.isNull(4);
        previews[row.integer(0)] = ReplyPreview{row.integer(0), row.text(1), row.text(2), deleted,
                                                !row.isNull(3) && !deleted};
    }
    for (auto& message : messages) {
        if (message.replyTo) {
            auto found = previews.find(*message.replyTo);
            if (found != previews.end()) {
                message.replyPreview = found->second;
            }
        }
    }
}

std::optional<MessageRecord> loadMessage(SqlConnection& db, const std::string& conv, int64_t seq) {
    auto rows = db.query(
        std::string("SELECT ") + kMessageColumns + " FROM messages WHERE conv = ? AND seq = ?",
        {conv, seq});
    if (rows.empty()) {
        return std::nullopt;
    }
    std::vector<MessageRecord> one{readMessage(rows[0])};
    decorateMessages(db, one);
    return std::move(one[0]);
}

Access readerWithoutRange(SqlConnection& db, const std::string& conv) {
    return db.query("SELECT 1 FROM conversations WHERE id = ?", {conv}).empty()
               ? Access::NoConversation
               : Access::NotMember;
}

std::optional<VisibleRange> visibleRange(SqlConnection& db, const std::string& conv,
                                         const std::string& uid) {
    auto rows = db.query("SELECT visible_from, joined_rev FROM members WHERE conv = ? AND uid = ?",
                         {conv, uid});
    if (!rows.empty()) {
        return VisibleRange{rows[0].integer(0), rows[0].integer(1)};
    }
    rows = db.query(
        "SELECT visible_from, joined_rev, visible_to, left_rev FROM former_members "
        "WHERE conv = ? AND uid = ?",
        {conv, uid});
    if (!rows.empty()) {
        return VisibleRange{rows[0].integer(0), rows[0].integer(1), rows[0].integer(2),
                            rows[0].integer(3)};
    }
    return std::nullopt;
}

std::string visibleSeqClause(const VisibleRange& range, const std::string& seqColumn,
                             SqlParams& params) {
    std::string clause = " AND " + seqColumn + " >= ?";
    params.emplace_back(range.fromSeq);
    if (range.toSeq) {
        clause += " AND " + seqColumn + " <= ?";
        params.emplace_back(*range.toSeq);
    }
    return clause;
}

}  // namespace parley::store
