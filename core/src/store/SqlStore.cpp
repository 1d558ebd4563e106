#include "store/SqlStore.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <type_traits>
#include <variant>

namespace parley::store {

namespace {

constexpr const char* kConversationColumns =
    "c.id, c.kind, c.title, c.ctx_type, c.ctx_id, c.ctx_title, c.created_by, c.created_at, "
    "c.last_seq, c.last_activity, c.ctx_status, c.rev";
constexpr size_t kConversationColumnCount = 12;
// Messages stored together at most (see AppendBatcher); parleyd's workers bound it in practice.
constexpr size_t kMaxAppendBatch = 32;
constexpr const char* kMessageColumns =
    "conv, seq, sender, cmid, body, meta, ts, erased_at, rev, edited_at, deleted_by, reply_to, "
    "attachments";
// The same, of messages joined as m.
constexpr const char* kMessageColumnsOfM =
    "m.conv, m.seq, m.sender, m.cmid, m.body, m.meta, m.ts, m.erased_at, m.rev, m.edited_at, "
    "m.deleted_by, m.reply_to, m.attachments";
// The one way text leaves a stored message (admin.user.erase, msg.delete): overwritten in the
// row, not flagged, so with SQLite's secure_delete (and the write-ahead log emptied after) it
// leaves the file. The attachments go with it, which is how their files lose this reference
// (docs/attachments.md). Its one parameter is the time.
constexpr const char* kEraseText = "body = '', meta = NULL, attachments = NULL, erased_at = ?";
// The columns of the last message that summaries join as lm.
constexpr const char* kLastMessageColumns =
    ", lm.sender, lm.cmid, lm.body, lm.meta, lm.ts, lm.erased_at, lm.deleted_by, lm.attachments";

ConversationRecord readConversation(const SqlRow& row) {
    ConversationRecord record;
    record.id = row.text(0);
    record.kind = row.text(1) == "group" ? ConversationKind::Group : ConversationKind::Direct;
    record.title = row.optionalText(2);
    if (!row.isNull(3)) {
        record.context =
            ContextRef{row.text(3), row.text(4), row.optionalText(5), row.optionalText(10)};
    }
    record.createdBy = row.text(6);
    record.createdAt = row.integer(7);
    record.lastSeq = row.integer(8);
    record.lastActivity = row.integer(9);
    record.rev = row.integer(11);
    return record;
}

// Reads the last message columns (kLastMessageColumns) that follow at `offset`.
void readLastMessage(const SqlRow& row, size_t offset, ConversationRecord& record) {
    if (row.isNull(offset)) {
        return;
    }
    MessageRecord message;
    message.conv = record.id;
    message.seq = record.lastSeq;
    message.sender = row.text(offset);
    message.cmid = row.text(offset + 1);
    message.body = row.text(offset + 2);
    message.metaJson = row.optionalText(offset + 3);
    message.ts = row.integer(offset + 4);
    message.deletedBy = row.optionalText(offset + 6);
    message.erased = !row.isNull(offset + 5) && !message.deletedBy;
    message.attachmentsJson = row.optionalText(offset + 7);
    record.lastMessage = std::move(message);
}

MessageRecord readMessage(const SqlRow& row) {
    MessageRecord message{row.text(0), row.integer(1),      row.text(2),    row.text(3),
                          row.text(4), row.optionalText(5), row.integer(6), false};
    message.rev = row.integer(8);
    if (!row.isNull(9)) {
        message.editedAt = row.integer(9);
    }
    message.deletedBy = row.optionalText(10);
    // Both kinds of tombstone have erased_at; only a deletion names who deleted it.
    if (!row.isNull(7)) {
        if (message.deletedBy) {
            message.deletedAt = row.integer(7);
        } else {
            message.erased = true;
        }
    }
    if (!row.isNull(11)) {
        message.replyTo = row.integer(11);
    }
    message.attachmentsJson = row.optionalText(12);
    return message;
}

std::string placeholders(size_t count) {
    std::string list;
    for (size_t i = 0; i < count; ++i) {
        list += i == 0 ? "?" : ", ?";
    }
    return list;
}

// A member's own settings, in the columns muted, archived, pinned_at from `offset`.
MemberSettings settingsOf(const SqlRow& row, size_t offset) {
    MemberSettings settings;
    settings.muted = row.integer(offset) != 0;
    settings.archived = row.integer(offset + 1) != 0;
    if (!row.isNull(offset + 2)) {
        settings.pinnedAt = row.integer(offset + 2);
    }
    return settings;
}

// Whether `reader` (the condition's one parameter), a current member, may read the message
// aliased `messages`: VisibleRange's rule for a member (from the seq they may read from, which
// visibleRange() and visibleSeqClause() apply to one conversation for msg.history), in SQL for
// many conversations at once (msg.search). Former members search nothing. The two change
// together.
std::string readableBy(const std::string& messages) {
    return "EXISTS (SELECT 1 FROM members rm WHERE rm.conv = " + messages +
           ".conv AND rm.uid = ? AND " + messages + ".seq >= rm.visible_from)";
}

PresenceState parseState(const std::string& text) {
    if (text == "online") {
        return PresenceState::Online;
    }
    if (text == "away") {
        return PresenceState::Away;
    }
    return PresenceState::Offline;
}

// Conversation, members with their watermarks, and the asking user's, in one query.
struct ViewRows {
    bool exists = false;
    int64_t lastSeq = 0;
    ConversationKind kind = ConversationKind::Direct;
    std::optional<ContextRef> context;
    std::vector<MemberInfo> members;
    std::optional<int64_t> readSeq;  // set when uid is a member

    bool hasMember(const std::string& uid) const {
        return std::any_of(members.begin(), members.end(),
                           [&](const MemberInfo& member) { return member.uid == uid; });
    }

    std::vector<std::string> memberIds() const {
        std::vector<std::string> ids;
        ids.reserve(members.size());
        for (const auto& member : members) {
            ids.push_back(member.uid);
        }
        return ids;
    }
};

ViewRows loadView(SqlConnection& db, const std::string& conv, const std::string& uid) {
    ViewRows view;
    auto rows = db.query(
        "SELECT c.last_seq, m.uid, m.read_seq, c.kind, c.ctx_type, c.ctx_id, c.ctx_title, "
        "c.ctx_status FROM conversations c LEFT JOIN members m ON m.conv = c.id WHERE c.id = ? "
        "ORDER BY m.joined_at, m.uid",
        {conv});
    for (const auto& row : rows) {
        if (!view.exists) {
            view.kind = row.text(3) == "group" ? ConversationKind::Group : ConversationKind::Direct;
            if (!row.isNull(4)) {
                view.context =
                    ContextRef{row.text(4), row.text(5), row.optionalText(6), row.optionalText(7)};
            }
        }
        view.exists = true;
        view.lastSeq = row.integer(0);
        if (row.isNull(1)) {
            continue;
        }
        view.members.push_back(MemberInfo{row.text(1), {}, row.integer(2)});
        if (view.members.back().uid == uid) {
            view.readSeq = view.members.back().readSeq;
        }
    }
    return view;
}

// Lists in batch statements are padded to a power of two by repeating their last entry, so a
// few statement shapes cover every batch size and stay in the prepared-statement cache.
size_t paddedSize(size_t count) {
    size_t padded = 1;
    while (padded < count) {
        padded *= 2;
    }
    return padded;
}

// Several conversations with their members, in one query; `suffix` may lock the rows read.
std::map<std::string, ViewRows> loadViews(SqlConnection& db, std::vector<std::string> convs,
                                          const std::string& suffix) {
    std::sort(convs.begin(), convs.end());
    convs.erase(std::unique(convs.begin(), convs.end()), convs.end());
    SqlParams params(convs.begin(), convs.end());
    params.resize(paddedSize(convs.size()), params.back());
    auto rows = db.query(
        "SELECT c.id, c.last_seq, m.uid, m.read_seq, c.kind, c.ctx_type, c.ctx_id, c.ctx_title, "
        "c.ctx_status FROM conversations c LEFT JOIN members m ON m.conv = c.id WHERE c.id IN (" +
            placeholders(params.size()) + ") ORDER BY c.id, m.joined_at, m.uid" + suffix,
        params);
    std::map<std::string, ViewRows> views;
    for (const auto& row : rows) {
        ViewRows& view = views[row.text(0)];
        if (!view.exists) {
            view.exists = true;
            view.lastSeq = row.integer(1);
            view.kind = row.text(4) == "group" ? ConversationKind::Group : ConversationKind::Direct;
            if (!row.isNull(5)) {
                view.context =
                    ContextRef{row.text(5), row.text(6), row.optionalText(7), row.optionalText(8)};
            }
        }
        if (!row.isNull(2)) {
            view.members.push_back(MemberInfo{row.text(2), {}, row.integer(3)});
        }
    }
    return views;
}

// Unread messages over all conversations of each of `uids` (those with none may be absent).
std::map<std::string, int64_t> sumUnread(SqlConnection& db, const std::vector<std::string>& uids) {
    std::map<std::string, int64_t> totals;
    if (uids.empty()) {
        return totals;
    }
    SqlParams params(uids.begin(), uids.end());
    params.resize(paddedSize(uids.size()), params.back());
    // A muted conversation keeps its own unread count but is no part of the total (the badge).
    for (const auto& row :
         db.query("SELECT m.uid, SUM(c.last_seq - m.read_seq) FROM members m "
                  "JOIN conversations c ON c.id = m.conv WHERE m.uid IN (" +
                      placeholders(params.size()) + ") AND m.muted = 0 GROUP BY m.uid",
                  params)) {
        totals[row.text(0)] = row.integer(1);
    }
    return totals;
}

Access accessOf(const ViewRows& view) {
    if (!view.exists) {
        return Access::NoConversation;
    }
    return view.readSeq ? Access::Member : Access::NotMember;
}

MemberView memberViewOf(ViewRows view) {
    return MemberView{accessOf(view),           view.memberIds(), view.lastSeq,
                      view.readSeq.value_or(0), view.kind,        std::move(view.context)};
}

std::optional<MessageRecord> loadByCmid(SqlConnection& db, const std::string& sender,
                                        const std::string& cmid) {
    auto rows = db.query(
        std::string("SELECT ") + kMessageColumns + " FROM messages WHERE sender = ? AND cmid = ?",
        {sender, cmid});
    std::optional<MessageRecord> found;
    if (!rows.empty()) {
        found = readMessage(rows[0]);
    }
    return found;
}

// Fills the reactions and reply previews of messages of one conversation: one query each,
// whatever the page size.
void decorateMessages(SqlConnection& db, std::vector<MessageRecord>& messages) {
    if (messages.empty()) {
        return;
    }
    const std::string& conv = messages.front().conv;
    int64_t lowest = messages.front().seq;
    int64_t highest = lowest;
    std::set<int64_t> answered;
    for (const auto& message : messages) {
        lowest = std::min(lowest, message.seq);
        highest = std::max(highest, message.seq);
        if (message.replyTo) {
            answered.insert(*message.replyTo);
        }
    }
    std::map<int64_t, MessageRecord*> bySeq;
    for (auto& message : messages) {
        bySeq[message.seq] = &message;
    }
    // A range, not a list: a history page is contiguous; msg.changes pages are not, and the
    // few rows of messages outside the page are skipped here.
    for (const auto& row :
         db.query("SELECT seq, emoji, uid FROM message_reactions WHERE conv = ? AND seq >= ? AND "
                  "seq <= ? ORDER BY seq, ts, emoji, uid",
                  {conv, lowest, highest})) {
        auto found = bySeq.find(row.integer(0));
        if (found == bySeq.end()) {
            continue;
        }
        auto& reactions = found->second->reactions;
        const std::string emoji = row.text(1);
        auto same = std::find_if(reactions.begin(), reactions.end(),
                                 [&](const Reaction& reaction) { return reaction.emoji == emoji; });
        if (same == reactions.end()) {
            reactions.push_back(Reaction{emoji, {}});
            same = std::prev(reactions.end());
        }
        same->users.push_back(row.text(2));
    }
    if (answered.empty()) {
        return;
    }
    SqlParams params{conv};
    params.insert(params.end(), answered.begin(), answered.end());
    params.resize(paddedSize(answered.size()) + 1, params.back());
    std::map<int64_t, ReplyPreview> previews;
    for (const auto& row :
         db.query("SELECT seq, sender, body, erased_at, deleted_by FROM messages WHERE conv = ? "
                  "AND seq IN (" +
                      placeholders(params.size() - 1) + ")",
                  params)) {
        const bool deleted = !row.isNull(4);
        previews[row.integer(0)] = ReplyPreview{row.integer(0), row.text(1), row.text(2), deleted,
                                                !row.isNull(3) && !deleted};
    }
    for (auto& message : messages) {
        if (message.replyTo) {
            auto found = previews.find(*message.replyTo);
            if (found != previews.end()) {
                message.replyPreview = found->second;
            }
        }
    }
}

std::optional<MessageRecord> loadMessage(SqlConnection& db, const std::string& conv, int64_t seq) {
    auto rows = db.query(
        std::string("SELECT ") + kMessageColumns + " FROM messages WHERE conv = ? AND seq = ?",
        {conv, seq});
    if (rows.empty()) {
        return std::nullopt;
    }
    std::vector<MessageRecord> one{readMessage(rows[0])};
    decorateMessages(db, one);
    return std::move(one[0]);
}

MemberChangeKind parseMemberChangeKind(const std::string& text) {
    for (auto kind : {MemberChangeKind::Joined, MemberChangeKind::Removed, MemberChangeKind::Left,
                      MemberChangeKind::Admin, MemberChangeKind::Renamed}) {
        if (text == memberChangeKindName(kind)) {
            return kind;
        }
    }
    throw SqlError(SqlError::Kind::Other, "unknown membership change kind " + text);
}

// A row of "SELECT conv, rev, kind, uid, actor, seq, ts, title FROM member_changes".
MemberChange readMemberChange(const SqlRow& row) {
    return MemberChange{row.text(0),    row.integer(1),     parseMemberChangeKind(row.text(2)),
                        row.text(3),    row.text(4),        row.integer(5),
                        row.integer(6), row.optionalText(7)};
}

// Why a reader with no visible range reads nothing.
Access readerWithoutRange(SqlConnection& db, const std::string& conv) {
    return db.query("SELECT 1 FROM conversations WHERE id = ?", {conv}).empty()
               ? Access::NoConversation
               : Access::NotMember;
}

}  // namespace

std::optional<VisibleRange> visibleRange(SqlConnection& db, const std::string& conv,
                                         const std::string& uid) {
    auto rows = db.query("SELECT visible_from, joined_rev FROM members WHERE conv = ? AND uid = ?",
                         {conv, uid});
    if (!rows.empty()) {
        return VisibleRange{rows[0].integer(0), rows[0].integer(1)};
    }
    rows = db.query(
        "SELECT visible_from, joined_rev, visible_to, left_rev FROM former_members "
        "WHERE conv = ? AND uid = ?",
        {conv, uid});
    if (!rows.empty()) {
        return VisibleRange{rows[0].integer(0), rows[0].integer(1), rows[0].integer(2),
                            rows[0].integer(3)};
    }
    return std::nullopt;
}

std::string visibleSeqClause(const VisibleRange& range, const std::string& seqColumn,
                             SqlParams& params) {
    std::string clause = " AND " + seqColumn + " >= ?";
    params.emplace_back(range.fromSeq);
    if (range.toSeq) {
        clause += " AND " + seqColumn + " <= ?";
        params.emplace_back(*range.toSeq);
    }
    return clause;
}

std::string directConversationKey(const std::string& first, const std::string& second,
                                  const std::optional<ContextRef>& context) {
    const auto& low = std::min(first, second);
    const auto& high = std::max(first, second);
    std::string key = low + "|" + high;
    if (context) {
        key += "|" + context->type + "|" + context->id;
    }
    return key;
}

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

template <typename Call>
auto SqlStore::observed(const char* method, Call&& call) {
    StoreObserver* observer = observer_.load(std::memory_order_acquire);
    if (observer == nullptr) {
        return call();
    }
    struct Report {
        StoreObserver& observer;
        const char* method;
        std::chrono::steady_clock::time_point started;
        bool failed = true;  // until the call returned
        ~Report() {
            observer.storeCall(method, std::chrono::steady_clock::now() - started, failed);
        }
    } report{*observer, method, std::chrono::steady_clock::now()};
    if constexpr (std::is_void_v<decltype(call())>) {
        call();
        report.failed = false;
    } else {
        auto result = call();
        report.failed = false;
        return result;
    }
}

template <typename Work>
auto SqlStore::attempt(Mode mode, Work&& work) {
    auto lease = pool_.acquire();
    try {
        if (mode == Mode::Write) {
            lease->beginWrite();
        } else {
            lease->beginRead();
        }
        auto result = work(*lease);
        if constexpr (std::is_same_v<decltype(result), BatchAttempt>) {
            if (std::holds_alternative<ResendFound>(result)) {
                lease->rollback();  // it wrote nothing worth keeping
                return result;
            }
        }
        lease->commit();
        if constexpr (std::is_same_v<decltype(result), BatchAttempt>) {
            if (lease->commitNeedsConfirmation()) {
                confirmStored(*lease, std::get<std::vector<AppendResult>>(result));
            }
        }
        return result;
    } catch (const SqlError& error) {
        lease->rollback();
        if (error.kind() == SqlError::Kind::ConnectionLost) {
            lease.discard();
        }
        throw;
    } catch (...) {
        lease->rollback();
        throw;
    }
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

template <typename Work>
auto SqlStore::transaction(const char* what, Mode mode, Work&& work) {
    return observed(
        what, [&] { return transaction(what, mode, std::chrono::steady_clock::now(), work); });
}

template <typename Work>
auto SqlStore::transaction(const char* what, Mode mode, std::chrono::steady_clock::time_point since,
                           Work&& work) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = since + std::chrono::milliseconds(retryForMs_);
    auto backoff = std::chrono::milliseconds(20);
    for (int attempt = 1;; ++attempt) {
        try {
            return this->attempt(mode, work);
        } catch (const SqlError& error) {
            const bool retryable = error.kind() == SqlError::Kind::Retryable ||
                                   error.kind() == SqlError::Kind::ConnectionLost;
            if (!retryable) {
                throw;
            }
            if (Clock::now() + backoff > deadline) {
                spdlog::error("store: {} failed after {} attempts: {}", what, attempt,
                              error.what());
                throw StoreUnavailable(std::string(what) + ": " + error.what());
            }
            // Busy or deadlocked transactions retry quietly; a lost database is worth a warning.
            if (error.kind() == SqlError::Kind::ConnectionLost &&
                (attempt == 1 || attempt % 10 == 0)) {
                spdlog::warn("store: {} attempt {} failed, retrying: {}", what, attempt,
                             error.what());
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
}

template <typename Work>
auto SqlStore::readOnce(const char* what, Work&& work) {
    try {
        return attempt(Mode::Read, work);
    } catch (const SqlError& error) {
        throw StoreUnavailable(std::string(what) + ": " + error.what());
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

std::optional<ConversationRecord> SqlStore::loadConversation(SqlConnection& db,
                                                             const std::string& conv) {
    auto rows = db.query(std::string("SELECT ") + kConversationColumns + kLastMessageColumns +
                             " FROM conversations c "
                             "LEFT JOIN messages lm ON lm.conv = c.id AND lm.seq = c.last_seq "
                             "WHERE c.id = ?",
                         {conv});
    if (rows.empty()) {
        return std::nullopt;
    }
    std::vector<ConversationRecord> one{readConversation(rows[0])};
    readLastMessage(rows[0], kConversationColumnCount, one[0]);
    attachMembers(db, one);
    return std::move(one[0]);
}

void SqlStore::attachMembers(SqlConnection& db, std::vector<ConversationRecord>& conversations) {
    if (conversations.empty()) {
        return;
    }
    SqlParams ids;
    std::map<std::string, ConversationRecord*> byId;
    for (auto& conversation : conversations) {
        ids.emplace_back(conversation.id);
        byId[conversation.id] = &conversation;
    }
    auto rows = db.query(
        "SELECT m.conv, m.uid, COALESCE(u.name, ''), m.read_seq, m.muted, m.archived, "
        "m.pinned_at, m.role FROM members m LEFT JOIN users u ON u.uid = m.uid WHERE m.conv IN (" +
            placeholders(ids.size()) + ") ORDER BY m.conv, m.joined_at, m.uid",
        ids);
    for (const auto& row : rows) {
        auto found = byId.find(row.text(0));
        if (found != byId.end()) {
            found->second->members.push_back(MemberInfo{row.text(1), row.text(2), row.integer(3),
                                                        settingsOf(row, 4),
                                                        row.text(7) == "admin"});
        }
    }
}

std::optional<ConversationRecord> SqlStore::findDirect(const std::string& first,
                                                       const std::string& second,
                                                       const std::optional<ContextRef>& context) {
    const std::string key = directConversationKey(first, second, context);
    return transaction("findDirect", Mode::Read, [&](SqlConnection& db) {
        auto rows = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
        std::optional<ConversationRecord> found;
        if (!rows.empty()) {
            found = loadConversation(db, rows[0].text(0));
        }
        return found;
    });
}

OpenDirectResult SqlStore::openDirect(const std::string& initiator, const std::string& peer,
                                      const std::optional<ContextRef>& context,
                                      const std::string& newId, int64_t now) {
    const std::string key = directConversationKey(initiator, peer, context);
    return transaction("openDirect", Mode::Write, [&](SqlConnection& db) {
        auto existing = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
        std::string id;
        if (existing.empty()) {
            db.execute(insertIgnore("conversations (id, kind, title, direct_key, ctx_type, ctx_id, "
                                    "ctx_title, created_by, created_at, last_seq, last_activity) "
                                    "VALUES (?, 'direct', NULL, ?, ?, ?, ?, ?, ?, 0, ?)"),
                       {newId, key, context ? SqlValue(context->type) : sqlNull(),
                        context ? SqlValue(context->id) : sqlNull(),
                        context ? sqlOptional(context->title) : sqlNull(), initiator, now, now});
            // Another instance may have won the race for this pair: take whatever is there now.
            existing = db.query("SELECT id FROM conversations WHERE direct_key = ?", {key});
            if (existing.empty()) {
                throw SqlError(SqlError::Kind::Retryable, "direct conversation vanished");
            }
        }
        id = existing[0].text(0);
        const bool created = id == newId;
        if (created) {
            for (const auto* uid : {&initiator, &peer}) {
                db.execute(insertIgnore("members (conv, uid, read_seq, joined_at) "
                                        "VALUES (?, ?, 0, ?)"),
                           {id, *uid, now});
            }
        }
        auto record = loadConversation(db, id);
        if (!record) {
            throw SqlError(SqlError::Kind::Retryable, "direct conversation vanished");
        }
        return OpenDirectResult{std::move(*record), created};
    });
}

ConversationRecord SqlStore::createGroup(const std::string& creator,
                                         const std::vector<std::string>& members,
                                         const std::optional<std::string>& title,
                                         const std::string& newId, int64_t now) {
    return transaction("createGroup", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("conversations (id, kind, title, direct_key, ctx_type, ctx_id, "
                                "ctx_title, created_by, created_at, last_seq, last_activity) "
                                "VALUES (?, 'group', ?, NULL, NULL, NULL, NULL, ?, ?, 0, ?)"),
                   {newId, sqlOptional(title), creator, now, now});
        // The creator is the group's first admin (docs/design.md, "Groups").
        for (const auto& uid : members) {
            db.execute(insertIgnore("members (conv, uid, read_seq, joined_at, role) "
                                    "VALUES (?, ?, 0, ?, ?)"),
                       {newId, uid, now, uid == creator ? "admin" : "member"});
        }
        auto record = loadConversation(db, newId);
        if (!record) {
            throw SqlError(SqlError::Kind::Other, "group conversation was not stored");
        }
        return std::move(*record);
    });
}

std::optional<ConversationRecord> SqlStore::conversation(const std::string& conv) {
    return transaction("conversation", Mode::Read,
                       [&](SqlConnection& db) { return loadConversation(db, conv); });
}

ConversationPage SqlStore::listConversations(const std::string& uid, int limit,
                                             const std::optional<ListCursor>& before,
                                             const std::optional<ContextRef>& context) {
    return transaction("listConversations", Mode::Read, [&](SqlConnection& db) {
        std::string sql = std::string("SELECT ") + kConversationColumns + kLastMessageColumns +
                          " FROM members m JOIN conversations c ON c.id = m.conv "
                          "LEFT JOIN messages lm ON lm.conv = c.id AND lm.seq = c.last_seq "
                          "WHERE m.uid = ?";
        SqlParams params{uid};
        if (context) {
            sql += " AND c.ctx_type = ? AND c.ctx_id = ?";
            params.emplace_back(context->type);
            params.emplace_back(context->id);
        }
        if (before) {
            sql += " AND (c.last_activity < ? OR (c.last_activity = ? AND c.id < ?))";
            params.emplace_back(before->lastActivity);
            params.emplace_back(before->lastActivity);
            params.emplace_back(before->conv);
        }
        sql += " ORDER BY c.last_activity DESC, c.id DESC LIMIT ?";
        params.emplace_back(int64_t{limit} + 1);
        auto rows = db.query(sql, params);
        ConversationPage page;
        page.hasMore = rows.size() > static_cast<size_t>(limit);
        for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(limit); ++i) {
            page.conversations.push_back(readConversation(rows[i]));
            readLastMessage(rows[i], kConversationColumnCount, page.conversations.back());
        }
        attachMembers(db, page.conversations);
        return page;
    });
}

std::vector<std::string> SqlStore::updateContext(const std::string& type, const std::string& id,
                                                 const std::optional<std::string>& title,
                                                 const std::optional<std::string>& status) {
    return transaction("updateContext", Mode::Write, [&](SqlConnection& db) {
        std::vector<std::string> ids;
        for (const auto& row : db.query(
                 "SELECT id FROM conversations WHERE ctx_type = ? AND ctx_id = ?", {type, id})) {
            ids.push_back(row.text(0));
        }
        if (!ids.empty() && (title || status)) {
            std::string sql = "UPDATE conversations SET ";
            SqlParams params;
            if (title) {
                sql += "ctx_title = ?";
                params.emplace_back(*title);
            }
            if (status) {
                sql += title ? ", ctx_status = ?" : "ctx_status = ?";
                params.emplace_back(*status);
            }
            sql += " WHERE ctx_type = ? AND ctx_id = ?";
            params.emplace_back(type);
            params.emplace_back(id);
            db.execute(sql, params);
        }
        return ids;
    });
}

std::vector<UnreadMember> SqlStore::unreadMembers(int64_t activeSince,
                                                  const std::optional<std::string>& uid,
                                                  int limit) {
    return transaction("unreadMembers", Mode::Read, [&](SqlConnection& db) {
        std::string sql =
            "SELECT m.uid, m.conv, m.read_seq, c.last_seq, c.last_activity, "
            "COALESCE(u.state, 'offline') FROM conversations c "
            "JOIN members m ON m.conv = c.id LEFT JOIN users u ON u.uid = m.uid "
            "WHERE c.last_activity >= ? AND m.read_seq < c.last_seq AND m.muted = 0";
        SqlParams params{activeSince};
        if (uid) {
            sql += " AND m.uid = ?";
            params.emplace_back(*uid);
        }
        sql += " ORDER BY c.last_activity, c.id, m.uid LIMIT ?";
        params.emplace_back(int64_t{limit});
        std::vector<UnreadMember> members;
        for (const auto& row : db.query(sql, params)) {
            members.push_back(UnreadMember{row.text(0), row.text(1), row.integer(2), row.integer(3),
                                           row.integer(4), parseState(row.text(5))});
        }
        return members;
    });
}

std::vector<std::string> SqlStore::conversationsAbout(const std::string& type,
                                                      const std::string& id, int limit) {
    return transaction("conversationsAbout", Mode::Read, [&](SqlConnection& db) {
        std::vector<std::string> ids;
        for (const auto& row : db.query("SELECT id FROM conversations WHERE ctx_type = ? AND "
                                        "ctx_id = ? ORDER BY last_activity DESC, id DESC LIMIT ?",
                                        {type, id, int64_t{limit}})) {
            ids.push_back(row.text(0));
        }
        return ids;
    });
}

MemberView SqlStore::memberView(const std::string& conv, const std::string& uid) {
    return transaction("memberView", Mode::Read,
                       [&](SqlConnection& db) { return memberViewOf(loadView(db, conv, uid)); });
}

AppendResult SqlStore::appendMessage(const NewMessage& message) {
    return observed("appendMessage", [&] { return appender_.append(message); });
}

namespace {
// `row`, found by the message's (sender, cmid), is what an attempt of this batch inserted: the
// same conversation, text and time, and a seq one of those attempts gave it.
bool insertedByUs(const MessageRecord& row, const NewMessage& message,
                  const std::vector<int64_t>& triedSeqs) {
    return row.conv == message.conv && row.body == message.body &&
           row.metaJson == message.metaJson && row.attachmentsJson == message.attachmentsJson &&
           row.ts == message.ts &&
           std::find(triedSeqs.begin(), triedSeqs.end(), row.seq) != triedSeqs.end();
}

using Batch = std::vector<const NewMessage*>;
// Earlier copies of a batch's messages by (sender, cmid).
using EarlierCopies = std::map<std::pair<std::string, std::string>, MessageRecord>;

// What one attempt at a batch writes, decided before it writes anything.
struct BatchPlan {
    std::vector<size_t> fresh;                // messages this attempt inserts
    std::vector<size_t> storedEarlier;        // messages an earlier attempt of this batch inserted
    std::map<std::string, int64_t> lastSeq;   // conv -> the last seq given out
    std::map<std::string, int64_t> activity;  // conv -> ts of its last new message
    std::map<std::pair<std::string, std::string>, int64_t> readUpTo;  // (conv, sender) -> seq

    bool writesNothing() const { return fresh.empty() && storedEarlier.empty(); }
    // Messages stored now, by this attempt or an earlier one: they carry their recipients' counts.
    std::vector<size_t> storedNow() const {
        std::vector<size_t> indices = fresh;
        indices.insert(indices.end(), storedEarlier.begin(), storedEarlier.end());
        return indices;
    }
};

// Sets each message's access; returns the messages that may be stored (members' and
// extensions').
std::vector<size_t> decideAccess(const Batch& batch, const std::map<std::string, ViewRows>& views,
                                 std::vector<AppendResult>& results) {
    std::vector<size_t> candidates;
    for (size_t i = 0; i < batch.size(); ++i) {
        const NewMessage& message = *batch[i];
        const auto view = views.find(message.conv);
        if (view == views.end()) {
            results[i].access = Access::NoConversation;
        } else if (message.system || view->second.hasMember(message.sender)) {
            results[i].access = Access::Member;
            candidates.push_back(i);
        } else {
            results[i].access = Access::NotMember;
        }
    }
    return candidates;
}

// The copies already stored of the candidates' (sender, cmid)s, in one query.
EarlierCopies findEarlierCopies(SqlConnection& db, const Batch& batch,
                                const std::vector<size_t>& candidates) {
    std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE ";
    SqlParams params;
    const size_t padded = paddedSize(candidates.size());
    for (size_t k = 0; k < padded; ++k) {
        const NewMessage& message = *batch[candidates[std::min(k, candidates.size() - 1)]];
        sql += k == 0 ? "(sender = ? AND cmid = ?)" : " OR (sender = ? AND cmid = ?)";
        params.emplace_back(message.sender);
        params.emplace_back(message.cmid);
    }
    EarlierCopies earlier;
    for (const auto& row : db.query(sql, params)) {
        auto record = readMessage(row);
        earlier.emplace(std::make_pair(record.sender, record.cmid), std::move(record));
    }
    return earlier;
}

// Answers each candidate with its earlier copy, or gives it the next seq of its conversation
// (the sender's own message counts as read; later messages of the batch see that too).
BatchPlan planBatch(SqlConnection& db, const Batch& batch, const std::vector<size_t>& candidates,
                    const EarlierCopies& earlier, std::map<std::string, ViewRows>& views,
                    std::vector<std::vector<int64_t>>& triedSeqs,
                    std::vector<AppendResult>& results) {
    BatchPlan plan;
    for (size_t i : candidates) {
        const NewMessage& message = *batch[i];
        AppendResult& result = results[i];
        auto found = earlier.find({message.sender, message.cmid});
        if (found != earlier.end()) {
            if (insertedByUs(found->second, message, triedSeqs[i])) {
                plan.storedEarlier.push_back(i);
            } else {
                result.duplicate = true;
            }
            result.message = found->second;
            auto view = views.find(result.message.conv);
            result.members = view != views.end()
                                 ? view->second.members
                                 : loadView(db, result.message.conv, message.sender).members;
            continue;
        }
        auto seq = plan.lastSeq.try_emplace(message.conv, views[message.conv].lastSeq).first;
        const int64_t assigned = ++seq->second;
        plan.activity[message.conv] = message.ts;
        if (!message.system) {
            plan.readUpTo[{message.conv, message.sender}] = assigned;
        }
        result.message = MessageRecord{message.conv, assigned,         message.sender, message.cmid,
                                       message.body, message.metaJson, message.ts,     false};
        result.message.replyTo = message.replyTo;
        result.message.attachmentsJson = message.attachmentsJson;
        auto& members = views[message.conv].members;
        for (auto& member : members) {
            if (member.uid == message.sender && !message.system) {
                member.readSeq = assigned;
            }
        }
        result.members = members;
        triedSeqs[i].push_back(assigned);
        plan.fresh.push_back(i);
    }
    return plan;
}

// One multi-row INSERT that skips rows whose (sender, cmid) is stored; `insertInto` is the
// dialect's "INSERT IGNORE INTO" spelling of "messages (...) VALUES ". False if it skipped one.
bool insertMessages(SqlConnection& db, std::string insertInto, const BatchPlan& plan,
                    const std::vector<AppendResult>& results) {
    SqlParams params;
    for (size_t k = 0; k < plan.fresh.size(); ++k) {
        const MessageRecord& message = results[plan.fresh[k]].message;
        insertInto += k == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?, ?)";
        params.insert(params.end(), {message.conv, message.seq, message.sender, message.cmid,
                                     message.body, sqlOptional(message.metaJson), message.ts,
                                     message.replyTo ? SqlValue(*message.replyTo) : sqlNull(),
                                     sqlOptional(message.attachmentsJson)});
    }
    return db.execute(insertInto, params) == static_cast<int64_t>(plan.fresh.size());
}

// One UPDATE of the conversations' last seq and last activity.
void advanceConversations(SqlConnection& db, const BatchPlan& plan) {
    std::string seqCases;
    std::string activityCases;
    std::string ids;
    SqlParams seqParams;
    SqlParams activityParams;
    SqlParams idParams;
    const size_t padded = paddedSize(plan.lastSeq.size());
    auto entry = plan.lastSeq.begin();
    for (size_t k = 0; k < padded; ++k) {
        seqCases += " WHEN ? THEN ?";
        activityCases += " WHEN ? THEN ?";
        ids += k == 0 ? "?" : ", ?";
        seqParams.emplace_back(entry->first);
        seqParams.emplace_back(entry->second);
        activityParams.emplace_back(entry->first);
        activityParams.emplace_back(plan.activity.at(entry->first));
        idParams.emplace_back(entry->first);
        if (std::next(entry) != plan.lastSeq.end()) {
            ++entry;
        }
    }
    SqlParams params = std::move(seqParams);
    params.insert(params.end(), activityParams.begin(), activityParams.end());
    params.insert(params.end(), idParams.begin(), idParams.end());
    db.execute("UPDATE conversations SET last_seq = CASE id" + seqCases +
                   " END, last_activity = CASE id" + activityCases + " END WHERE id IN (" + ids +
                   ")",
               params);
}

// One UPDATE of the senders' read watermarks (never back).
void advanceSenderWatermarks(SqlConnection& db, const BatchPlan& plan) {
    std::string cases;
    std::string where;
    SqlParams caseParams;
    SqlParams whereParams;
    const size_t padded = paddedSize(plan.readUpTo.size());
    auto entry = plan.readUpTo.begin();
    for (size_t k = 0; k < padded; ++k) {
        const auto& [key, seq] = *entry;
        cases += " WHEN conv = ? AND uid = ? AND read_seq < ? THEN ?";
        where += k == 0 ? "(conv = ? AND uid = ?)" : " OR (conv = ? AND uid = ?)";
        caseParams.insert(caseParams.end(), {key.first, key.second, seq, seq});
        whereParams.insert(whereParams.end(), {key.first, key.second});
        if (std::next(entry) != plan.readUpTo.end()) {
            ++entry;
        }
    }
    caseParams.insert(caseParams.end(), whereParams.begin(), whereParams.end());
    db.execute("UPDATE members SET read_seq = CASE" + cases + " ELSE read_seq END WHERE " + where,
               caseParams);
}

// One read of the recipients' unread totals, which the messages stored now carry.
void attachUnreadTotals(SqlConnection& db, const BatchPlan& plan,
                        std::vector<AppendResult>& results) {
    const std::vector<size_t> storedNow = plan.storedNow();
    std::set<std::string> recipients;
    for (size_t i : storedNow) {
        for (const auto& member : results[i].members) {
            if (member.uid != results[i].message.sender) {
                recipients.insert(member.uid);
            }
        }
    }
    const auto totals = sumUnread(db, {recipients.begin(), recipients.end()});
    for (size_t i : storedNow) {
        for (const auto& member : results[i].members) {
            if (member.uid != results[i].message.sender) {
                const auto total = totals.find(member.uid);
                results[i].unreadTotals.push_back(
                    UnreadTotal{member.uid, total != totals.end() ? total->second : 0});
            }
        }
    }
}
}  // namespace

// Per batch, whatever its size: one locking read of the conversations and their members, one
// multi-row INSERT, one UPDATE of the conversations, one UPDATE of the senders' watermarks, one
// read of the recipients' unread totals, one commit. Resends are rare (a client that lost its
// connection before the reply), so earlier copies are looked up only when the INSERT skipped a
// row: that attempt is rolled back and the batch runs again with one more read.
std::vector<AppendResult> SqlStore::appendBatch(const std::vector<const NewMessage*>& batch,
                                                std::chrono::steady_clock::time_point since) {
    TriedSeqs triedSeqs(batch.size());
    auto first = appendBatchOnce(batch, false, since, triedSeqs);
    if (auto* results = std::get_if<std::vector<AppendResult>>(&first)) {
        return std::move(*results);
    }
    return std::get<std::vector<AppendResult>>(appendBatchOnce(batch, true, since, triedSeqs));
}

SqlStore::BatchAttempt SqlStore::appendBatchOnce(const std::vector<const NewMessage*>& batch,
                                                 bool lookForResends,
                                                 std::chrono::steady_clock::time_point since,
                                                 TriedSeqs& triedSeqs) {
    return transaction("appendMessage", Mode::Write, since, [&](SqlConnection& db) -> BatchAttempt {
        std::vector<AppendResult> results(batch.size());
        std::vector<std::string> convs;
        for (const NewMessage* message : batch) {
            convs.push_back(message->conv);
        }
        // The conversation rows stay locked until commit: that orders concurrent writers (other
        // batches, other parleyd instances), so seq is gapless per conversation. Locks are taken
        // in id order, so two batches cannot deadlock on each other.
        auto views = loadViews(db, convs, dialect_.lockRows);
        const auto candidates = decideAccess(batch, views, results);
        if (candidates.empty()) {
            return results;
        }
        const auto earlier =
            lookForResends ? findEarlierCopies(db, batch, candidates) : EarlierCopies{};
        const auto plan = planBatch(db, batch, candidates, earlier, views, triedSeqs, results);
        if (plan.writesNothing()) {
            return results;
        }
        if (!plan.fresh.empty()) {
            if (!insertMessages(
                    db,
                    insertIgnore(
                        "messages (conv, seq, sender, cmid, body, meta, ts, reply_to, attachments) "
                        "VALUES "),
                    plan, results)) {
                if (!lookForResends) {
                    return ResendFound{};  // rolled back; the batch runs again, looking
                }
                // A (sender, cmid) committed concurrently elsewhere: run again to find it.
                throw SqlError(SqlError::Kind::Retryable, "concurrent resend of the same cmid");
            }
            std::vector<const MessageRecord*> stored;
            for (size_t i : plan.fresh) {
                stored.push_back(&results[i].message);
            }
            search_.add(db, stored);
            advanceConversations(db, plan);
        }
        if (!plan.readUpTo.empty()) {
            advanceSenderWatermarks(db, plan);
        }
        attachUnreadTotals(db, plan, results);
        return results;
    });
}

std::optional<MessageRecord> SqlStore::findByCmid(const std::string& sender,
                                                  const std::string& cmid) {
    return transaction("findByCmid", Mode::Read,
                       [&](SqlConnection& db) { return loadByCmid(db, sender, cmid); });
}

MessageContext SqlStore::messageContext(const std::string& conv, const std::string& sender,
                                        const std::string& cmid) {
    return transaction("messageContext", Mode::Read, [&](SqlConnection& db) {
        return MessageContext{memberViewOf(loadView(db, conv, sender)),
                              loadByCmid(db, sender, cmid)};
    });
}

HistoryPage SqlStore::history(const HistoryQuery& query) {
    return transaction("history", Mode::Read, [&](SqlConnection& db) {
        HistoryPage page;
        std::string sql =
            std::string("SELECT ") + kMessageColumns + " FROM messages WHERE conv = ?";
        SqlParams params{query.conv};
        if (query.reader) {
            page.range = visibleRange(db, query.conv, *query.reader);
            if (!page.range) {
                page.access = readerWithoutRange(db, query.conv);
                return page;
            }
            sql += visibleSeqClause(*page.range, "seq", params);
        }
        if (query.after) {
            sql += " AND seq > ?";
            params.emplace_back(*query.after);
        }
        if (query.before) {
            sql += " AND seq < ?";
            params.emplace_back(*query.before);
        }
        // With `after` the page walks forward from it; otherwise backward from the newest.
        const bool forward = query.after.has_value();
        sql += forward ? " ORDER BY seq ASC LIMIT ?" : " ORDER BY seq DESC LIMIT ?";
        params.emplace_back(int64_t{query.limit} + 1);
        auto rows = db.query(sql, params);
        page.hasMore = rows.size() > static_cast<size_t>(query.limit);
        for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(query.limit); ++i) {
            page.messages.push_back(readMessage(rows[i]));
        }
        if (!forward) {
            std::reverse(page.messages.begin(), page.messages.end());
        }
        decorateMessages(db, page.messages);
        return page;
    });
}

std::optional<MessageRecord> SqlStore::message(const std::string& conv, int64_t seq) {
    return transaction("message", Mode::Read,
                       [&](SqlConnection& db) { return loadMessage(db, conv, seq); });
}

template <typename Change>
MessageChange SqlStore::changeMessage(const char* what, const std::string& conv, int64_t seq,
                                      const std::string& uid, bool memberOnly, Change&& change) {
    return transaction(what, Mode::Write, [&](SqlConnection& db) {
        MessageChange result;
        // The conversation row is locked first, as appendMessage locks it: changes and new
        // messages of one conversation are serialised, and revs are given out one at a time.
        auto locked =
            db.query("SELECT rev FROM conversations WHERE id = ?" + dialect_.lockRows, {conv});
        if (locked.empty()) {
            result.outcome = ChangeOutcome::NoConversation;
            return result;
        }
        const int64_t rev = locked[0].integer(0);
        const ViewRows view = loadView(db, conv, uid);
        result.memberIds = view.memberIds();
        if (memberOnly && !view.readSeq) {
            result.outcome = ChangeOutcome::NotMember;
            return result;
        }
        auto current = loadMessage(db, conv, seq);
        if (!current) {
            result.outcome = ChangeOutcome::NoMessage;
            return result;
        }
        result.message = std::move(*current);
        // `change` decides, and writes the message's row (its rev set to rev + 1) if it changes.
        result.outcome = change(db, result, rev + 1);
        if (result.outcome == ChangeOutcome::Changed) {
            db.execute("UPDATE conversations SET rev = ? WHERE id = ?", {rev + 1, conv});
            db.execute("DELETE FROM message_revs WHERE conv = ? AND seq = ?", {conv, seq});
            db.execute("INSERT INTO message_revs (conv, seq, rev) VALUES (?, ?, ?)",
                       {conv, seq, rev + 1});
            auto now = loadMessage(db, conv, seq);
            if (!now) {
                throw SqlError(SqlError::Kind::Other, "a changed message vanished");
            }
            result.message = std::move(*now);
        }
        return result;
    });
}

MessageChange SqlStore::editMessage(const MessageEdit& edit) {
    return changeMessage(
        "editMessage", edit.conv, edit.seq, edit.editor, true,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            if (message.tombstone()) {
                return ChangeOutcome::Tombstone;
            }
            if (message.sender != edit.editor) {
                return ChangeOutcome::NotSender;
            }
            if (message.ts < edit.editableSince) {
                return ChangeOutcome::WindowPassed;
            }
            const auto meta = edit.changeMeta ? edit.metaJson : message.metaJson;
            if (message.body == edit.body && message.metaJson == meta) {
                return ChangeOutcome::Unchanged;  // a resend of this edit, or no edit at all
            }
            db.execute(
                "UPDATE messages SET body = ?, meta = ?, edited_at = ?, rev = ? "
                "WHERE conv = ? AND seq = ?",
                {edit.body, sqlOptional(meta), edit.now, rev, edit.conv, edit.seq});
            search_.replace(db, edit.conv, edit.seq, message.body, edit.body);
            return ChangeOutcome::Changed;
        });
}

MessageChange SqlStore::deleteMessage(const std::string& conv, int64_t seq,
                                      const std::string& actor, bool mayDeleteOthers, int64_t now) {
    auto deleted = changeMessage(
        "deleteMessage", conv, seq, actor, !mayDeleteOthers,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            // A group's admin may delete others' messages too, checked here with the rest.
            if (message.sender != actor && !mayDeleteOthers &&
                db.query("SELECT 1 FROM members WHERE conv = ? AND uid = ? AND role = 'admin'",
                         {conv, actor})
                    .empty()) {
                return ChangeOutcome::NotSender;
            }
            if (message.tombstone()) {
                return ChangeOutcome::Unchanged;  // deleted or erased already: a resend
            }
            result.before = message;
            search_.remove(db, conv, seq, message.body, now);
            db.execute(std::string("UPDATE messages SET ") + kEraseText +
                           ", deleted_by = ?, edited_at = NULL, rev = ? WHERE conv = ? AND seq = ?",
                       {now, actor, rev, conv, seq});
            db.execute("DELETE FROM message_reactions WHERE conv = ? AND seq = ?", {conv, seq});
            return ChangeOutcome::Changed;
        });
    if (deleted.outcome == ChangeOutcome::Changed) {
        flushErasedText("deleted " + conv + "/" + std::to_string(seq));
    }
    return deleted;
}

MessageChange SqlStore::reactToMessage(const ReactionChange& change) {
    return changeMessage(
        "reactToMessage", change.conv, change.seq, change.uid, true,
        [&](SqlConnection& db, MessageChange& result, int64_t rev) {
            const MessageRecord& message = result.message;
            if (message.tombstone()) {
                return ChangeOutcome::Tombstone;
            }
            const auto has = std::find_if(
                message.reactions.begin(), message.reactions.end(),
                [&](const Reaction& reaction) { return reaction.emoji == change.emoji; });
            const bool mine =
                has != message.reactions.end() &&
                std::find(has->users.begin(), has->users.end(), change.uid) != has->users.end();
            if (change.add == mine) {
                return ChangeOutcome::Unchanged;
            }
            if (change.add) {
                if (has == message.reactions.end() &&
                    message.reactions.size() >= static_cast<size_t>(change.maxEmojis)) {
                    return ChangeOutcome::TooManyReactions;
                }
                db.execute(
                    "INSERT INTO message_reactions (conv, seq, emoji, uid, ts) "
                    "VALUES (?, ?, ?, ?, ?)",
                    {change.conv, change.seq, change.emoji, change.uid, change.now});
            } else {
                db.execute(
                    "DELETE FROM message_reactions WHERE conv = ? AND seq = ? AND emoji = ? "
                    "AND uid = ?",
                    {change.conv, change.seq, change.emoji, change.uid});
            }
            db.execute("UPDATE messages SET rev = ? WHERE conv = ? AND seq = ?",
                       {rev, change.conv, change.seq});
            return ChangeOutcome::Changed;
        });
}

ChangesPage SqlStore::changes(const std::string& conv, int64_t sinceRev, int limit,
                              const std::optional<std::string>& reader) {
    return transaction("changes", Mode::Read, [&](SqlConnection& db) {
        ChangesPage page;
        auto rev = db.query("SELECT rev FROM conversations WHERE id = ?", {conv});
        page.rev = rev.empty() ? 0 : rev[0].integer(0);
        std::optional<VisibleRange> range;
        if (reader) {
            range = visibleRange(db, conv, *reader);
            if (!range) {
                page.access = readerWithoutRange(db, conv);
                return page;
            }
        }
        std::string sql = std::string("SELECT ") + kMessageColumnsOfM +
                          " FROM message_revs r JOIN messages m ON m.conv = r.conv AND "
                          "m.seq = r.seq WHERE r.conv = ? AND r.rev > ?";
        SqlParams params{conv, sinceRev};
        if (range) {
            sql += visibleSeqClause(*range, "m.seq", params);
        }
        sql += " ORDER BY r.rev LIMIT ?";
        params.emplace_back(int64_t{limit} + 1);
        std::vector<MessageRecord> messages;
        for (const auto& row : db.query(sql, params)) {
            messages.push_back(readMessage(row));
        }
        std::string memberSql =
            "SELECT conv, rev, kind, uid, actor, seq, ts, title FROM member_changes "
            "WHERE conv = ? AND rev > ?";
        SqlParams memberParams{conv, sinceRev};
        if (range) {
            memberSql += " AND rev >= ?";
            memberParams.emplace_back(range->fromRev);
            if (range->toRev) {
                memberSql += " AND rev <= ?";
                memberParams.emplace_back(*range->toRev);
            }
        }
        memberSql += " ORDER BY rev LIMIT ?";
        memberParams.emplace_back(int64_t{limit} + 1);
        std::vector<MemberChange> memberChanges;
        for (const auto& row : db.query(memberSql, memberParams)) {
            memberChanges.push_back(readMemberChange(row));
        }
        // One page of both, in rev order: the first `limit` of the two lists merged.
        size_t m = 0;
        size_t c = 0;
        while (page.messages.size() + page.memberChanges.size() < static_cast<size_t>(limit) &&
               (m < messages.size() || c < memberChanges.size())) {
            if (c == memberChanges.size() ||
                (m < messages.size() && messages[m].rev < memberChanges[c].rev)) {
                page.messages.push_back(std::move(messages[m++]));
            } else {
                page.memberChanges.push_back(std::move(memberChanges[c++]));
            }
        }
        page.hasMore = m < messages.size() || c < memberChanges.size();
        decorateMessages(db, page.messages);
        return page;
    });
}

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

bool SqlStore::purgeSearchIndex(int64_t dueBefore) {
    // Observed whole, as one call: the claim, the rewrite and emptying the write-ahead log.
    return observed("purgeSearchIndex", [&] {
        const auto claimed =
            transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                        [&](SqlConnection& db) { return search_.claimPurge(db, dueBefore); });
        if (!claimed) {
            return false;
        }
        try {
            if (dialect_.fullText == FullText::Fts5) {
                transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                            [&](SqlConnection& db) {
                                search_.purge(db, dueBefore);
                                return true;
                            });
            } else {
                auto lease = pool_.acquire();
                search_.purge(*lease, dueBefore);
            }
        } catch (const std::exception& error) {
            transaction("purgeSearchIndex", Mode::Write, std::chrono::steady_clock::now(),
                        [&](SqlConnection& db) {
                            search_.unclaimPurge(db, *claimed);
                            return true;
                        });
            throw;
        }
        flushErasedText("purged the search index");
        return true;
    });
}

SettingsResult SqlStore::changeSettings(const std::string& conv, const std::string& uid,
                                        const SettingsChange& change) {
    return transaction("changeSettings", Mode::Write, [&](SqlConnection& db) {
        SettingsResult result;
        auto exists = db.query("SELECT id FROM conversations WHERE id = ?", {conv});
        if (exists.empty()) {
            return result;
        }
        auto rows =
            db.query("SELECT muted, archived, pinned_at FROM members WHERE conv = ? AND uid = ?" +
                         dialect_.lockRows,
                     {conv, uid});
        if (rows.empty()) {
            result.access = Access::NotMember;
            return result;
        }
        result.access = Access::Member;
        const MemberSettings before = settingsOf(rows[0], 0);
        MemberSettings after = before;
        after.muted = change.muted.value_or(before.muted);
        after.archived = change.archived.value_or(before.archived);
        if (change.pinned && *change.pinned != before.pinnedAt.has_value()) {
            // A pin keeps the time it was made: pinning again changes nothing.
            after.pinnedAt = *change.pinned ? std::optional<int64_t>(change.now) : std::nullopt;
        }
        result.changed = after.muted != before.muted || after.archived != before.archived ||
                         after.pinnedAt != before.pinnedAt;
        if (result.changed) {
            db.execute(
                "UPDATE members SET muted = ?, archived = ?, pinned_at = ? WHERE conv = ? AND "
                "uid = ?",
                {int64_t{after.muted ? 1 : 0}, int64_t{after.archived ? 1 : 0},
                 after.pinnedAt ? SqlValue(*after.pinnedAt) : sqlNull(), conv, uid});
        }
        result.settings = after;
        return result;
    });
}

MembershipResult SqlStore::changeMembership(const MembershipRequest& request) {
    return transaction("changeMembership", Mode::Write, [&](SqlConnection& db) {
        MembershipResult result;
        const std::string& conv = request.conv;
        // Locked first, as appendMessage locks it: a message and a change of membership of
        // one conversation are serialised, so a removed sender's message is either stored
        // with a seq at most the removal's `seq` or finds them no longer a member.
        auto locked = db.query(
            "SELECT kind, rev, last_seq FROM conversations WHERE id = ?" + dialect_.lockRows,
            {conv});
        if (locked.empty()) {
            result.outcome = MembershipOutcome::NoConversation;
            return result;
        }
        const bool group = locked[0].text(0) == "group";
        int64_t rev = locked[0].integer(1);
        const int64_t lastSeq = locked[0].integer(2);
        struct Member {
            std::string uid;
            bool admin = false;
            int64_t visibleFrom = 1;
            int64_t joinedRev = 0;
        };
        std::vector<Member> members;
        for (const auto& row :
             db.query("SELECT uid, role, visible_from, joined_rev FROM members WHERE conv = ? "
                      "ORDER BY joined_at, uid",
                      {conv})) {
            members.push_back(
                Member{row.text(0), row.text(1) == "admin", row.integer(2), row.integer(3)});
        }
        auto find = [&](const std::string& uid) {
            return std::find_if(members.begin(), members.end(),
                                [&](const Member& member) { return member.uid == uid; });
        };
        const auto actor = find(request.actor);
        if (actor == members.end()) {
            result.outcome = MembershipOutcome::NotMember;
            return result;
        }
        if (!group) {
            result.outcome = MembershipOutcome::NotGroup;
            return result;
        }
        if (request.action != MembershipAction::Leave && !actor->admin) {
            result.outcome = MembershipOutcome::NotAdmin;
            return result;
        }
        const std::string actorUid = request.actor;
        std::vector<std::string> gone;
        auto record = [&](MemberChangeKind kind, const std::string& uid,
                          const std::optional<std::string>& title) {
            ++rev;
            db.execute(
                "INSERT INTO member_changes (conv, rev, kind, uid, actor, seq, ts, title) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                {conv, rev, memberChangeKindName(kind), uid, actorUid, lastSeq, request.now,
                 sqlOptional(title)});
            result.changes.push_back(
                MemberChange{conv, rev, kind, uid, actorUid, lastSeq, request.now, title});
        };
        // A member who goes keeps what they could read up to now (the last seq stored).
        auto leaveBehind = [&](const Member& member, MemberChangeKind kind) {
            db.execute("DELETE FROM former_members WHERE conv = ? AND uid = ?", {conv, member.uid});
            db.execute(
                "INSERT INTO former_members (conv, uid, visible_from, visible_to, "
                "joined_rev, "
                "left_rev, left_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                {conv, member.uid, member.visibleFrom, lastSeq, member.joinedRev, rev + 1,
                 request.now});
            db.execute("DELETE FROM members WHERE conv = ? AND uid = ?", {conv, member.uid});
            record(kind, member.uid, std::nullopt);
            gone.push_back(member.uid);
        };
        switch (request.action) {
            case MembershipAction::Add: {
                for (const auto& uid : request.uids) {
                    if (find(uid) != members.end()) {
                        result.offending.push_back(uid);
                    }
                }
                if (!result.offending.empty()) {
                    result.outcome = MembershipOutcome::AlreadyMember;
                    return result;
                }
                if (members.size() + request.uids.size() > request.maxMembers) {
                    result.outcome = MembershipOutcome::GroupFull;
                    return result;
                }
                const int64_t visibleFrom = request.wholeHistoryForNewMembers ? 1 : lastSeq + 1;
                for (const auto& uid : request.uids) {
                    // Read up to now: what came before joining never counts as unread.
                    db.execute("DELETE FROM former_members WHERE conv = ? AND uid = ?",
                               {conv, uid});
                    db.execute(
                        "INSERT INTO members (conv, uid, read_seq, joined_at, role, "
                        "visible_from, joined_rev) VALUES (?, ?, ?, ?, 'member', ?, ?)",
                        {conv, uid, lastSeq, request.now, visibleFrom, rev + 1});
                    record(MemberChangeKind::Joined, uid, std::nullopt);
                    result.joined.push_back(uid);
                }
                break;
            }
            case MembershipAction::Remove:
            case MembershipAction::Promote: {
                for (const auto& uid : request.uids) {
                    if (find(uid) == members.end()) {
                        result.offending.push_back(uid);
                    }
                }
                if (!result.offending.empty()) {
                    result.outcome = MembershipOutcome::TargetNotMember;
                    return result;
                }
                for (const auto& uid : request.uids) {
                    const Member& member = *find(uid);
                    if (request.action == MembershipAction::Remove) {
                        leaveBehind(member, MemberChangeKind::Removed);
                    } else if (!member.admin) {
                        db.execute("UPDATE members SET role = 'admin' WHERE conv = ? AND uid = ?",
                                   {conv, uid});
                        record(MemberChangeKind::Admin, uid, std::nullopt);
                    }
                }
                break;
            }
            case MembershipAction::Leave:
                leaveBehind(*actor, MemberChangeKind::Left);
                break;
            case MembershipAction::Rename: {
                auto title = db.query("SELECT title FROM conversations WHERE id = ?", {conv})
                                 .at(0)
                                 .optionalText(0);
                if (title != request.title) {
                    db.execute("UPDATE conversations SET title = ? WHERE id = ?",
                               {sqlOptional(request.title), conv});
                    record(MemberChangeKind::Renamed, "", request.title);
                }
                break;
            }
        }
        if (!gone.empty()) {
            // A group is never left without an admin while it has members: the
            // longest-standing member becomes one.
            auto admins =
                db.query("SELECT uid FROM members WHERE conv = ? AND role = 'admin'", {conv});
            if (admins.empty()) {
                auto next = db.query(
                    "SELECT uid FROM members WHERE conv = ? ORDER BY joined_at, uid LIMIT "
                    "1",
                    {conv});
                if (!next.empty()) {
                    db.execute("UPDATE members SET role = 'admin' WHERE conv = ? AND uid = ?",
                               {conv, next[0].text(0)});
                    record(MemberChangeKind::Admin, next[0].text(0), std::nullopt);
                }
            }
        }
        if (result.changes.empty()) {
            result.outcome = MembershipOutcome::Unchanged;
        } else {
            result.outcome = MembershipOutcome::Changed;
            db.execute("UPDATE conversations SET rev = ? WHERE id = ?", {rev, conv});
        }
        result.conversation = loadConversation(db, conv);
        for (const auto& member : result.conversation->members) {
            result.told.push_back(member.uid);
        }
        result.told.insert(result.told.end(), gone.begin(), gone.end());
        return result;
    });
}

ReadResult SqlStore::markRead(const std::string& conv, const std::string& uid, int64_t seq) {
    return transaction("markRead", Mode::Write, [&](SqlConnection& db) {
        ReadResult result;
        auto view = loadView(db, conv, uid);
        result.access = accessOf(view);
        if (result.access != Access::Member) {
            return result;
        }
        result.lastSeq = view.lastSeq;
        result.readSeq = *view.readSeq;
        const int64_t target = std::min(seq, view.lastSeq);
        if (target > result.readSeq) {
            result.moved = db.execute(
                               "UPDATE members SET read_seq = ? "
                               "WHERE conv = ? AND uid = ? AND read_seq < ?",
                               {target, conv, uid, target}) > 0;
            result.readSeq = target;
        }
        result.memberIds = view.memberIds();
        return result;
    });
}

std::vector<UnreadTotal> SqlStore::unreadTotals(const std::vector<std::string>& uids) {
    if (uids.empty()) {
        return {};
    }
    return transaction("unreadTotals", Mode::Read, [&](SqlConnection& db) {
        auto found = sumUnread(db, uids);
        std::vector<UnreadTotal> totals;
        for (const auto& uid : uids) {
            totals.push_back(UnreadTotal{uid, found.count(uid) ? found[uid] : 0});
        }
        return totals;
    });
}

void SqlStore::setDisplayName(const std::string& uid, const std::string& name, int64_t now) {
    transaction("setDisplayName", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, last_seen, "
                                "created_at) VALUES (?, '', 'offline', 0, 0, NULL, ?)"),
                   {uid, now});
        db.execute("UPDATE users SET name = ? WHERE uid = ?", {name, uid});
        return true;
    });
}

namespace {

constexpr const char* kUserColumns = "uid, name, state, state_manual, last_seen, email, created_at";

UserRecord readUser(const SqlRow& row) {
    return UserRecord{row.text(0), row.text(1),
                      PresenceRecord{row.text(0), parseState(row.text(2)), row.integer(3) != 0,
                                     row.isNull(4) ? std::nullopt : std::optional(row.integer(4))},
                      row.optionalText(5), row.integer(6)};
}

}  // namespace

std::optional<UserRecord> SqlStore::user(const std::string& uid) {
    return transaction("user", Mode::Read, [&](SqlConnection& db) {
        auto rows =
            db.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE uid = ?", {uid});
        std::optional<UserRecord> found;
        if (!rows.empty()) {
            found = readUser(rows[0]);
        }
        return found;
    });
}

std::set<std::string> SqlStore::knownUsers(const std::vector<std::string>& uids) {
    // Bounded statements (a few shapes in the statement cache), however long the list.
    constexpr size_t kChunk = 128;
    return transaction("knownUsers", Mode::Read, [&](SqlConnection& db) {
        std::set<std::string> known;
        for (size_t first = 0; first < uids.size(); first += kChunk) {
            const auto end =
                uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), first + kChunk));
            SqlParams params(uids.begin() + static_cast<std::ptrdiff_t>(first), end);
            params.resize(paddedSize(params.size()), params.back());
            for (const auto& row : db.query(
                     "SELECT uid FROM users WHERE uid IN (" + placeholders(params.size()) + ")",
                     params)) {
                known.insert(row.text(0));
            }
        }
        return known;
    });
}

UserRecord SqlStore::updateUser(const std::string& uid, const UserUpdate& update, int64_t now) {
    return transaction("updateUser", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, last_seen, "
                                "created_at) VALUES (?, '', 'offline', 0, 0, NULL, ?)"),
                   {uid, now});
        if (update.name) {
            db.execute("UPDATE users SET name = ? WHERE uid = ?", {*update.name, uid});
        }
        if (update.changeEmail) {
            db.execute("UPDATE users SET email = ? WHERE uid = ?",
                       {sqlOptional(update.email), uid});
        }
        auto rows =
            db.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE uid = ?", {uid});
        return readUser(rows.at(0));
    });
}

UserPage SqlStore::listUsers(int limit, const std::optional<std::string>& after) {
    return transaction("listUsers", Mode::Read, [&](SqlConnection& db) {
        // One more than asked tells whether there is a next page.
        auto rows = db.query(std::string("SELECT ") + kUserColumns +
                                 " FROM users WHERE uid > ? ORDER BY uid LIMIT ?",
                             {after.value_or(""), int64_t{limit} + 1});
        UserPage page;
        for (const auto& row : rows) {
            if (page.users.size() == static_cast<size_t>(limit)) {
                page.hasMore = true;
                break;
            }
            page.users.push_back(readUser(row));
        }
        return page;
    });
}

std::vector<ConversationRecord> SqlStore::memberConversations(const std::string& uid,
                                                              const std::string& afterConv,
                                                              int limit) {
    return transaction("memberConversations", Mode::Read, [&](SqlConnection& db) {
        std::vector<ConversationRecord> conversations;
        for (const auto& row : db.query(std::string("SELECT ") + kConversationColumns +
                                            " FROM members m JOIN conversations c ON c.id = "
                                            "m.conv WHERE m.uid = ? AND m.conv > ? "
                                            "ORDER BY m.conv LIMIT ?",
                                        {uid, afterConv, int64_t{limit}})) {
            conversations.push_back(readConversation(row));
        }
        attachMembers(db, conversations);
        return conversations;
    });
}

std::vector<MessageRecord> SqlStore::messagesBySender(const std::string& uid,
                                                      const std::string& afterCmid, int limit) {
    return transaction("messagesBySender", Mode::Read, [&](SqlConnection& db) {
        std::vector<MessageRecord> messages;
        for (const auto& row :
             db.query(std::string("SELECT ") + kMessageColumns +
                          " FROM messages WHERE sender = ? AND cmid > ? ORDER BY cmid LIMIT ?",
                      {uid, afterCmid, int64_t{limit}})) {
            messages.push_back(readMessage(row));
        }
        return messages;
    });
}

UserErasure SqlStore::eraseUser(const std::string& uid, int64_t now) {
    // Observed whole: emptying the write-ahead log is part of the erasure.
    return observed("eraseUser", [&] {
        auto erasure = transaction(
            "eraseUser", Mode::Write, std::chrono::steady_clock::now(), [&](SqlConnection& db) {
                UserErasure result;
                // The conversation rows are locked first, in id order, as appendMessage
                // locks them: a message of this user being stored now is either committed
                // before (and erased here) or finds them no longer a member.
                std::vector<std::string> convs;
                for (const auto& row : db.query("SELECT c.id, c.kind FROM members m JOIN "
                                                "conversations c ON c.id = m.conv "
                                                "WHERE m.uid = ? ORDER BY c.id" +
                                                    dialect_.lockRows,
                                                {uid})) {
                    convs.push_back(row.text(0));
                    if (row.text(1) == "direct") {
                        // The pair's key names this user: a later conv.open between the
                        // same uids starts a new conversation instead of finding this one
                        // without them.
                        db.execute("UPDATE conversations SET direct_key = NULL WHERE id = ?",
                                   {row.text(0)});
                    }
                }
                // Every message this changes (their own, and those they reacted to) gets a
                // rev of its own past the conversation's (old rev + seq: distinct, one
                // statement per conversation), so clients that missed the erased event
                // catch up with msg.changes (docs/design.md).
                for (const auto& conv : convs) {
                    auto rows =
                        db.query("SELECT rev, last_seq FROM conversations WHERE id = ?", {conv});
                    const int64_t base = rows.at(0).integer(0);
                    const auto changed = db.execute(
                        "UPDATE messages SET rev = ? + seq WHERE conv = ? AND ((sender = ? "
                        "AND "
                        "erased_at IS NULL) OR seq IN (SELECT seq FROM message_reactions "
                        "WHERE "
                        "conv = ? AND uid = ?))",
                        {base, conv, uid, conv, uid});
                    if (changed > 0) {
                        db.execute("UPDATE conversations SET rev = ? WHERE id = ?",
                                   {base + rows[0].integer(1), conv});
                        // Exactly the messages changed now have a rev past the old one.
                        db.execute(
                            "DELETE FROM message_revs WHERE conv = ? AND seq IN (SELECT "
                            "seq FROM "
                            "messages WHERE conv = ? AND rev > ?)",
                            {conv, conv, base});
                        db.execute(
                            "INSERT INTO message_revs (conv, seq, rev) SELECT conv, seq, "
                            "rev FROM "
                            "messages WHERE conv = ? AND rev > ?",
                            {conv, base});
                    }
                }
                // While the text to unindex is still there.
                search_.removeSender(db, uid, now);
                result.messages = db.execute(std::string("UPDATE messages SET ") + kEraseText +
                                                 " WHERE sender = ? AND erased_at IS NULL",
                                             {now, uid});
                db.execute("DELETE FROM message_reactions WHERE uid = ?", {uid});
                db.execute("DELETE FROM members WHERE uid = ?", {uid});
                db.execute("DELETE FROM former_members WHERE uid = ?", {uid});
                for (const auto& conv : convs) {
                    ErasedMembership membership{conv, {}};
                    for (const auto& row : db.query("SELECT uid FROM members WHERE conv = "
                                                    "? ORDER BY joined_at, uid",
                                                    {conv})) {
                        membership.remainingMembers.push_back(row.text(0));
                    }
                    if (!membership.remainingMembers.empty() &&
                        db.query("SELECT 1 FROM members WHERE conv = ? AND role = 'admin'", {conv})
                            .empty() &&
                        !db.query("SELECT 1 FROM conversations WHERE id = ? AND kind = "
                                  "'group'",
                                  {conv})
                             .empty()) {
                        // As when the last admin leaves: the longest-standing member is one
                        // now.
                        db.execute("UPDATE members SET role = 'admin' WHERE conv = ? AND uid = ?",
                                   {conv, membership.remainingMembers.front()});
                    }
                    if (membership.remainingMembers.empty()) {
                        // Nobody can ever read it again: nothing of it is kept.
                        db.execute("DELETE FROM message_reactions WHERE conv = ?", {conv});
                        db.execute("DELETE FROM message_revs WHERE conv = ?", {conv});
                        search_.removeConversation(db, conv, now);
                        db.execute("DELETE FROM member_changes WHERE conv = ?", {conv});
                        db.execute("DELETE FROM former_members WHERE conv = ?", {conv});
                        db.execute("DELETE FROM messages WHERE conv = ?", {conv});
                        db.execute("DELETE FROM conversations WHERE id = ?", {conv});
                    }
                    result.conversations.push_back(std::move(membership));
                }
                result.known = db.execute("DELETE FROM users WHERE uid = ?", {uid}) > 0;
                return result;
            });
        // An erasure's words leave the full-text index now, not at the next timed purge:
        // the operator is told the user is erased when this returns. (Before the log is
        // emptied, so that the index's old pages go with it.) Pending purges of others ride
        // along.
        try {
            purgeSearchIndex(now);
        } catch (const std::exception& error) {
            spdlog::warn(
                "store: erased {}, but purging the search index failed (the sweep tries "
                "again): {}",
                uid, error.what());
        }
        flushErasedText("erased " + uid);
        return erasure;
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

PresenceChange SqlStore::setPresence(const std::string& uid, PresenceState state, int64_t now) {
    return transaction("setPresence", Mode::Write, [&](SqlConnection& db) {
        db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, last_seen, "
                                "created_at) VALUES (?, '', 'offline', 0, 0, NULL, ?)"),
                   {uid, now});
        auto rows = db.query("SELECT state FROM users WHERE uid = ?", {uid});
        const PresenceState previous = parseState(rows.at(0).text(0));
        switch (state) {
            case PresenceState::Online:
                db.execute(
                    "UPDATE users SET state = 'online', state_manual = 0, "
                    "last_active = ?, last_seen = ? WHERE uid = ?",
                    {now, now, uid});
                break;
            case PresenceState::Away:
                db.execute(
                    "UPDATE users SET state = 'away', state_manual = 1, last_seen = ? "
                    "WHERE uid = ?",
                    {now, uid});
                break;
            case PresenceState::Offline:
                db.execute(
                    "UPDATE users SET state = 'offline', state_manual = 0, last_seen = ? "
                    "WHERE uid = ?",
                    {now, uid});
                break;
        }
        return PresenceChange{previous != state,
                              PresenceRecord{uid, state, state == PresenceState::Away, now},
                              previous};
    });
}

PresenceChange SqlStore::recordActivity(const std::string& uid, int64_t now) {
    return transaction("recordActivity", Mode::Write, [&](SqlConnection& db) {
        auto rows = db.query("SELECT state, state_manual FROM users WHERE uid = ?", {uid});
        if (rows.empty()) {
            db.execute(insertIgnore("users (uid, name, state, state_manual, last_active, "
                                    "last_seen, created_at) VALUES (?, '', 'online', 0, ?, ?, ?)"),
                       {uid, now, now, now});
            return PresenceChange{true, PresenceRecord{uid, PresenceState::Online, false, now},
                                  PresenceState::Offline};
        }
        const PresenceState state = parseState(rows[0].text(0));
        const bool manual = rows[0].integer(1) != 0;
        if (state == PresenceState::Online || (state == PresenceState::Away && manual)) {
            db.execute("UPDATE users SET last_active = ?, last_seen = ? WHERE uid = ?",
                       {now, now, uid});
            return PresenceChange{false, PresenceRecord{uid, state, manual, now}, state};
        }
        db.execute(
            "UPDATE users SET state = 'online', state_manual = 0, last_active = ?, "
            "last_seen = ? WHERE uid = ?",
            {now, now, uid});
        return PresenceChange{true, PresenceRecord{uid, PresenceState::Online, false, now}, state};
    });
}

std::vector<PresenceRecord> SqlStore::markIdleAway(int64_t idleBefore, int limit) {
    return transaction("markIdleAway", Mode::Write, [&](SqlConnection& db) {
        auto rows = db.query(
            "SELECT uid, last_seen FROM users WHERE state = 'online' AND last_active < ? "
            "LIMIT ?",
            {idleBefore, int64_t{limit}});
        std::vector<PresenceRecord> changed;
        for (const auto& row : rows) {
            // Conditional, so two instances sweeping at once announce each change only
            // once.
            const auto updated = db.execute(
                "UPDATE users SET state = 'away', state_manual = 0 "
                "WHERE uid = ? AND state = 'online' AND last_active < ?",
                {row.text(0), idleBefore});
            if (updated > 0) {
                changed.push_back(
                    PresenceRecord{row.text(0), PresenceState::Away, false,
                                   row.isNull(1) ? std::nullopt : std::optional(row.integer(1))});
            }
        }
        return changed;
    });
}

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
