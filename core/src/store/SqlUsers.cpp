#include "store/SqlStore.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

void SqlStore::setDisplayName(const std::string& uid, const std::string& name, int64_t now) {
    transaction("setDisplayName", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, last_seen, "
                                "created_at) VALUES (?, '', 'offline', 0, 0, NULL, ?)"),
                   {uid, now});
        db.execute("UPDATE users SET name = ? WHERE uid = ?", {name, uid});
        return true;
    });
}

namespace {

constexpr const char* kUserColumns = "uid, name, state, state_manual, last_seen, email, created_at";

UserRecord readUser(const SqlRow& row) {
    return UserRecord{row.text(0), row.text(1),
                      PresenceRecord{row.text(0), parseState(row.text(2)), row.integer(3) != 0,
                                     row.isNull(4) ? std::nullopt : std::optional(row.integer(4))},
                      row.optionalText(5), row.integer(6)};
}

}  // namespace

std::optional<UserRecord> SqlStore::user(const std::string& uid) {
    return transaction("user", Mode::Read, [&](SqlConnection& db) {
        auto rows =
            db.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE uid = ?", {uid});
        std::optional<UserRecord> found;
        if (!rows.empty()) {
            found = readUser(rows[0]);
        }
        return found;
    });
}

std::set<std::string> SqlStore::knownUsers(const std::vector<std::string>& uids) {
    // Bounded statements (a few shapes in the statement cache), however long the list.
    constexpr size_t kChunk = 128;
    return transaction("knownUsers", Mode::Read, [&](SqlConnection& db) {
        std::set<std::string> known;
        for (size_t first = 0; first < uids.size(); first += kChunk) {
            const auto end =
                uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), first + kChunk));
            SqlParams params(uids.begin() + static_cast<std::ptrdiff_t>(first), end);
            params.resize(paddedSize(params.size()), params.back());
            for (const auto& row : db.query(
                     "SELECT uid FROM users WHERE uid IN (" + placeholders(params.size()) + ")",
                     params)) {
                known.insert(row.text(0));
            }
        }
        return known;
    });
}

UserRecord SqlStore::updateUser(const std::string& uid, const UserUpdate& update, int64_t now) {
    return transaction("updateUser", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, last_seen, "
                                "created_at) VALUES (?, '', 'offline', 0, 0, NULL, ?)"),
                   {uid, now});
        if (update.name) {
            db.execute("UPDATE users SET name = ? WHERE uid = ?", {*update.name, uid});
        }
        if (update.changeEmail) {
            db.execute("UPDATE users SET email = ? WHERE uid = ?",
                       {sqlOptional(update.email), uid});
        }
        auto rows =
            db.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE uid = ?", {uid});
        return readUser(rows.at(0));
    });
}

UserPage SqlStore::listUsers(int limit, const std::optional<std::string>& after) {
    return transaction("listUsers", Mode::Read, [&](SqlConnection& db) {
        // One more than asked tells whether there is a next page.
        auto rows = db.query(std::string("SELECT ") + kUserColumns +
                                 " FROM users WHERE uid > ? ORDER BY uid LIMIT ?",
                             {after.value_or(""), int64_t{limit} + 1});
        UserPage page;
        for (const auto& row : rows) {
            if (page.users.size() == static_cast<size_t>(limit)) {
                page.hasMore = true;
                break;
            }
            page.users.push_back(readUser(row));
        }
        return page;
    });
}

std::vector<ConversationRecord> SqlStore::memberConversations(const std::string& uid,
                                                              const std::string& afterConv,
                                                              int limit) {
    return transaction("memberConversations", Mode::Read, [&](SqlConnection& db) {
        std::vector<ConversationRecord> conversations;
        for (const auto& row : db.query(std::string("SELECT ") + kConversationColumns +
                                            " FROM members m JOIN conversations c ON c.id = "
                                            "m.conv WHERE m.uid = ? AND m.conv > ? "
                                            "ORDER BY m.conv LIMIT ?",
                                        {uid, afterConv, int64_t{limit}})) {
            conversations.push_back(readConversation(row));
        }
        attachMembers(db, conversations);
        return conversations;
    });
}

std::vector<MessageRecord> SqlStore::messagesBySender(const std::string& uid,
                                                      const std::string& afterCmid, int limit) {
    return transaction("messagesBySender", Mode::Read, [&](SqlConnection& db) {
        std::vector<MessageRecord> messages;
        for (const auto& row :
             db.query(std::string("SELECT ") + kMessageColumns +
                          " FROM messages WHERE sender = ? AND cmid > ? ORDER BY cmid LIMIT ?",
                      {uid, afterCmid, int64_t{limit}})) {
            messages.push_back(readMessage(row));
        }
        return messages;
    });
}

UserErasure SqlStore::eraseUser(const std::string& uid, int64_t now) {
    // Observed whole: emptying the write-ahead log is part of the erasure.
    return observed("eraseUser", [&] {
        auto erasure = transaction(
            "eraseUser", Mode::Write, std::chrono::steady_clock::now(), [&](SqlConnection& db) {
                UserErasure result;
                // The conversation rows are locked first, in id order, as appendMessage
                // locks them: a message of this user being stored now is either committed
                // before (and erased here) or finds them no longer a member.
                std::vector<std::string> convs;
                for (const auto& row : db.query("SELECT c.id, c.kind FROM members m JOIN "
                                                "conversations c ON c.id = m.conv "
                                                "WHERE m.uid = ? ORDER BY c.id" +
                                                    dialect_.lockRows,
                                                {uid})) {
                    convs.push_back(row.text(0));
                    if (row.text(1) == "direct") {
                        // The pair's key names this user: a later conv.open between the
                        // same uids starts a new conversation instead of finding this one
                        // without them.
                        db.execute("UPDATE conversations SET direct_key = NULL WHERE id = ?",
                                   {row.text(0)});
                    }
                }
                // Every message this changes (their own, and those they reacted to) gets a
                // rev of its own past the conversation's (old rev + seq: distinct, one
                // statement per conversation), so clients that missed the erased event
                // catch up with msg.changes (docs/design.md).
                for (const auto& conv : convs) {
                    auto rows =
                        db.query("SELECT rev, last_seq FROM conversations WHERE id = ?", {conv});
                    const int64_t base = rows.at(0).integer(0);
                    const auto changed = db.execute(
                        "UPDATE messages SET rev = ? + seq WHERE conv = ? AND ((sender = ? "
                        "AND "
                        "erased_at IS NULL) OR seq IN (SELECT seq FROM message_reactions "
                        "WHERE "
                        "conv = ? AND uid = ?))",
                        {base, conv, uid, conv, uid});
                    if (changed > 0) {
                        db.execute("UPDATE conversations SET rev = ? WHERE id = ?",
                                   {base + rows[0].integer(1), conv});
                        // Exactly the messages changed now have a rev past the old one.
                        db.execute(
                            "DELETE FROM message_revs WHERE conv = ? AND seq IN (SELECT "
                            "seq FROM "
                            "messages WHERE conv = ? AND rev > ?)",
                            {conv, conv, base});
                        db.execute(
                            "INSERT INTO message_revs (conv, seq, rev) SELECT conv, seq, "
                            "rev FROM "
                            "messages WHERE conv = ? AND rev > ?",
                            {conv, base});
                    }
                }
                // While the text to unindex is still there.
                search_.removeSender(db, uid, now);
                result.messages = db.execute(std::string("UPDATE messages SET ") + kEraseText +
                                                 " WHERE sender = ? AND erased_at IS NULL",
                                             {now, uid});
                db.execute("DELETE FROM message_reactions WHERE uid = ?", {uid});
                db.execute("DELETE FROM members WHERE uid = ?", {uid});
                db.execute("DELETE FROM former_members WHERE uid = ?", {uid});
                for (const auto& conv : convs) {
                    ErasedMembership membership{conv, {}};
                    for (const auto& row : db.query("SELECT uid FROM members WHERE conv = "
                                                    "? ORDER BY joined_at, uid",
                                                    {conv})) {
                        membership.remainingMembers.push_back(row.text(0));
                    }
                    if (!membership.remainingMembers.empty() &&
                        db.query("SELECT 1 FROM members WHERE conv = ? AND role = 'admin'", {conv})
                            .empty() &&
                        !db.query("SELECT 1 FROM conversations WHERE id = ? AND kind = "
                                  "'group'",
                                  {conv})
                             .empty()) {
                        // As when the last admin leaves: the longest-standing member is one
                        // now.
                        db.execute("UPDATE members SET role = 'admin' WHERE conv = ? AND uid = ?",
                                   {conv, membership.remainingMembers.front()});
                    }
                    if (membership.remainingMembers.empty()) {
                        // Nobody can ever read it again: nothing of it is kept.
                        db.execute("DELETE FROM message_reactions WHERE conv = ?", {conv});
                        db.execute("DELETE FROM message_revs WHERE conv = ?", {conv});
                        search_.removeConversation(db, conv, now);
                        db.execute("DELETE FROM member_changes WHERE conv = ?", {conv});
                        db.execute("DELETE FROM former_members WHERE conv = ?", {conv});
                        db.execute("DELETE FROM messages WHERE conv = ?", {conv});
                        db.execute("DELETE FROM conversations WHERE id = ?", {conv});
                    }
                    result.conversations.push_back(std::move(membership));
                }
                result.known = db.execute("DELETE FROM users WHERE uid = ?", {uid}) > 0;
                return result;
            });
        // An erasure's words leave the full-text index now, not at the next timed purge:
        // the operator is told the user is erased when this returns. (Before the log is
        // emptied, so that the index's old pages go with it.) Pending purges of others ride
        // along.
        try {
            purgeSearchIndex(now);
        } catch (const std::exception& error) {
            spdlog::warn(
                "store: erased {}, but purging the search index failed (the sweep tries "
                "again): {}",
                uid, error.what());
        }
        flushErasedText("erased " + uid);
        return erasure;
    });
}

}  // namespace parley::store
