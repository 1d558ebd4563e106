#include "store/SqlStore.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "store/SqlStoreTransaction.h"

namespace parley::store {

namespace {

// Messages stored together at most (see AppendBatcher). A batch holds at most one message per
// worker, and with batches_in_flight 1 the workers fall into two halves that take turns (one
// half delivers while the other is stored): 64 workers made batches of about 25.
constexpr size_t kMaxAppendBatch = 32;

}  // namespace

SqlStore::SqlStore(const SqlDialect& dialect, ConnectionPool::Factory factory, size_t poolSize,
                   size_t appendBatchesInFlight, int64_t retryForMs)
    : dialect_(dialect),
      pool_(std::move(factory), poolSize),
      retryForMs_(retryForMs),
      search_(dialect.fullText),
      appender_(std::min(appendBatchesInFlight, std::max<size_t>(1, poolSize)), kMaxAppendBatch,
                [this](const std::vector<const NewMessage*>& batch,
                       std::chrono::steady_clock::time_point since) {
                    const auto started = std::chrono::steady_clock::now();
                    auto results = appendBatch(batch, since);
                    if (StoreObserver* observer = observer_.load(std::memory_order_acquire)) {
                        observer->appendBatch(batch.size(),
                                              std::chrono::steady_clock::now() - started);
                    }
                    return results;
                }) {}

void SqlStore::setObserver(StoreObserver* observer) {
    observer_.store(observer, std::memory_order_release);
}

// After a batch's COMMIT on a Galera node: every message the batch stored as new is there, at
// its seq, or the batch is run again (nothing of it was committed: its rows go in one INSERT).
// Seen on MariaDB 10.11 with Galera 4 and several writers: a transaction aborted by a replicated
// write set was not reported, and a later statement of the batch began a new transaction that
// COMMIT then committed, without the messages (tests/integration/GaleraTest.cpp, multi_writer).
void SqlStore::confirmStored(SqlConnection& db, const std::vector<AppendResult>& results) {
    std::string sql = "SELECT sender, cmid, conv, seq FROM messages WHERE ";
    SqlParams params;
    for (const auto& result : results) {
        if (result.access == Access::Member && !result.duplicate) {
            sql += params.empty() ? "(sender = ? AND cmid = ?)" : " OR (sender = ? AND cmid = ?)";
            params.emplace_back(result.message.sender);
            params.emplace_back(result.message.cmid);
        }
    }
    if (params.empty()) {
        return;
    }
    const auto rows = db.query(sql, params);
    db.rollback();  // ends the read: it must not become the start of the next transaction
    size_t missing = 0;
    for (const auto& result : results) {
        if (result.access != Access::Member || result.duplicate) {
            continue;
        }
        const bool found = std::any_of(rows.begin(), rows.end(), [&](const SqlRow& row) {
            return row.text(0) == result.message.sender && row.text(1) == result.message.cmid &&
                   row.text(2) == result.message.conv && row.integer(3) == result.message.seq;
        });
        missing += found ? 0 : 1;
    }
    if (missing > 0) {
        spdlog::warn(
            "store: a batch's COMMIT succeeded but {} of its messages are not stored (a Galera "
            "conflict abort that was not reported); running it again",
            missing);
        throw SqlError(SqlError::Kind::Retryable, "messages missing after COMMIT");
    }
}

std::string SqlStore::insertIgnore(const std::string& rest) const {
    return dialect_.insertIgnore + " " + rest;
}

int SqlStore::migrate() {
    const int target = static_cast<int>(dialect_.migrations.size());
    return transaction("migrate", Mode::Write, [&](SqlConnection& db) {
        // DDL commits implicitly on MySQL, so each step records itself right after it runs, and
        // a named lock keeps two starting instances from running the same step.
        if (!dialect_.lockMigrations.empty()) {
            try {
                db.query(dialect_.lockMigrations, {});
            } catch (const SqlError& error) {
                // Galera refuses GET_LOCK (MariaDB 10.4.28+ with wsrep_on: error 1235). Without
                // the lock, instances must not migrate at once: start one first after upgrades.
                if (error.kind() != SqlError::Kind::Other) {
                    throw;
                }
                spdlog::warn(
                    "store: migrating without the migration lock ({}); start one "
                    "instance first after an upgrade",
                    error.what());
            }
        }
        struct Unlock {
            SqlConnection& db;
            const SqlDialect& dialect;
            ~Unlock() {
                if (!dialect.unlockMigrations.empty()) {
                    try {
                        db.query(dialect.unlockMigrations, {});
                    } catch (const SqlError&) {
                        // The lock dies with the connection anyway.
                    }
                }
            }
        } unlock{db, dialect_};
        db.executeScript(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
            "applied_at BIGINT NOT NULL)");
        auto rows = db.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {});
        int current = static_cast<int>(rows.at(0).integer(0));
        if (current > target) {
            throw SqlError(SqlError::Kind::Other,
                           "the database schema is at version " + std::to_string(current) +
                               ", newer than this parleyd knows (" + std::to_string(target) +
                               "); upgrade parleyd");
        }
        for (int version = current + 1; version <= target; ++version) {
            spdlog::info("store: applying {} schema migration {}", dialect_.name, version);
            db.executeScript(dialect_.migrations[static_cast<size_t>(version - 1)]);
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                       {int64_t{version}, int64_t{now}});
            db.commit();
            db.beginWrite();
        }
        return target;
    });
}

void SqlStore::flushErasedText(const std::string& what) {
    if (dialect_.afterErase.empty()) {
        return;
    }
    try {
        auto lease = pool_.acquire();
        const auto rows = lease->query(dialect_.afterErase, {});
        if (!rows.empty() && rows[0].integer(0) != 0) {
            spdlog::warn(
                "store: {}, but a reader kept the write-ahead log from being emptied: the "
                "old "
                "text stays in it until the next checkpoint",
                what);
        }
    } catch (const SqlError& error) {
        spdlog::warn("store: {}, but emptying the write-ahead log failed: {}", what, error.what());
    }
}

void SqlStore::ping() {
    readOnce("ping", [](SqlConnection& db) { return db.query("SELECT 1", {}).size(); });
}

PresenceCounts SqlStore::presenceCounts() {
    return readOnce("presenceCounts", [](SqlConnection& db) {
        PresenceCounts counts;
        for (const auto& row : db.query("SELECT state, COUNT(*) FROM users GROUP BY state", {})) {
            const std::string state = row.text(0);
            (state == "online" ? counts.online
             : state == "away" ? counts.away
                               : counts.offline) += row.integer(1);
        }
        return counts;
    });
}

}  // namespace parley::store
