#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::store {

// What a 1:1 conversation is about, e.g. {"listing", "42", "Blue bike"}.
struct ContextRef {
    std::string type;
    std::string id;
    std::optional<std::string> title;
    // Set by extensions (e.g. a listing's "open", "sold"); never by clients.
    std::optional<std::string> status;
};

// How one member keeps a conversation, on every device (conv.set): their own, never shown to
// the others.
struct MemberSettings {
    bool muted = false;                 // no part of the member's unread total, no notification
    bool archived = false;              // kept out of the main list by clients
    std::optional<int64_t> pinnedAt{};  // when pinned (ms); none = not pinned
};

struct MemberInfo {
    std::string uid;
    std::string name;  // display name, empty if the user never set one
    int64_t readSeq = 0;
    MemberSettings settings{};  // filled where conversations are read for clients
    bool admin = false;         // a group's admin (conv.add, conv.remove, conv.rename, conv.admin)
};

// One emoji on a message and who put it there, in the order they did.
struct Reaction {
    std::string emoji;
    std::vector<std::string> users;
};

// What a reply shows of the message it answers.
struct ReplyPreview {
    int64_t seq = 0;
    std::string sender;
    std::string body;  // whole (the wire cuts it); "" for a tombstone
    bool deleted = false;
    bool erased = false;
};

struct MessageRecord {
    std::string conv;
    int64_t seq = 0;
    std::string sender;
    std::string cmid;
    std::string body;
    std::optional<std::string> metaJson;  // a JSON object as text
    int64_t ts = 0;
    // A tombstone: its sender was erased (admin.user.erase), its body and meta with them. It
    // keeps its seq so the conversation's history has no hole.
    bool erased = false;
    // The attachments an extension resolved for it (docs/attachments.md): a JSON array of
    // objects as text, or none. Erasing the message drops them, which is how its files lose
    // this reference.
    std::optional<std::string> attachmentsJson{};
    // The conversation's rev at the message's latest change (edit, deletion, reaction, erasure);
    // 0 if it never changed. docs/design.md, "Changes to stored messages".
    int64_t rev{};
    std::optional<int64_t> editedAt{};
    // A tombstone deleted for everyone (msg.delete) by this uid: body and meta erased.
    std::optional<std::string> deletedBy{};
    std::optional<int64_t> deletedAt{};
    std::optional<int64_t> replyTo{};  // the seq this message answers
    // Filled where messages are read for clients (history, changes, events), not by every query.
    std::vector<Reaction> reactions{};
    std::optional<ReplyPreview> replyPreview{};

    bool tombstone() const { return erased || deletedBy.has_value(); }
};

enum class ConversationKind { Direct, Group };

struct ConversationRecord {
    std::string id;
    ConversationKind kind = ConversationKind::Direct;
    std::optional<std::string> title;
    std::optional<ContextRef> context;
    std::string createdBy;
    int64_t createdAt = 0;
    int64_t lastSeq = 0;
    int64_t lastActivity = 0;
    std::vector<MemberInfo> members;
    std::optional<MessageRecord> lastMessage;
    int64_t rev = 0;  // changes to its stored messages so far (docs/design.md)

    // The read watermark of one member, or 0 if not a member.
    int64_t readSeqOf(const std::string& uid) const;
    // One member's settings; the defaults if not a member.
    MemberSettings settingsOf(const std::string& uid) const;
};

// Position in a conversation list ordered by (lastActivity, id) descending.
struct ListCursor {
    int64_t lastActivity = 0;
    std::string conv;
};

struct ConversationPage {
    std::vector<ConversationRecord> conversations;
    bool hasMore = false;
};

enum class Access { Member, NotMember, NoConversation };

struct OpenDirectResult {
    ConversationRecord conversation;
    bool created = false;
};

// The sender of messages that extensions post into conversations. Not a valid user: no client
// can speak as it.
inline constexpr const char* kSystemSender = "system";

struct UnreadTotal {
    std::string uid;
    int64_t unread = 0;
};

struct NewMessage {
    std::string conv;
    std::string sender;
    std::string cmid;
    std::string body;
    std::optional<std::string> metaJson;
    int64_t ts = 0;
    bool system = false;  // from an extension: sender kSystemSender, no membership needed
    std::optional<std::string> attachmentsJson{};  // see MessageRecord
    std::optional<int64_t> replyTo{};  // a seq of the same conversation, checked by the caller
};

struct AppendResult {
    Access access = Access::NoConversation;
    bool duplicate = false;  // (sender, cmid) was already stored: `message` is the original
    MessageRecord message;
    std::vector<MemberInfo> members;  // of message.conv, with read watermarks (names left empty)
    // Unread totals of the members other than the sender, read in the storing transaction (may
    // already count messages stored with it in the same batch). Empty for a duplicate.
    std::vector<UnreadTotal> unreadTotals;
};

// What of a conversation one user may read: the one rule every read of messages for a user
// applies (docs/design.md, "Groups: who sees what"). A member sees from the seq they joined at
// (1 with the whole history); a former member (removed, or left) also only up to the last seq
// stored before they went, and the membership changes up to their own going.
struct VisibleRange {
    int64_t fromSeq = 1;
    int64_t fromRev = 0;             // membership changes from the one that let them in
    std::optional<int64_t> toSeq{};  // a former member's last visible seq
    std::optional<int64_t> toRev{};  // a former member's last visible membership change
    bool current() const { return !toSeq.has_value(); }
};

struct HistoryQuery {
    std::string conv;
    std::optional<int64_t> before;  // only seq < before
    std::optional<int64_t> after;   // only seq > after
    int limit = 50;
    // Whose history: only what VisibleRange lets them read. None: all of it (extensions).
    std::optional<std::string> reader{};
};

struct HistoryPage {
    std::vector<MessageRecord> messages;  // ascending seq
    bool hasMore = false;  // more in the paging direction (older without `after`, newer with it)
    // With a reader: NoConversation, NotMember (never a member, nothing to read), or Member
    // (a member or a former one; `range` says what they may read).
    Access access = Access::Member;
    std::optional<VisibleRange> range{};
};

struct ReadResult {
    Access access = Access::NoConversation;
    bool moved = false;
    int64_t readSeq = 0;
    int64_t lastSeq = 0;
    std::vector<std::string> memberIds;
};

// Who is in a conversation, as seen by one user, and what the conversation is.
struct MemberView {
    Access access = Access::NoConversation;
    std::vector<std::string> memberIds;
    int64_t lastSeq = 0;
    int64_t readSeq = 0;  // the asking user's
    ConversationKind kind = ConversationKind::Direct;
    std::optional<ContextRef> context;
};

// What a message must know before it is stored: the conversation as its sender sees it, and the
// copy stored earlier with the same (sender, cmid), if any.
struct MessageContext {
    MemberView view;
    std::optional<MessageRecord> earlier;
};

enum class PresenceState { Online, Away, Offline };

struct PresenceRecord {
    std::string uid;
    PresenceState state = PresenceState::Offline;
    bool manual = false;  // "away" set by the user, which activity does not undo
    std::optional<int64_t> lastSeen;
};

struct PresenceChange {
    bool changed = false;
    PresenceRecord record;
    PresenceState previous = PresenceState::Offline;
};

// A member with unread messages (read_seq < the conversation's last_seq), as an extension that
// notifies away users scans them (Store::unreadMembers).
struct UnreadMember {
    std::string uid;
    std::string conv;
    int64_t readSeq = 0;
    int64_t lastSeq = 0;
    int64_t lastActivity = 0;
    PresenceState presence = PresenceState::Offline;
};

struct UserRecord {
    std::string uid;
    std::string name;
    PresenceRecord presence;
    // Set by admins (admin.user.set) for extensions such as an email digest; never shown to
    // other users.
    std::optional<std::string> email{};
    int64_t createdAt = 0;  // when Parley first saw the user
};

// What admin.user.set changes; what it does not mention keeps its value.
struct UserUpdate {
    std::optional<std::string> name;
    bool changeEmail = false;
    std::optional<std::string> email;  // with changeEmail: the new address, or none to clear it
};

struct UserPage {
    std::vector<UserRecord> users;  // ascending uid
    bool hasMore = false;
};

// A conversation an erased user was in, as it is now.
struct ErasedMembership {
    std::string conv;
    std::vector<std::string> remainingMembers;  // empty: the conversation was deleted
};

// What Store::eraseUser did.
struct UserErasure {
    bool known = false;    // the user had a profile (a users row), now deleted
    int64_t messages = 0;  // messages made tombstones now (earlier tombstones not counted)
    std::vector<ErasedMembership> conversations;  // the user was a member, and is no more
};

// What a change to a stored message (edit, deletion, reaction) found and did.
enum class ChangeOutcome {
    Changed,
    Unchanged,  // already so (a resend, a reaction already there): nothing written, rev kept
    NoConversation,
    NotMember,
    NoMessage,
    NotSender,     // edit: not the sender's; delete: neither the sender's nor a privileged actor
    WindowPassed,  // edit: the message is older than the edit window
    Tombstone,     // the message is deleted or erased: nothing to edit or react to
    TooManyReactions,
};

struct MessageChange {
    ChangeOutcome outcome = ChangeOutcome::NoConversation;
    MessageRecord message;                  // as it is now (with reactions and reply preview)
    std::optional<MessageRecord> before{};  // deleteMessage, when Changed: the message as it was
    std::vector<std::string> memberIds{};
};

struct MessageEdit {
    std::string conv;
    int64_t seq = 0;
    std::string editor;
    std::string body;
    bool changeMeta = false;                // false: the meta stays as it is
    std::optional<std::string> metaJson{};  // with changeMeta: the new meta, or none
    int64_t now = 0;
    int64_t editableSince = 0;  // messages stored (ts) before this may no longer be edited
};

struct ReactionChange {
    std::string conv;
    int64_t seq = 0;
    std::string uid;
    std::string emoji;
    bool add = true;
    int64_t now = 0;
    int maxEmojis = 20;  // distinct emojis on one message
};

// One change of a group's membership or title. Each takes the conversation's next rev, like a
// change to a stored message, so msg.changes carries it to clients that were away.
enum class MemberChangeKind { Joined, Removed, Left, Admin, Renamed };

struct MemberChange {
    std::string conv;
    int64_t rev = 0;
    MemberChangeKind kind = MemberChangeKind::Joined;
    std::string uid;  // who joined, was removed, left, was made admin ("" for Renamed)
    std::string by;   // who did it (for an admin named because the last one left: who left)
    int64_t seq = 0;  // the conversation's last seq when it happened
    int64_t ts = 0;
    std::optional<std::string> title{};  // Renamed: the new title, none when cleared
};

struct ChangesPage {
    std::vector<MessageRecord> messages;  // ascending rev
    bool hasMore = false;
    int64_t rev = 0;                            // the conversation's rev when read
    std::vector<MemberChange> memberChanges{};  // ascending rev, in the same page as messages
    // With a reader: as HistoryPage's.
    Access access = Access::Member;
};

// What a membership command asks (conv.add, conv.remove, conv.leave, conv.rename, conv.admin).
enum class MembershipAction { Add, Remove, Leave, Rename, Promote };

struct MembershipRequest {
    std::string conv;
    std::string actor;
    MembershipAction action = MembershipAction::Add;
    std::vector<std::string> uids{};     // Add, Remove, Promote
    std::optional<std::string> title{};  // Rename; none clears it
    int64_t now = 0;
    bool wholeHistoryForNewMembers = false;  // Add: see from seq 1 rather than from joining
    size_t maxMembers = 100;                 // Add
};

enum class MembershipOutcome {
    Changed,
    Unchanged,  // already so (a resend of conv.admin or conv.rename): nothing written
    NoConversation,
    NotMember,        // the actor is not a member
    NotGroup,         // a 1:1 conversation (conv.open) has no membership to change
    NotAdmin,         // the actor is not an admin of the group
    AlreadyMember,    // Add: `offending` are members already
    TargetNotMember,  // Remove, Promote: `offending` are not members
    GroupFull,        // Add: more than maxMembers
};

struct MembershipResult {
    MembershipOutcome outcome = MembershipOutcome::NoConversation;
    std::vector<MemberChange> changes{};   // ascending rev
    std::vector<std::string> offending{};  // the uids a refusal is about
    // Who is told: the members after the change and those it removed (or who left).
    std::vector<std::string> told{};
    std::vector<std::string> joined{};                 // Add: the new members
    std::optional<ConversationRecord> conversation{};  // as it is after the change
};

// msg.search (docs/design.md, "Search"): the words, each a term every result must contain.
struct SearchQuery {
    std::string reader;               // whose conversations: only what they may read is found
    std::vector<std::string> terms;   // words of letters and digits, never FTS syntax
    std::optional<std::string> conv;  // only this conversation
    std::optional<int64_t> before;    // a cursor of an earlier page (SearchPage::nextBefore)
    int limit = 20;
};

struct SearchPage {
    std::vector<MessageRecord> messages;            // newest first
    std::vector<ConversationRecord> conversations;  // those of the messages, each once
    bool hasMore = false;
    int64_t nextBefore = 0;  // with hasMore: the `before` of the next page
};

// What conv.set changes; what it does not mention keeps its value.
struct SettingsChange {
    std::optional<bool> muted;
    std::optional<bool> archived;
    std::optional<bool> pinned;
    int64_t now = 0;  // pinnedAt of a new pin
};

struct SettingsResult {
    Access access = Access::NoConversation;
    MemberSettings settings;  // as they are now
    bool changed = false;
};

const char* presenceStateName(PresenceState state);
const char* memberChangeKindName(MemberChangeKind kind);
const char* conversationKindName(ConversationKind kind);

}  // namespace parley::store
