#include "store/SqlStore.h"

#include <algorithm>
#include <map>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

std::string directConversationKey(const std::string& first, const std::string& second,
                                  const std::optional<ContextRef>& context) {
    const auto& low = std::min(first, second);
    const auto& high = std::max(first, second);
    std::string key = low + "|" + high;
    if (context) {
        key += "|" + context->type + "|" + context->id;
    }
    return key;
}

std::optional<ConversationRecord> SqlStore::loadConversation(SqlConnection& db,
                                                             const std::string& conv) {
    auto rows = db.query(std::string("SELECT ") + kConversationColumns + kLastMessageColumns +
                             " FROM conversations c "
                             "LEFT JOIN messages lm ON lm.conv = c.id AND lm.seq = c.last_seq "
                             "WHERE c.id = ?",
                         {conv});
    if (rows.empty()) {
        return std::nullopt;
    }
    std::vector<ConversationRecord> one{readConversation(rows[0])};
    readLastMessage(rows[0], kConversationColumnCount, one[0]);
    attachMembers(db, one);
    return std::move(one[0]);
}

void SqlStore::attachMembers(SqlConnection& db, std::vector<ConversationRecord>& conversations) {
    if (conversations.empty()) {
        return;
    }
    SqlParams ids;
    std::map<std::string, ConversationRecord*> byId;
    for (auto& conversation : conversations) {
        ids.emplace_back(conversation.id);
        byId[conversation.id] = &conversation;
    }
    auto rows = db.query(
        "SELECT m.conv, m.uid, COALESCE(u.name, ''), m.read_seq, m.muted, m.archived, "
        "m.pinned_at, m.role FROM members m LEFT JOIN users u ON u.uid = m.uid WHERE m.conv IN (" +
            placeholders(ids.size()) + ") ORDER BY m.conv, m.joined_at, m.uid",
        ids);
    for (const auto& row : rows) {
        auto found = byId.find(row.text(0));
        if (found != byId.end()) {
            found->second->members.push_back(MemberInfo{row.text(1), row.text(2), row.integer(3),
                                                        settingsOf(row, 4),
                                                        row.text(7) == "admin"});
        }
    }
}

std::optional<ConversationRecord> SqlStore::findDirect(const std::string& first,
                                                       const std::string& second,
                                                       const std::optional<ContextRef>& context) {
    const std::string key = directConversationKey(first, second, context);
    return transaction("findDirect", Mode::Read, [&](SqlConnection& db) {
        auto rows = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
        std::optional<ConversationRecord> found;
        if (!rows.empty()) {
            found = loadConversation(db, rows[0].text(0));
        }
        return found;
    });
}

OpenDirectResult SqlStore::openDirect(const std::string& initiator, const std::string& peer,
                                      const std::optional<ContextRef>& context,
                                      const std::string& newId, int64_t now) {
    const std::string key = directConversationKey(initiator, peer, context);
    return transaction("openDirect", Mode::Write, [&](SqlConnection& db) {
        auto existing = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
        std::string id;
        if (existing.empty()) {
            db.execute(insertIgnore("conversations (id, kind, title, direct_key, ctx_type, ctx_id, "
                                    "ctx_title, created_by, created_at, last_seq, last_activity) "
                                    "VALUES (?, 'direct', NULL, ?, ?, ?, ?, ?, ?, 0, ?)"),
                       {newId, key, context ? SqlValue(context->type) : sqlNull(),
                        context ? SqlValue(context->id) : sqlNull(),
                        context ? sqlOptional(context->title) : sqlNull(), initiator, now, now});
            // Another instance may have won the race for this pair: take whatever is there now.
            existing = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
            if (existing.empty()) {
                throw SqlError(SqlError::Kind::Retryable, "direct conversation vanished");
            }
        }
        id = existing[0].text(0);
        const bool created = id == newId;
        if (created) {
            for (const auto* uid : {&initiator, &peer}) {
                db.execute(insertIgnore("members (conv, uid, read_seq, joined_at) "
                                        "VALUES (?, ?, 0, ?)"),
                           {id, *uid, now});
            }
        }
        auto record = loadConversation(db, id);
        if (!record) {
            throw SqlError(SqlError::Kind::Retryable, "direct conversation vanished");
        }
        return OpenDirectResult{std::move(*record), created};
    });
}

ConversationRecord SqlStore::createGroup(const std::string& creator,
                                         const std::vector<std::string>& members,
                                         const std::optional<std::string>& title,
                                         const std::string& newId, int64_t now) {
    return transaction("createGroup", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("conversations (id, kind, title, direct_key, ctx_type, ctx_id, "
                                "ctx_title, created_by, created_at, last_seq, last_activity) "
                                "VALUES (?, 'group', ?, NULL, NULL, NULL, NULL, ?, ?, 0, ?)"),
                   {newId, sqlOptional(title), creator, now, now});
        // The creator is the group's first admin (docs/design.md, "Groups").
        for (const auto& uid : members) {
            db.execute(insertIgnore("members (conv, uid, read_seq, joined_at, role) "
                                    "VALUES (?, ?, 0, ?, ?)"),
                       {newId, uid, now, uid == creator ? "admin" : "member"});
        }
        auto record = loadConversation(db, newId);
        if (!record) {
            throw SqlError(SqlError::Kind::Other, "group conversation was not stored");
        }
        return std::move(*record);
    });
}

std::optional<ConversationRecord> SqlStore::conversation(const std::string& conv) {
    return transaction("conversation", Mode::Read,
                       [&](SqlConnection& db) { return loadConversation(db, conv); });
}

ConversationPage SqlStore::listConversations(const std::string& uid, int limit,
                                             const std::optional<ListCursor>& before,
                                             const std::optional<ContextRef>& context) {
    return transaction("listConversations", Mode::Read, [&](SqlConnection& db) {
        std::string sql = std::string("SELECT ") + kConversationColumns + kLastMessageColumns +
                          " FROM members m JOIN conversations c ON c.id = m.conv "
                          "LEFT JOIN messages lm ON lm.conv = c.id AND lm.seq = c.last_seq "
                          "WHERE m.uid = ?";
        SqlParams params{uid};
        if (context) {
            sql += " AND c.ctx_type = ? AND c.ctx_id = ?";
            params.emplace_back(context->type);
            params.emplace_back(context->id);
        }
        if (before) {
            sql += " AND (c.last_activity < ? OR (c.last_activity = ? AND c.id < ?))";
            params.emplace_back(before->lastActivity);
            params.emplace_back(before->lastActivity);
            params.emplace_back(before->conv);
        }
        sql += " ORDER BY c.last_activity DESC, c.id DESC LIMIT ?";
        params.emplace_back(int64_t{limit} + 1);
        auto rows = db.query(sql, params);
        ConversationPage page;
        page.hasMore = rows.size() > static_cast<size_t>(limit);
        for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(limit); ++i) {
            page.conversations.push_back(readConversation(rows[i]));
            readLastMessage(rows[i], kConversationColumnCount, page.conversations.back());
        }
        attachMembers(db, page.conversations);
        return page;
    });
}

std::vector<std::string> SqlStore::updateContext(const std::string& type, const std::string& id,
                                                 const std::optional<std::string>& title,
                                                 const std::optional<std::string>& status) {
    return transaction("updateContext", Mode::Write, [&](SqlConnection& db) {
        std::vector<std::string> ids;
        for (const auto& row : db.query(
                 "SELECT id FROM conversations WHERE ctx_type = ? AND ctx_id = ?", {type, id})) {
            ids.push_back(row.text(0));
        }
        if (!ids.empty() && (title || status)) {
            std::string sql = "UPDATE conversations SET ";
            SqlParams params;
            if (title) {
                sql += "ctx_title = ?";
                params.emplace_back(*title);
            }
            if (status) {
                sql += title ? ", ctx_status = ?" : "ctx_status = ?";
                params.emplace_back(*status);
            }
            sql += " WHERE ctx_type = ? AND ctx_id = ?";
            params.emplace_back(type);
            params.emplace_back(id);
            db.execute(sql, params);
        }
        return ids;
    });
}

std::vector<UnreadMember> SqlStore::unreadMembers(int64_t activeSince,
                                                  const std::optional<std::string>& uid,
                                                  int limit) {
    return transaction("unreadMembers", Mode::Read, [&](SqlConnection& db) {
        std::string sql =
            "SELECT m.uid, m.conv, m.read_seq, c.last_seq, c.last_activity, "
            "COALESCE(u.state, 'offline') FROM conversations c "
            "JOIN members m ON m.conv = c.id LEFT JOIN users u ON u.uid = m.uid "
            "WHERE c.last_activity >= ? AND m.read_seq < c.last_seq AND m.muted = 0";
        SqlParams params{activeSince};
        if (uid) {
            sql += " AND m.uid = ?";
            params.emplace_back(*uid);
        }
        sql += " ORDER BY c.last_activity, c.id, m.uid LIMIT ?";
        params.emplace_back(int64_t{limit});
        std::vector<UnreadMember> members;
        for (const auto& row : db.query(sql, params)) {
            members.push_back(UnreadMember{row.text(0), row.text(1), row.integer(2), row.integer(3),
                                           row.integer(4), parseState(row.text(5))});
        }
        return members;
    });
}

std::vector<std::string> SqlStore::conversationsAbout(const std::string& type,
                                                      const std::string& id, int limit) {
    return transaction("conversationsAbout", Mode::Read, [&](SqlConnection& db) {
        std::vector<std::string> ids;
        for (const auto& row : db.query("SELECT id FROM conversations WHERE ctx_type = ? AND "
                                        "ctx_id = ? ORDER BY last_activity DESC, id DESC LIMIT ?",
                                        {type, id, int64_t{limit}})) {
            ids.push_back(row.text(0));
        }
        return ids;
    });
}

MemberView SqlStore::memberView(const std::string& conv, const std::string& uid) {
    return transaction("memberView", Mode::Read,
                       [&](SqlConnection& db) { return memberViewOf(loadView(db, conv, uid)); });
}

SettingsResult SqlStore::changeSettings(const std::string& conv, const std::string& uid,
                                        const SettingsChange& change) {
    return transaction("changeSettings", Mode::Write, [&](SqlConnection& db) {
        SettingsResult result;
        auto exists = db.query("SELECT id FROM conversations WHERE id = ?", {conv});
        if (exists.empty()) {
            return result;
        }
        auto rows =
            db.query("SELECT muted, archived, pinned_at FROM members WHERE conv = ? AND uid = ?" +
                         dialect_.lockRows,
                     {conv, uid});
        if (rows.empty()) {
            result.access = Access::NotMember;
            return result;
        }
        result.access = Access::Member;
        const MemberSettings before = settingsOf(rows[0], 0);
        MemberSettings after = before;
        after.muted = change.muted.value_or(before.muted);
        after.archived = change.archived.value_or(before.archived);
        if (change.pinned && *change.pinned != before.pinnedAt.has_value()) {
            // A pin keeps the time it was made: pinning again changes nothing.
            after.pinnedAt = *change.pinned ? std::optional<int64_t>(change.now) : std::nullopt;
        }
        result.changed = after.muted != before.muted || after.archived != before.archived ||
                         after.pinnedAt != before.pinnedAt;
        if (result.changed) {
            db.execute(
                "UPDATE members SET muted = ?, archived = ?, pinned_at = ? WHERE conv = ? AND "
                "uid = ?",
                {int64_t{after.muted ? 1 : 0}, int64_t{after.archived ? 1 : 0},
                 after.pinnedAt ? SqlValue(*after.pinnedAt) : sqlNull(), conv, uid});
        }
        result.settings = after;
        return result;
    });
}

ReadResult SqlStore::markRead(const std::string& conv, const std::string& uid, int64_t seq) {
    return transaction("markRead", Mode::Write, [&](SqlConnection& db) {
        ReadResult result;
        auto view = loadView(db, conv, uid);
        result.access = accessOf(view);
        if (result.access != Access::Member) {
            return result;
        }
        result.lastSeq = view.lastSeq;
        result.readSeq = *view.readSeq;
        const int64_t target = std::min(seq, view.lastSeq);
        if (target > result.readSeq) {
            result.moved = db.execute(
                               "UPDATE members SET read_seq = ? "
                               "WHERE conv = ? AND uid = ? AND read_seq < ?",
                               {target, conv, uid, target}) > 0;
            result.readSeq = target;
        }
        result.memberIds = view.memberIds();
        return result;
    });
}

std::vector<UnreadTotal> SqlStore::unreadTotals(const std::vector<std::string>& uids) {
    if (uids.empty()) {
        return {};
    }
    return transaction("unreadTotals", Mode::Read, [&](SqlConnection& db) {
        auto found = sumUnread(db, uids);
        std::vector<UnreadTotal> totals;
        for (const auto& uid : uids) {
            totals.push_back(UnreadTotal{uid, found.count(uid) ? found[uid] : 0});
        }
        return totals;
    });
}

}  // namespace parley::store
