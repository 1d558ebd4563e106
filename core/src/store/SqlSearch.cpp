#include "store/SqlStore.h"

#include <map>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

namespace {

// Whether `reader` (the condition's one parameter), a current member, may read the message
// aliased `messages`: VisibleRange's rule for a member (from the seq they may read from, which
// visibleRange() and visibleSeqClause() apply to one conversation for msg.history), in SQL for
// many conversations at once (msg.search). Former members search nothing. The two change
// together.
std::string readableBy(const std::string& messages) {
    return "EXISTS (SELECT 1 FROM members rm WHERE rm.conv = " + messages +
           ".conv AND rm.uid = ? AND " + messages + ".seq >= rm.visible_from)";
}

}  // namespace

SearchPage SqlStore::searchMessages(const SearchQuery& query) {
    return transaction("searchMessages", Mode::Read, [&](SqlConnection& db) {
        SearchPage page;
        const auto expression = search_.matchExpression(query.terms);
        if (!expression) {
            return page;
        }
        std::string sql =
            std::string("SELECT ") + kMessageColumnsOfM + ", " + search_.docid() + " FROM " +
            search_.source() + " JOIN messages m ON m.conv = d.conv AND m.seq = d.seq WHERE " +
            search_.matchCondition() + " AND " + readableBy("m") + " AND m.erased_at IS NULL";
        SqlParams params{*expression, query.reader};
        if (query.conv) {
            sql += " AND d.conv = ?";
            params.emplace_back(*query.conv);
        }
        if (query.before) {
            sql += " AND " + search_.docid() + " < ?";
            params.emplace_back(*query.before);
        }
        sql += " ORDER BY " + search_.docid() + " DESC LIMIT ?";
        params.emplace_back(int64_t{query.limit} + 1);
        auto rows = db.query(sql, params);
        page.hasMore = rows.size() > static_cast<size_t>(query.limit);
        constexpr size_t kDocidColumn = 13;  // after kMessageColumnsOfM
        std::map<std::string, std::vector<MessageRecord>> byConversation;
        std::vector<std::pair<std::string, size_t>> order;  // (conv, index in its group)
        for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(query.limit); ++i) {
            auto message = readMessage(rows[i]);
            auto& group = byConversation[message.conv];
            order.emplace_back(message.conv, group.size());
            group.push_back(std::move(message));
            page.nextBefore = rows[i].integer(kDocidColumn);
        }
        for (auto& [conv, messages] : byConversation) {
            decorateMessages(db, messages);  // reactions and reply previews, per conversation
            if (auto conversation = loadConversation(db, conv)) {
                page.conversations.push_back(std::move(*conversation));
            }
        }
        for (const auto& [conv, index] : order) {
            page.messages.push_back(std::move(byConversation[conv][index]));
        }
        return page;
    });
}

bool SqlStore::purgeSearchIndex(int64_t dueBefore, std::stop_token stop) {
    // Observed whole, as one call: the claim, the rewrite and emptying the write-ahead log.
    return observed("purgeSearchIndex", [&] {
        const auto claimed =
            transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                        [&](SqlConnection& db) { return search_.claimPurge(db, dueBefore); });
        if (!claimed) {
            return false;
        }
        // A rewrite that failed or stopped leaves the purge due as it was, for the next to run.
        const auto giveBackClaim = [&] {
            transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                        [&](SqlConnection& db) {
                            search_.unclaimPurge(db, *claimed);
                            return true;
                        });
        };
        bool finished = true;
        try {
            if (dialect_.fullText == FullText::Fts5) {
                transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                            [&](SqlConnection& db) { return search_.purge(db, dueBefore, {}); });
            } else {
                // Outside transaction(), so its rule by hand: a connection that broke (a restart
                // of the database, io_timeout) is dropped, never handed to the pool's next user.
                auto lease = pool_.acquire();
                try {
                    finished = search_.purge(*lease, dueBefore, stop);
                } catch (const SqlError& error) {
                    if (error.kind() == SqlError::Kind::ConnectionLost) {
                        lease.discard();
                    }
                    throw;
                }
            }
        } catch (const std::exception&) {
            giveBackClaim();
            throw;
        }
        if (!finished) {
            giveBackClaim();
            return false;
        }
        flushErasedText("purged the search index");
        return true;
    });
}

}  // namespace parley::store
