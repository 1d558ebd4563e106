#include "store/SqliteBackup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

namespace parley::store {

namespace {

struct CloseDatabase {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;

Database open(const std::string& path, int flags, const char* role) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    Database db(raw);
    if (rc != SQLITE_OK) {
        throw BackupError(std::string("cannot open the ") + role + " " + path + ": " +
                          (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(raw, 5000);
    return db;
}

int64_t integerOf(sqlite3* db, const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) {
        throw BackupError(std::string("backup check failed: ") + sqlite3_errmsg(db));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> finalize(statement, sqlite3_finalize);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        throw BackupError(std::string("backup check failed: ") + sqlite3_errmsg(db));
    }
    return sqlite3_column_int64(statement, 0);
}

std::string textOf(sqlite3* db, const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) {
        throw BackupError(std::string("backup check failed: ") + sqlite3_errmsg(db));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> finalize(statement, sqlite3_finalize);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        throw BackupError(std::string("backup check failed: ") + sqlite3_errmsg(db));
    }
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    return text != nullptr ? text : "";
}

void syncPath(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        throw BackupError("cannot sync " + path + " to disk");
    }
    ::close(fd);
}

}  // namespace

BackupSummary backupSqlite(const std::string& source, const std::string& destination) {
    namespace fs = std::filesystem;
    std::error_code ignored;
    if (fs::exists(destination, ignored)) {
        throw BackupError(destination + " exists already; give a new file name");
    }
    const std::string partial = destination + ".partial";
    fs::remove(partial, ignored);  // left by a backup that was interrupted
    struct RemoveUnlessDone {
        const std::string& path;
        bool done = false;
        ~RemoveUnlessDone() {
            if (!done) {
                std::error_code ignoredHere;
                std::filesystem::remove(path, ignoredHere);
            }
        }
    } cleanup{partial};

    // Read-write without create: a wrong path fails instead of backing up a new empty file.
    Database from = open(source, SQLITE_OPEN_READWRITE, "database");
    Database to = open(partial, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "backup file");
    {
        sqlite3_backup* backup = sqlite3_backup_init(to.get(), "main", from.get(), "main");
        if (backup == nullptr) {
            throw BackupError(std::string("cannot start the backup: ") + sqlite3_errmsg(to.get()));
        }
        // -1: every page in one step, so one snapshot (see the header). BUSY only while another
        // connection holds an exclusive lock (a checkpoint truncating the log): wait and retry.
        int rc = SQLITE_OK;
        for (int attempt = 0; attempt < 600; ++attempt) {
            rc = sqlite3_backup_step(backup, -1);
            if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        sqlite3_backup_finish(backup);
        if (rc != SQLITE_DONE) {
            throw BackupError(std::string("backup failed: ") + sqlite3_errstr(rc));
        }
    }
    from.reset();

    const std::string check = textOf(to.get(), "PRAGMA quick_check");
    if (check != "ok") {
        throw BackupError("the backup does not pass PRAGMA quick_check: " + check);
    }
    BackupSummary summary;
    summary.schemaVersion =
        integerOf(to.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    summary.conversations = integerOf(to.get(), "SELECT COUNT(*) FROM conversations");
    summary.messages = integerOf(to.get(), "SELECT COUNT(*) FROM messages");
    // The copy is a WAL database like its source: fold anything the checks left in its log back
    // into the file, so the backup is this one file.
    if (sqlite3_exec(to.get(), "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
        throw BackupError(std::string("cannot finish the backup file: ") +
                          sqlite3_errmsg(to.get()));
    }
    to.reset();

    syncPath(partial, O_RDONLY);
    fs::rename(partial, destination);
    cleanup.done = true;
    const fs::path folder = fs::absolute(destination).parent_path();
    syncPath(folder.string(), O_RDONLY | O_DIRECTORY);
    summary.bytes = static_cast<int64_t>(fs::file_size(destination));
    return summary;
}

}  // namespace parley::store
