#include "store/SearchIndex.h"

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

void SearchIndex::purge(SqlConnection& db) const {
    if (kind_ == FullText::Fts5) {
        // Merges every segment into one: the postings of deleted documents are dropped, and the
        // old segments' rows deleted (zeroed in the file by secure_delete).
        db.execute("INSERT INTO search_index (search_index) VALUES ('optimize')", {});
        return;
    }
    // Without innodb_optimize_fulltext_only (a global setting parleyd does not change), InnoDB
    // rebuilds the table: its auxiliary index tables are written anew from the live rows and
    // the old ones dropped.
    db.query("OPTIMIZE TABLE search_docs", {});
}

}  // namespace parley::store
