#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace parley::store {

// The full-text index of messages (docs/design.md, "Search").
enum class FullText {
    Fts5,    // SQLite: a contentless FTS5 table beside search_docs
    InnoDb,  // MySQL/MariaDB: a FULLTEXT key on search_docs.body
};

// The little that differs between the SQL Parley speaks to SQLite and to MySQL/MariaDB.
struct SqlDialect {
    std::string name;
    std::string insertIgnore;  // "INSERT OR IGNORE INTO" / "INSERT IGNORE INTO"
    // Statements that serialise concurrent migrators (several parleyd starting at once); may be
    // empty.
    std::string lockMigrations;
    std::string unlockMigrations;
    // migrations[i] brings the schema from version i to version i + 1. Never edit a shipped entry:
    // add a new one.
    std::vector<std::string> migrations;
    // Appended to a SELECT that must lock the rows it reads until commit ("" where a write
    // transaction already excludes every other writer, as in SQLite).
    std::string lockRows;
    // Run outside any transaction after a user's erasure committed, to push erased text out of
    // places where it outlives an UPDATE; "" for none. Answers one row whose first column is
    // non-zero when it could not finish.
    std::string afterErase;
    FullText fullText = FullText::Fts5;
};

const SqlDialect& sqliteDialect();
const SqlDialect& mysqlDialect();

}  // namespace parley::store
