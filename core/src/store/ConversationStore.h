#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/Model.h"

namespace parley::store {

// Conversations (direct and group), their listing and context, their members (changes of
// membership, each member's own settings) and read marks with the unread counts they drive.
// Part of Store: every method is one transaction.
class ConversationStore {
  public:
    virtual ~ConversationStore() = default;

    // Get-or-create the 1:1 conversation of two users about an optional context.
    virtual std::optional<ConversationRecord> findDirect(
        const std::string& first, const std::string& second,
        const std::optional<ContextRef>& context) = 0;
    virtual OpenDirectResult openDirect(const std::string& initiator, const std::string& peer,
                                        const std::optional<ContextRef>& context,
                                        const std::string& newId, int64_t now) = 0;
    // Creates a group; `members` includes the creator. Retrying with the same newId is idempotent.
    virtual ConversationRecord createGroup(const std::string& creator,
                                           const std::vector<std::string>& members,
                                           const std::optional<std::string>& title,
                                           const std::string& newId, int64_t now) = 0;
    virtual std::optional<ConversationRecord> conversation(const std::string& conv) = 0;
    // Newest activity first; only conversations about `context` (type and id) when given.
    virtual ConversationPage listConversations(const std::string& uid, int limit,
                                               const std::optional<ListCursor>& before,
                                               const std::optional<ContextRef>& context = {}) = 0;
    // Sets the title and/or status of every conversation about (type, id); returns their ids.
    virtual std::vector<std::string> updateContext(const std::string& type, const std::string& id,
                                                   const std::optional<std::string>& title,
                                                   const std::optional<std::string>& status) = 0;
    // Members with unread messages in conversations active at or after `activeSince` (ms), with
    // their presence, oldest activity first (then conv, uid); only `uid`'s when given.
    // Members who muted the conversation are left out: nobody is notified about it.
    virtual std::vector<UnreadMember> unreadMembers(int64_t activeSince,
                                                    const std::optional<std::string>& uid,
                                                    int limit) = 0;
    virtual std::vector<std::string> conversationsAbout(const std::string& type,
                                                        const std::string& id, int limit) = 0;
    virtual MemberView memberView(const std::string& conv, const std::string& uid) = 0;

    // Changes uid's own settings of a conversation they are a member of (conv.set).
    virtual SettingsResult changeSettings(const std::string& conv, const std::string& uid,
                                          const SettingsChange& change) = 0;
    // Adds, removes, lets leave, renames or makes admin, in one transaction that locks the
    // conversation row as appendMessage does: a message whose sender is removed is stored
    // before the removal (its seq at most the removal's) or refused. Every check is made again
    // there (docs/design.md, "Groups").
    virtual MembershipResult changeMembership(const MembershipRequest& request) = 0;
    // Moves uid's read watermark forward to min(seq, last_seq); never back.
    virtual ReadResult markRead(const std::string& conv, const std::string& uid, int64_t seq) = 0;
    // Sum of unread messages over all conversations of each user, those they muted left out.
    virtual std::vector<UnreadTotal> unreadTotals(const std::vector<std::string>& uids) = 0;
};

}  // namespace parley::store
