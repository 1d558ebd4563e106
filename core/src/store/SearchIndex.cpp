#include "store/SearchIndex.h"

#include <spdlog/spdlog.h>

namespace parley::store {

namespace {

// InnoDB indexes no word shorter than innodb_ft_min_token_size (3 by default, and read-only at
// run time): a required term shorter than that would match nothing at all.
constexpr size_t kInnoDbMinTokenCharacters = 3;

bool isTermByte(unsigned char c) {
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

size_t codePoints(const std::string& text) {
    size_t count = 0;
    for (const char c : text) {
        count += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
    return count;
}

}  // namespace

std::vector<std::string> searchTerms(const std::string& text) {
    std::vector<std::string> terms;
    std::string term;
    for (const char c : text) {
        if (isTermByte(static_cast<unsigned char>(c))) {
            term += c;
        } else if (!term.empty()) {
            terms.push_back(std::move(term));
            term.clear();
        }
    }
    if (!term.empty()) {
        terms.push_back(std::move(term));
    }
    return terms;
}

void SearchIndex::add(SqlConnection& db, const std::vector<const MessageRecord*>& messages) const {
    if (messages.empty()) {
        return;
    }
    if (kind_ == FullText::InnoDb) {
        // One statement for the batch: each round trip to MySQL counts on the append path.
        std::string sql = "INSERT INTO search_docs (conv, seq, body) VALUES ";
        SqlParams params;
        for (size_t i = 0; i < messages.size(); ++i) {
            sql += i == 0 ? "(?, ?, ?)" : ", (?, ?, ?)";
            params.insert(params.end(), {messages[i]->conv, messages[i]->seq, messages[i]->body});
        }
        db.execute(sql, params);
        return;
    }
    // In process, statements cost no round trip; the docid is the row's rowid.
    for (const MessageRecord* message : messages) {
        db.execute("INSERT INTO search_docs (conv, seq) VALUES (?, ?)",
                   {message->conv, message->seq});
        db.execute(
            "INSERT INTO search_index (rowid, body) SELECT docid, ? FROM search_docs WHERE conv = "
            "? AND seq = ?",
            {message->body, message->conv, message->seq});
    }
}

void SearchIndex::replace(SqlConnection& db, const std::string& conv, int64_t seq,
                          const std::string& oldBody, const std::string& newBody) const {
    if (kind_ == FullText::InnoDb) {
        db.execute("UPDATE search_docs SET body = ? WHERE conv = ? AND seq = ?",
                   {newBody, conv, seq});
        return;
    }
    // A contentless FTS5 table forgets a document only when told the text it indexed.
    db.execute(
        "INSERT INTO search_index (search_index, rowid, body) SELECT 'delete', docid, ? FROM "
        "search_docs WHERE conv = ? AND seq = ?",
        {oldBody, conv, seq});
    db.execute(
        "INSERT INTO search_index (rowid, body) SELECT docid, ? FROM search_docs WHERE conv = ? "
        "AND seq = ?",
        {newBody, conv, seq});
}

void SearchIndex::remove(SqlConnection& db, const std::string& conv, int64_t seq,
                         const std::string& body, int64_t now) const {
    if (kind_ == FullText::Fts5) {
        db.execute(
            "INSERT INTO search_index (search_index, rowid, body) SELECT 'delete', docid, ? FROM "
            "search_docs WHERE conv = ? AND seq = ?",
            {body, conv, seq});
    }
    if (db.execute("DELETE FROM search_docs WHERE conv = ? AND seq = ?", {conv, seq}) > 0) {
        markPurgeDue(db, now);
    }
}

void SearchIndex::removeSender(SqlConnection& db, const std::string& sender, int64_t now) const {
    if (kind_ == FullText::Fts5) {
        db.execute(
            "INSERT INTO search_index (search_index, rowid, body) SELECT 'delete', d.docid, m.body "
            "FROM messages m JOIN search_docs d ON d.conv = m.conv AND d.seq = m.seq "
            "WHERE m.sender = ? AND m.erased_at IS NULL",
            {sender});
    }
    // MySQL may not read the table it deletes from in a subquery; SQLite has no DELETE ... JOIN.
    const auto removed = db.execute(
        kind_ == FullText::InnoDb
            ? "DELETE d FROM search_docs d JOIN messages m ON m.conv = d.conv AND m.seq = d.seq "
              "WHERE m.sender = ? AND m.erased_at IS NULL"
            : "DELETE FROM search_docs WHERE docid IN (SELECT d.docid FROM messages m JOIN "
              "search_docs d ON d.conv = m.conv AND d.seq = m.seq WHERE m.sender = ? AND "
              "m.erased_at IS NULL)",
        {sender});
    if (removed > 0) {
        markPurgeDue(db, now);
    }
}

void SearchIndex::removeConversation(SqlConnection& db, const std::string& conv,
                                     int64_t now) const {
    if (kind_ == FullText::Fts5) {
        db.execute(
            "INSERT INTO search_index (search_index, rowid, body) SELECT 'delete', d.docid, m.body "
            "FROM search_docs d JOIN messages m ON m.conv = d.conv AND m.seq = d.seq "
            "WHERE d.conv = ?",
            {conv});
    }
    if (db.execute("DELETE FROM search_docs WHERE conv = ?", {conv}) > 0) {
        markPurgeDue(db, now);
    }
}

std::string SearchIndex::source() const {
    return kind_ == FullText::Fts5
               ? "search_index JOIN search_docs d ON d.docid = search_index.rowid"
               : "search_docs d";
}

std::string SearchIndex::matchCondition() const {
    return kind_ == FullText::Fts5 ? "search_index MATCH ?"
                                   : "MATCH (d.body) AGAINST (? IN BOOLEAN MODE)";
}

std::string SearchIndex::docid() const {
    // FTS5 walks its own rowids in either order without sorting.
    return kind_ == FullText::Fts5 ? "search_index.rowid" : "d.docid";
}

std::optional<std::string> SearchIndex::matchExpression(
    const std::vector<std::string>& terms) const {
    std::string expression;
    for (const auto& term : terms) {
        // Terms hold no quote (searchTerms), so quoting makes each a plain string to either
        // parser, never an operator: FTS5's AND is implicit, InnoDB's boolean mode needs '+'.
        if (kind_ == FullText::Fts5) {
            expression += (expression.empty() ? "\"" : " \"") + term + "\"";
        } else if (codePoints(term) >= kInnoDbMinTokenCharacters) {
            expression += (expression.empty() ? "+\"" : " +\"") + term + "\"";
        }
    }
    if (expression.empty()) {
        return std::nullopt;
    }
    return expression;
}

void SearchIndex::markPurgeDue(SqlConnection& db, int64_t now) const {
    db.execute("UPDATE search_purge SET pending_since = ? WHERE id = 1 AND pending_since IS NULL",
               {now});
}

std::optional<int64_t> SearchIndex::claimPurge(SqlConnection& db, int64_t dueBefore) const {
    auto rows = db.query("SELECT pending_since FROM search_purge WHERE id = 1", {});
    if (rows.empty() || rows[0].isNull(0) || rows[0].integer(0) > dueBefore) {
        return std::nullopt;
    }
    const int64_t since = rows[0].integer(0);
    // Conditional, so that of two instances claiming at once one wins.
    if (db.execute(
            "UPDATE search_purge SET pending_since = NULL WHERE id = 1 AND pending_since = ?",
            {since}) == 0) {
        return std::nullopt;
    }
    return since;
}

void SearchIndex::unclaimPurge(SqlConnection& db, int64_t pendingSince) const {
    db.execute(
        "UPDATE search_purge SET pending_since = ? WHERE id = 1 AND (pending_since IS NULL OR "
        "pending_since > ?)",
        {pendingSince, pendingSince});
}

bool SearchIndex::purge(SqlConnection& db, int64_t dueSince, std::stop_token stop) const {
    if (kind_ == FullText::Fts5) {
        // Merges every segment into one: the postings of deleted documents are dropped, and the
        // old segments' rows deleted (zeroed in the file by secure_delete). One statement, which
        // a stop does not interrupt.
        db.execute("INSERT INTO search_index (search_index) VALUES ('optimize')", {});
        return true;
    }
    return rebuildInnoDb(db, dueSince, std::move(stop));
}

namespace {

// Rows per statement of the InnoDB rebuild: each statement then takes a fraction of a second
// however large the index, far inside store.mysql.io_timeout, and holds up no writer.
constexpr int64_t kRebuildBatchRows = 2000;
// The rebuild's lease, renewed at every batch: another instance takes over a rebuild whose
// instance died once this has passed without a renewal.
constexpr int64_t kRebuildLeaseSeconds = 300;
// The documents stored after the copy is renamed into place are numbered past this many more
// than were ever stored: none takes the number of one stored in the old table meanwhile.
constexpr int64_t kRebuildDocidMargin = 1000000;

bool tableExists(SqlConnection& db, const char* table) {
    return db.query(
                 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                 "DATABASE() AND TABLE_NAME = ?",
                 {std::string(table)})
               .at(0)
               .integer(0) > 0;
}

int64_t maxDocid(SqlConnection& db, const char* table) {
    auto rows = db.query(std::string("SELECT COALESCE(MAX(docid), 0) FROM ") + table, {});
    return rows.at(0).integer(0);
}

// Thrown between two batches of the rebuild once a stop was requested, to leave it where it is.
struct RebuildStopped {};

void renewRebuildLease(SqlConnection& db) {
    db.execute("UPDATE search_purge SET pending_since = UNIX_TIMESTAMP() + ? WHERE id = 2",
               {kRebuildLeaseSeconds});
    db.commit();
}

// Before each batch of the rebuild: every state between two batches is one the next purge
// finishes from (docs/design.md, "Search").
void nextRebuildBatch(SqlConnection& db, const std::stop_token& stop) {
    if (stop.stop_requested()) {
        throw RebuildStopped{};
    }
    renewRebuildLease(db);
}

// Copies search_docs_old's documents numbered past `after` into search_docs, a batch per
// statement; a document already there is kept.
void copyFromOld(SqlConnection& db, int64_t after, const std::stop_token& stop) {
    while (true) {
        nextRebuildBatch(db, stop);
        auto last = db.query(
            "SELECT MAX(docid) FROM (SELECT docid FROM search_docs_old WHERE docid > ? ORDER BY "
            "docid LIMIT ?) batch",
            {after, kRebuildBatchRows});
        if (last.at(0).isNull(0)) {
            return;
        }
        db.execute(
            "INSERT IGNORE INTO search_docs (docid, conv, seq, body) SELECT docid, conv, seq, body "
            "FROM search_docs_old WHERE docid > ? AND docid <= ?",
            {after, last[0].integer(0)});
        db.commit();
        after = last[0].integer(0);
    }
}

// Brings the copy's documents numbered up to `upTo` to what the messages hold now: the copy
// read each document once, and an edit or a deletion may have changed it since. Returns how
// many it removed: their words stay in the copy's files until the next rebuild.
int64_t reconcileWithMessages(SqlConnection& db, int64_t upTo, const std::stop_token& stop) {
    int64_t removed = 0;
    for (int64_t from = 0; from < upTo; from += kRebuildBatchRows) {
        nextRebuildBatch(db, stop);
        removed += db.execute(
            "DELETE d FROM search_docs d LEFT JOIN messages m ON m.conv = d.conv AND m.seq = "
            "d.seq WHERE d.docid > ? AND d.docid <= ? AND (m.seq IS NULL OR m.erased_at IS NOT "
            "NULL)",
            {from, from + kRebuildBatchRows});
        db.execute(
            "UPDATE search_docs d JOIN messages m ON m.conv = d.conv AND m.seq = d.seq SET "
            "d.body = m.body WHERE d.docid > ? AND d.docid <= ? AND CAST(d.body AS BINARY) <> "
            "CAST(m.body AS BINARY)",
            {from, from + kRebuildBatchRows});
        db.commit();
    }
    return removed;
}

}  // namespace

bool SearchIndex::rebuildInnoDb(SqlConnection& db, int64_t dueSince, std::stop_token stop) const {
    // OPTIMIZE TABLE would rebuild search_docs in one statement that grows with the whole index
    // (73 s at a million messages, past store.mysql.io_timeout) while every insert into the
    // table waits (InnoDB rebuilds a table with a FULLTEXT key under a shared lock), and with
    // the stopwords of the purging session. Instead, a copy made a batch per statement is
    // renamed into place and the old table, with every deleted word in its files, dropped.
    db.execute("INSERT IGNORE INTO search_purge (id, pending_since) VALUES (2, NULL)", {});
    const bool leased =
        db.execute(
            "UPDATE search_purge SET pending_since = UNIX_TIMESTAMP() + ? WHERE id = 2 "
            "AND (pending_since IS NULL OR pending_since < UNIX_TIMESTAMP())",
            {kRebuildLeaseSeconds}) > 0;
    db.commit();
    if (!leased) {
        throw SqlError(SqlError::Kind::Other,
                       "search: another instance is rebuilding the search index");
    }
    try {
        int64_t removedFromCopy = 0;
        if (tableExists(db, "search_docs_old")) {
            // A rebuild that stopped after its rename: search_docs may lack the documents
            // stored in the old table after the copy; finish it.
            copyFromOld(db, 0, stop);
            removedFromCopy = reconcileWithMessages(db, maxDocid(db, "search_docs_old"), stop);
        } else {
            db.executeScript("DROP TABLE IF EXISTS search_docs_next");
            // Read when a FULLTEXT index is made: as when migration 9 made search_docs.
            db.executeScript(
                "SET SESSION innodb_ft_enable_stopword = OFF; CREATE TABLE search_docs_next LIKE "
                "search_docs");
            int64_t copiedUpTo = 0;
            while (true) {
                nextRebuildBatch(db, stop);
                const auto copied = db.execute(
                    "INSERT INTO search_docs_next (docid, conv, seq, body) SELECT docid, conv, "
                    "seq, body FROM search_docs WHERE docid > ? ORDER BY docid LIMIT ?",
                    {copiedUpTo, kRebuildBatchRows});
                db.commit();
                copiedUpTo = maxDocid(db, "search_docs_next");
                if (copied < kRebuildBatchRows) {
                    break;
                }
            }
            db.executeScript("ALTER TABLE search_docs_next AUTO_INCREMENT = " +
                             std::to_string(maxDocid(db, "search_docs") + kRebuildDocidMargin));
            db.executeScript(
                "RENAME TABLE search_docs TO search_docs_old, search_docs_next TO search_docs");
            // What was stored between the last batch and the rename: a batch or two, copied
            // whatever a stop says, so that the search finds every message meanwhile.
            copyFromOld(db, copiedUpTo, {});
            removedFromCopy = reconcileWithMessages(db, maxDocid(db, "search_docs_old"), stop);
        }
        db.executeScript("DROP TABLE search_docs_old");
        if (removedFromCopy > 0) {
            // Mostly deleted while the copy was made, and so marked due already; not one
            // deleted after the rename and before its copy, which found nothing to delete.
            markPurgeDue(db, dueSince);
        }
        db.execute("UPDATE search_purge SET pending_since = NULL WHERE id = 2", {});
        db.commit();
        return true;
    } catch (const RebuildStopped&) {
        // The lease goes at once, so that the next purge (another instance's, or this one's
        // after its restart) need not wait for it to run out.
        db.execute("UPDATE search_purge SET pending_since = NULL WHERE id = 2", {});
        db.commit();
        spdlog::info(
            "search: rebuilding the index stopped {} its rename, for parleyd stopping; the next "
            "purge finishes it",
            tableExists(db, "search_docs_old") ? "after" : "before");
        return false;
    } catch (const std::exception&) {
        db.rollback();
        try {
            db.execute("UPDATE search_purge SET pending_since = NULL WHERE id = 2", {});
            db.commit();
        } catch (const std::exception&) {
            // The connection is gone: the lease runs out by itself.
        }
        throw;
    }
}

}  // namespace parley::store
