#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "store/Model.h"
#include "store/SqlConnection.h"
#include "store/SqlDialect.h"

namespace parley::store {

// The full-text index of messages (docs/design.md, "Search"), kept in the transactions that
// change messages: every SQL statement that touches search_docs, search_index or search_purge
// is here. A message is in the index while it is not a tombstone.
class SearchIndex {
  public:
    explicit SearchIndex(FullText kind) : kind_(kind) {}

    // Messages stored now (the append path, in its transaction).
    void add(SqlConnection& db, const std::vector<const MessageRecord*>& messages) const;
    // An edit: `oldBody` is the text the index holds now.
    void replace(SqlConnection& db, const std::string& conv, int64_t seq,
                 const std::string& oldBody, const std::string& newBody) const;
    // Before a message's text is erased (msg.delete). Marks a purge due.
    void remove(SqlConnection& db, const std::string& conv, int64_t seq, const std::string& body,
                int64_t now) const;
    // Before the text of every live message `sender` sent is erased (admin.user.erase).
    void removeSender(SqlConnection& db, const std::string& sender, int64_t now) const;
    // Before a conversation's messages are deleted.
    void removeConversation(SqlConnection& db, const std::string& conv, int64_t now) const;

    // The FROM part of a search: search_docs as d (with the index, for FTS5).
    std::string source() const;
    // The condition that the document holds every term; its one parameter is matchExpression.
    std::string matchCondition() const;
    // The document's number, newest highest, as the search orders and pages by it.
    std::string docid() const;
    // The terms as the backend's query syntax, each quoted: none when no term can match (on
    // InnoDB, words shorter than its smallest indexed token are not in the index).
    std::optional<std::string> matchExpression(const std::vector<std::string>& terms) const;

    // Claims a due purge (one instance wins it): the time the oldest deletion was pending since,
    // or none.
    std::optional<int64_t> claimPurge(SqlConnection& db, int64_t dueBefore) const;
    // Gives back a claim whose purge failed, so the next try runs it.
    void unclaimPurge(SqlConnection& db, int64_t pendingSince) const;
    // Rewrites the index without the words of removed documents. FTS5: inside a write
    // transaction; InnoDB: outside any, on a connection of its own (it commits a batch at a
    // time; docs/design.md, "Search"), and marks a purge due since `dueSince` if documents removed
    // while it ran left words in the new files. Returns false if InnoDB's rebuild stopped
    // between two batches because `stop` was requested: the next purge finishes it.
    bool purge(SqlConnection& db, int64_t dueSince, std::stop_token stop) const;

  private:
    bool rebuildInnoDb(SqlConnection& db, int64_t dueSince, std::stop_token stop) const;
    void markPurgeDue(SqlConnection& db, int64_t now) const;

    FullText kind_;
};

// Splits what a user typed into search terms: runs of ASCII letters and digits and of any
// character beyond ASCII; everything else separates them. So no term holds a quote, an
// operator or a wildcard of either backend's query syntax.
std::vector<std::string> searchTerms(const std::string& text);

}  // namespace parley::store
