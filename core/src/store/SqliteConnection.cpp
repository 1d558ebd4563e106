#include "store/SqliteConnection.h"

namespace parley::store {

namespace {
constexpr size_t kMaxCachedStatements = 256;

// Resets a statement when the step loop ends, however it ends.
struct ResetOnExit {
    sqlite3_stmt* statement;
    ~ResetOnExit() {
        sqlite3_reset(statement);
        sqlite3_clear_bindings(statement);
    }
};
}  // namespace

SqliteConnection::SqliteConnection(const std::string& path, const std::string& synchronous) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw SqlError(SqlError::Kind::Other,
                       "cannot open SQLite database " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    // secure_delete: what is deleted or overwritten is zeroed in the file, not just unlinked, so
    // an erased user's messages (admin.user.erase) are gone from the disk, not only from queries.
    executeScript(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; "
        "PRAGMA synchronous = " +
        std::string(synchronous == "normal" ? "NORMAL" : "FULL"));
}

SqliteConnection::~SqliteConnection() {
    statements_.clear();
    sqlite3_close_v2(db_);
}

void SqliteConnection::fail(int code, std::string_view context) const {
    const int primary = code & 0xFF;
    SqlError::Kind kind = SqlError::Kind::Other;
    if (primary == SQLITE_CONSTRAINT) {
        kind = SqlError::Kind::Constraint;
    } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        kind = SqlError::Kind::Retryable;
    }
    throw SqlError(kind, std::string("sqlite: ") + sqlite3_errmsg(db_) + " (" +
                             std::string(context.substr(0, 120)) + ")");
}

void SqliteConnection::beginRead() {
    executeScript("BEGIN DEFERRED");
}

void SqliteConnection::beginWrite() {
    executeScript("BEGIN IMMEDIATE");
}

void SqliteConnection::commit() {
    executeScript("COMMIT");
}

void SqliteConnection::rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

sqlite3_stmt* SqliteConnection::prepare(std::string_view sql, const SqlParams& params) {
    auto found = statements_.find(std::string(sql));
    if (found == statements_.end()) {
        if (statements_.size() >= kMaxCachedStatements) {
            statements_.clear();
        }
        sqlite3_stmt* raw = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
        if (rc != SQLITE_OK) {
            fail(rc, sql);
        }
        found = statements_.emplace(std::string(sql), Statement(raw)).first;
    }
    sqlite3_stmt* statement = found->second.get();
    for (size_t i = 0; i < params.size(); ++i) {
        const int index = static_cast<int>(i + 1);
        int rc = SQLITE_OK;
        if (const auto* number = std::get_if<int64_t>(&params[i])) {
            rc = sqlite3_bind_int64(statement, index, *number);
        } else if (const auto* text = std::get_if<std::string>(&params[i])) {
            rc = sqlite3_bind_text64(statement, index, text->data(), text->size(), SQLITE_STATIC,
                                     SQLITE_UTF8);
        } else {
            rc = sqlite3_bind_null(statement, index);
        }
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(statement);
            fail(rc, sql);
        }
    }
    return statement;
}

int64_t SqliteConnection::execute(std::string_view sql, const SqlParams& params) {
    sqlite3_stmt* statement = prepare(sql, params);
    ResetOnExit reset{statement};
    int rc = SQLITE_ROW;
    while (rc == SQLITE_ROW) {
        rc = sqlite3_step(statement);
    }
    if (rc != SQLITE_DONE) {
        fail(rc, sql);
    }
    return sqlite3_changes64(db_);
}

std::vector<SqlRow> SqliteConnection::query(std::string_view sql, const SqlParams& params) {
    sqlite3_stmt* statement = prepare(sql, params);
    ResetOnExit reset{statement};
    std::vector<SqlRow> rows;
    const int columns = sqlite3_column_count(statement);
    for (;;) {
        const int rc = sqlite3_step(statement);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            fail(rc, sql);
        }
        std::vector<SqlValue> values;
        values.reserve(static_cast<size_t>(columns));
        for (int column = 0; column < columns; ++column) {
            switch (sqlite3_column_type(statement, column)) {
                case SQLITE_NULL:
                    values.emplace_back(std::monostate{});
                    break;
                case SQLITE_INTEGER:
                case SQLITE_FLOAT:
                    values.emplace_back(
                        static_cast<int64_t>(sqlite3_column_int64(statement, column)));
                    break;
                default: {
                    const auto* text =
                        reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
                    const int size = sqlite3_column_bytes(statement, column);
                    values.emplace_back(std::string(text, static_cast<size_t>(size)));
                }
            }
        }
        rows.emplace_back(std::move(values));
    }
    return rows;
}

void SqliteConnection::executeScript(std::string_view script) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, std::string(script).c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        std::string message = error != nullptr ? error : sqlite3_errstr(rc);
        sqlite3_free(error);
        fail(rc, message + " in: " + std::string(script));
    }
}

}  // namespace parley::store
