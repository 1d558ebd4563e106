#include "store/SqlStore.h"

#include <algorithm>
#include <map>
#include <set>
#include <variant>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

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

}  // namespace parley::store
