#include "store/SqlStore.h"

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

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

}  // namespace parley::store
