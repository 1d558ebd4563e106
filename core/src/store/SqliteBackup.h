#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace parley::store {

class BackupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct BackupSummary {
    int64_t bytes = 0;
    int64_t schemaVersion = 0;
    int64_t conversations = 0;
    int64_t messages = 0;
};

// Copies the SQLite database at `source` to a new file `destination` while parleyd keeps writing
// to it (parleyd --backup). The copy is one snapshot: SQLite's online backup API copies every
// page in a single step, inside one read transaction, which in WAL mode never waits for the
// writer nor makes it wait. So the copy holds exactly the transactions committed before that
// step began: every message acknowledged before then, none half-stored. It is written to
// `destination`.partial, checked
// (PRAGMA quick_check), synced to disk and only then renamed to `destination`, so a file with
// that name is always a whole, checked backup. Throws BackupError; refuses to overwrite.
BackupSummary backupSqlite(const std::string& source, const std::string& destination);

}  // namespace parley::store
