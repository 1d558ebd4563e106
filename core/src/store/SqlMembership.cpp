#include "store/SqlStore.h"

#include <algorithm>

#include "store/SqlStoreTransaction.h"
#include "store/SqlSupport.h"

namespace parley::store {

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

}  // namespace parley::store
