#include "store/SqlStore.h"

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

std::optional<std::string> SqlStore::kvGet(const std::string& extension, const std::string& key,
                                           int64_t now) {
    return transaction("kvGet", Mode::Read, [&](SqlConnection& db) {
        auto rows = db.query(
            "SELECT v FROM extension_kv WHERE extension = ? AND k = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            {extension, key, now});
        std::optional<std::string> value;
        if (!rows.empty()) {
            value = rows[0].text(0);
        }
        return value;
    });
}

void SqlStore::kvSet(const std::string& extension, const std::string& key, const std::string& value,
                     std::optional<int64_t> expiresAt, int64_t now) {
    transaction("kvSet", Mode::Write, [&](SqlConnection& db) {
        const SqlValue expiry = expiresAt ? SqlValue(*expiresAt) : sqlNull();
        const auto updated = db.execute(
            "UPDATE extension_kv SET v = ?, expires_at = ?, updated_at = ? "
            "WHERE extension = ? AND k = ?",
            {value, expiry, now, extension, key});
        if (updated == 0) {
            db.execute(insertIgnore("extension_kv (extension, k, v, expires_at, updated_at) "
                                    "VALUES (?, ?, ?, ?, ?)"),
                       {extension, key, value, expiry, now});
        }
        return true;
    });
}

bool SqlStore::kvDelete(const std::string& extension, const std::string& key) {
    return transaction("kvDelete", Mode::Write, [&](SqlConnection& db) {
        return db.execute("DELETE FROM extension_kv WHERE extension = ? AND k = ?",
                          {extension, key}) > 0;
    });
}

int64_t SqlStore::kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                         std::optional<int64_t> expiresAt, int64_t now) {
    return transaction("kvIncr", Mode::Write, [&](SqlConnection& db) {
        const SqlValue expiry = expiresAt ? SqlValue(*expiresAt) : sqlNull();
        db.execute(insertIgnore("extension_kv (extension, k, v, expires_at, updated_at) "
                                "VALUES (?, ?, '0', ?, ?)"),
                   {extension, key, expiry, now});
        auto rows = db.query("SELECT v, expires_at FROM extension_kv WHERE extension = ? AND k = ?",
                             {extension, key});
        const std::string old = rows.at(0).text(0);
        const bool expired = !rows[0].isNull(1) && rows[0].integer(1) <= now;
        int64_t current = 0;
        if (!expired) {
            try {
                current = std::stoll(old);
            } catch (const std::exception&) {
                current = 0;  // not a number: counting starts again
            }
        }
        const int64_t next = current + delta;
        // Compare-and-set: a concurrent increment elsewhere makes this affect no row, and
        // the transaction runs again.
        const auto updated = db.execute(
            std::string("UPDATE extension_kv SET v = ?, updated_at = ?") +
                (expired ? ", expires_at = ?" : "") + " WHERE extension = ? AND k = ? AND v = ?",
            expired ? SqlParams{std::to_string(next), now, expiry, extension, key, old}
                    : SqlParams{std::to_string(next), now, extension, key, old});
        if (updated == 0) {
            throw SqlError(SqlError::Kind::Retryable, "concurrent increment");
        }
        return next;
    });
}

std::vector<std::pair<std::string, std::string>> SqlStore::kvList(const std::string& extension,
                                                                  const std::string& prefix,
                                                                  int limit, int64_t now,
                                                                  const std::string& after) {
    return transaction("kvList", Mode::Read, [&](SqlConnection& db) {
        // Keys are compared as bytes on both backends (SQLite's default, MySQL's
        // utf8mb4_bin).
        auto rows = after.empty() || after < prefix
                        ? db.query(
                              "SELECT k, v FROM extension_kv WHERE extension = ? AND k >= ? "
                              "AND (expires_at IS NULL OR expires_at > ?) ORDER BY k LIMIT ?",
                              {extension, prefix, now, int64_t{limit}})
                        : db.query(
                              "SELECT k, v FROM extension_kv WHERE extension = ? AND k > ? "
                              "AND (expires_at IS NULL OR expires_at > ?) ORDER BY k LIMIT ?",
                              {extension, after, now, int64_t{limit}});
        std::vector<std::pair<std::string, std::string>> found;
        for (const auto& row : rows) {
            std::string key = row.text(0);
            if (key.compare(0, prefix.size(), prefix) != 0) {
                break;  // ordered by key: past the prefix
            }
            found.emplace_back(std::move(key), row.text(1));
            if (found.size() >= static_cast<size_t>(limit)) {
                break;
            }
        }
        return found;
    });
}

int SqlStore::kvPurgeExpired(int64_t now, int limit) {
    return transaction("kvPurgeExpired", Mode::Write, [&](SqlConnection& db) {
        auto rows = db.query(
            "SELECT extension, k FROM extension_kv WHERE expires_at IS NOT NULL AND "
            "expires_at <= "
            "? "
            "LIMIT ?",
            {now, int64_t{limit}});
        int purged = 0;
        for (const auto& row : rows) {
            purged +=
                static_cast<int>(db.execute("DELETE FROM extension_kv WHERE extension = ? "
                                            "AND k = ? AND expires_at <= ?",
                                            {row.text(0), row.text(1), now}));
        }
        return purged;
    });
}

}  // namespace parley::store
