#include "store/SqlStore.h"

#include <algorithm>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

std::optional<MessageRecord> SqlStore::findByCmid(const std::string& sender,
                                                  const std::string& cmid) {
    return transaction("findByCmid", Mode::Read,
                       [&](SqlConnection& db) { return loadByCmid(db, sender, cmid); });
}

MessageContext SqlStore::messageContext(const std::string& conv, const std::string& sender,
                                        const std::string& cmid) {
    return transaction("messageContext", Mode::Read, [&](SqlConnection& db) {
        return MessageContext{memberViewOf(loadView(db, conv, sender)),
                              loadByCmid(db, sender, cmid)};
    });
}

HistoryPage SqlStore::history(const HistoryQuery& query) {
    return transaction("history", Mode::Read, [&](SqlConnection& db) {
        HistoryPage page;
        std::string sql =
            std::string("SELECT ") + kMessageColumns + " FROM messages WHERE conv = ?";
        SqlParams params{query.conv};
        if (query.reader) {
            page.range = visibleRange(db, query.conv, *query.reader);
            if (!page.range) {
                page.access = readerWithoutRange(db, query.conv);
                return page;
            }
            sql += visibleSeqClause(*page.range, "seq", params);
        }
        if (query.after) {
            sql += " AND seq > ?";
            params.emplace_back(*query.after);
        }
        if (query.before) {
            sql += " AND seq < ?";
            params.emplace_back(*query.before);
        }
        // With `after` the page walks forward from it; otherwise backward from the newest.
        const bool forward = query.after.has_value();
        sql += forward ? " ORDER BY seq ASC LIMIT ?" : " ORDER BY seq DESC LIMIT ?";
        params.emplace_back(int64_t{query.limit} + 1);
        auto rows = db.query(sql, params);
        page.hasMore = rows.size() > static_cast<size_t>(query.limit);
        for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(query.limit); ++i) {
            page.messages.push_back(readMessage(rows[i]));
        }
        if (!forward) {
            std::reverse(page.messages.begin(), page.messages.end());
        }
        decorateMessages(db, page.messages);
        return page;
    });
}

std::optional<MessageRecord> SqlStore::message(const std::string& conv, int64_t seq) {
    return transaction("message", Mode::Read,
                       [&](SqlConnection& db) { return loadMessage(db, conv, seq); });
}

}  // namespace parley::store
