#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/Model.h"

namespace parley::store {

// Users: profiles, the directory, presence, and an admin's export and erasure of one user's
// data. Part of Store: every method is one transaction.
class UserStore {
  public:
    virtual ~UserStore() = default;

    virtual void setDisplayName(const std::string& uid, const std::string& name, int64_t now) = 0;
    virtual std::optional<UserRecord> user(const std::string& uid) = 0;
    // Those of `uids` Parley knows: registered by an admin (updateUser), named (setDisplayName)
    // or seen (recordActivity). For the user directory (users.directory: known).
    virtual std::set<std::string> knownUsers(const std::vector<std::string>& uids) = 0;
    // Creates the user if Parley has not seen them yet; returns the user as updated.
    virtual UserRecord updateUser(const std::string& uid, const UserUpdate& update,
                                  int64_t now) = 0;
    // Users Parley has seen, by ascending uid, those after `after` when given.
    virtual UserPage listUsers(int limit, const std::optional<std::string>& after) = 0;

    // A user's data, for admin.user.export, in pages. The conversations uid is a member of, by
    // ascending id, those after `afterConv` ("" for the first page), with their members.
    virtual std::vector<ConversationRecord> memberConversations(const std::string& uid,
                                                                const std::string& afterConv,
                                                                int limit) = 0;
    // The messages uid sent, in every conversation, by ascending cmid (the order of their unique
    // key, so a page costs the same however many there are), those after `afterCmid`.
    virtual std::vector<MessageRecord> messagesBySender(const std::string& uid,
                                                        const std::string& afterCmid,
                                                        int limit) = 0;
    // Erases a user, in one transaction (admin.user.erase): their messages become tombstones
    // (body and meta overwritten, seq kept), they leave every conversation (a conversation left
    // with no member is deleted with its messages; a 1:1 is no longer found by conv.open), and
    // their profile row (name, email, presence) is deleted. Safe to run again.
    virtual UserErasure eraseUser(const std::string& uid, int64_t now) = 0;

    virtual PresenceChange setPresence(const std::string& uid, PresenceState state,
                                       int64_t now) = 0;
    // A command from uid: online again unless they chose "away"; last_seen = now.
    virtual PresenceChange recordActivity(const std::string& uid, int64_t now) = 0;
    // Online users inactive since before `idleBefore` become away; returns those that changed.
    virtual std::vector<PresenceRecord> markIdleAway(int64_t idleBefore, int limit) = 0;
};

}  // namespace parley::store
