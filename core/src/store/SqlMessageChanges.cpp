#include "store/SqlStore.h"

#include <algorithm>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

namespace {

MemberChangeKind parseMemberChangeKind(const std::string& text) {
    for (auto kind : {MemberChangeKind::Joined, MemberChangeKind::Removed, MemberChangeKind::Left,
                      MemberChangeKind::Admin, MemberChangeKind::Renamed}) {
        if (text == memberChangeKindName(kind)) {
            return kind;
        }
    }
    throw SqlError(SqlError::Kind::Other, "unknown membership change kind " + text);
}

// A row of "SELECT conv, rev, kind, uid, actor, seq, ts, title FROM member_changes".
MemberChange readMemberChange(const SqlRow& row) {
    return MemberChange{row.text(0),    row.integer(1),     parseMemberChangeKind(row.text(2)),
                        row.text(3),    row.text(4),        row.integer(5),
                        row.integer(6), row.optionalText(7)};
}

}  // namespace

template <typename Change>
MessageChange SqlStore::changeMessage(const char* what, const std::string& conv, int64_t seq,
                                      const std::string& uid, bool memberOnly, Change&& change) {
    return transaction(what, Mode::Write, [&](SqlConnection& db) {
        MessageChange result;
        // The conversation row is locked first, as appendMessage locks it: changes and new
        // messages of one conversation are serialised, and revs are given out one at a time.
        auto locked =
            db.query("SELECT rev FROM conversations WHERE id = ?" + dialect_.lockRows, {conv});
        if (locked.empty()) {
            result.outcome = ChangeOutcome::NoConversation;
            return result;
        }
        const int64_t rev = locked[0].integer(0);
        const ViewRows view = loadView(db, conv, uid);
        result.memberIds = view.memberIds();
        if (memberOnly && !view.readSeq) {
            result.outcome = ChangeOutcome::NotMember;
            return result;
        }
        auto current = loadMessage(db, conv, seq);
        if (!current) {
            result.outcome = ChangeOutcome::NoMessage;
            return result;
        }
        result.message = std::move(*current);
        // `change` decides, and writes the message's row (its rev set to rev + 1) if it changes.
        result.outcome = change(db, result, rev + 1);
        if (result.outcome == ChangeOutcome::Changed) {
            db.execute("UPDATE conversations SET rev = ? WHERE id = ?", {rev + 1, conv});
            db.execute("DELETE FROM message_revs WHERE conv = ? AND seq = ?", {conv, seq});
            db.execute("INSERT INTO message_revs (conv, seq, rev) VALUES (?, ?, ?)",
                       {conv, seq, rev + 1});
            auto now = loadMessage(db, conv, seq);
            if (!now) {
                throw SqlError(SqlError::Kind::Other, "a changed message vanished");
            }
            result.message = std::move(*now);
        }
        return result;
    });
}

MessageChange SqlStore::editMessage(const MessageEdit& edit) {
    return changeMessage(
        "editMessage", edit.conv, edit.seq, edit.editor, true,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            if (message.tombstone()) {
                return ChangeOutcome::Tombstone;
            }
            if (message.sender != edit.editor) {
                return ChangeOutcome::NotSender;
            }
            if (message.ts < edit.editableSince) {
                return ChangeOutcome::WindowPassed;
            }
            const auto meta = edit.changeMeta ? edit.metaJson : message.metaJson;
            if (message.body == edit.body && message.metaJson == meta) {
                return ChangeOutcome::Unchanged;  // a resend of this edit, or no edit at all
            }
            db.execute(
                "UPDATE messages SET body = ?, meta = ?, edited_at = ?, rev = ? "
                "WHERE conv = ? AND seq = ?",
                {edit.body, sqlOptional(meta), edit.now, rev, edit.conv, edit.seq});
            search_.replace(db, edit.conv, edit.seq, message.body, edit.body);
            return ChangeOutcome::Changed;
        });
}

MessageChange SqlStore::deleteMessage(const std::string& conv, int64_t seq,
                                      const std::string& actor, bool mayDeleteOthers, int64_t now) {
    auto deleted = changeMessage(
        "deleteMessage", conv, seq, actor, !mayDeleteOthers,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            // A group's admin may delete others' messages too, checked here with the rest.
            if (message.sender != actor && !mayDeleteOthers &&
                db.query("SELECT 1 FROM members WHERE conv = ? AND uid = ? AND role = 'admin'",
                         {conv, actor})
                    .empty()) {
                return ChangeOutcome::NotSender;
            }
            if (message.tombstone()) {
                return ChangeOutcome::Unchanged;  // deleted or erased already: a resend
            }
            result.before = message;
            search_.remove(db, conv, seq, message.body, now);
            db.execute(std::string("UPDATE messages SET ") + kEraseText +
                           ", deleted_by = ?, edited_at = NULL, rev = ? WHERE conv = ? AND seq = ?",
                       {now, actor, rev, conv, seq});
            db.execute("DELETE FROM message_reactions WHERE conv = ? AND seq = ?", {conv, seq});
            return ChangeOutcome::Changed;
        });
    if (deleted.outcome == ChangeOutcome::Changed) {
        flushErasedText("deleted " + conv + "/" + std::to_string(seq));
    }
    return deleted;
}

MessageChange SqlStore::reactToMessage(const ReactionChange& change) {
    return changeMessage(
        "reactToMessage", change.conv, change.seq, change.uid, true,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            if (message.tombstone()) {
                return ChangeOutcome::Tombstone;
            }
            const auto has = std::find_if(
                message.reactions.begin(), message.reactions.end(),
                [&](const Reaction& reaction) { return reaction.emoji == change.emoji; });
            const bool mine =
                has != message.reactions.end() &&
                std::find(has->users.begin(), has->users.end(), change.uid) != has->users.end();
            if (change.add == mine) {
                return ChangeOutcome::Unchanged;
            }
            if (change.add) {
                if (has == message.reactions.end() &&
                    message.reactions.size() >= static_cast<size_t>(change.maxEmojis)) {
                    return ChangeOutcome::TooManyReactions;
                }
                db.execute(
                    "INSERT INTO message_reactions (conv, seq, emoji, uid, ts) "
                    "VALUES (?, ?, ?, ?, ?)",
                    {change.conv, change.seq, change.emoji, change.uid, change.now});
            } else {
                db.execute(
                    "DELETE FROM message_reactions WHERE conv = ? AND seq = ? AND emoji = ? "
                    "AND uid = ?",
                    {change.conv, change.seq, change.emoji, change.uid});
            }
            db.execute("UPDATE messages SET rev = ? WHERE conv = ? AND seq = ?",
                       {rev, change.conv, change.seq});
            return ChangeOutcome::Changed;
        });
}

ChangesPage SqlStore::changes(const std::string& conv, int64_t sinceRev, int limit,
                              const std::optional<std::string>& reader) {
    return transaction("changes", Mode::Read, [&](SqlConnection& db) {
        ChangesPage page;
        auto rev = db.query("SELECT rev FROM conversations WHERE id = ?", {conv});
        page.rev = rev.empty() ? 0 : rev[0].integer(0);
        std::optional<VisibleRange> range;
        if (reader) {
            range = visibleRange(db, conv, *reader);
            if (!range) {
                page.access = readerWithoutRange(db, conv);
                return page;
            }
        }
        std::string sql = std::string("SELECT ") + kMessageColumnsOfM +
                          " FROM message_revs r JOIN messages m ON m.conv = r.conv AND "
                          "m.seq = r.seq WHERE r.conv = ? AND r.rev > ?";
        SqlParams params{conv, sinceRev};
        if (range) {
            sql += visibleSeqClause(*range, "m.seq", params);
        }
        sql += " ORDER BY r.rev LIMIT ?";
        params.emplace_back(int64_t{limit} + 1);
        std::vector<MessageRecord> messages;
        for (const auto& row : db.query(sql, params)) {
            messages.push_back(readMessage(row));
        }
        std::string memberSql =
            "SELECT conv, rev, kind, uid, actor, seq, ts, title FROM member_changes "
            "WHERE conv = ? AND rev > ?";
        SqlParams memberParams{conv, sinceRev};
        if (range) {
            memberSql += " AND rev >= ?";
            memberParams.emplace_back(range->fromRev);
            if (range->toRev) {
                memberSql += " AND rev <= ?";
                memberParams.emplace_back(*range->toRev);
            }
        }
        memberSql += " ORDER BY rev LIMIT ?";
        memberParams.emplace_back(int64_t{limit} + 1);
        std::vector<MemberChange> memberChanges;
        for (const auto& row : db.query(memberSql, memberParams)) {
            memberChanges.push_back(readMemberChange(row));
        }
        // One page of both, in rev order: the first `limit` of the two lists merged.
        size_t m = 0;
        size_t c = 0;
        while (page.messages.size() + page.memberChanges.size() < static_cast<size_t>(limit) &&
               (m < messages.size() || c < memberChanges.size())) {
            if (c == memberChanges.size() ||
                (m < messages.size() && messages[m].rev < memberChanges[c].rev)) {
                page.messages.push_back(std::move(messages[m++]));
            } else {
                page.memberChanges.push_back(std::move(memberChanges[c++]));
            }
        }
        page.hasMore = m < messages.size() || c < memberChanges.size();
        decorateMessages(db, page.messages);
        return page;
    });
}

}  // namespace parley::store
