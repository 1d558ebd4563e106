#include "handlers/ConversationHandler.h"

#include <algorithm>

#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Ids.h"
#include "util/Utf8.h"

namespace parley {

namespace {

constexpr size_t kTitleCharacters = 128;
constexpr int kDefaultListLimit = 50;
constexpr int kMaxListLimit = 100;

// Appends the uids not in `into` yet, in the order given.
void appendDistinct(std::vector<std::string>& into, std::vector<std::string> uids) {
    for (auto& uid : uids) {
        if (std::find(into.begin(), into.end(), uid) == into.end()) {
            into.push_back(std::move(uid));
        }
    }
}

// The distinct users "members" names: at least one, at most `limit`.
std::vector<std::string> namedMembers(const Args& args, size_t limit) {
    std::vector<std::string> members;
    appendDistinct(members, args.requireUidList("members", limit));
    if (members.empty()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"members\" must name at least one user");
    }
    return members;
}

// A change of the membership of the command's conversation by its sender.
store::MembershipRequest membershipRequest(const Command& command, const Args& args,
                                           store::MembershipAction action) {
    store::MembershipRequest request;
    request.conv = args.requireConversation();
    request.actor = command.uid;
    request.action = action;
    return request;
}

bool isContextType(const std::string& type) {
    return !type.empty() && type.size() <= 32 && std::all_of(type.begin(), type.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    });
}

std::optional<store::ContextRef> readContext(const Args& args) {
    const nlohmann::json* context = args.optionalObject("context");
    if (context == nullptr) {
        return std::nullopt;
    }
    const Args fields(*context);
    store::ContextRef ref;
    ref.type = fields.requireString("type", 32);
    if (!isContextType(ref.type)) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"context.type\" must be 1-32 characters from a-z 0-9 _ . -");
    }
    ref.id = fields.requireString("id", 128);
    if (hasControlCharacter(ref.id)) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"context.id\" must not contain control characters");
    }
    ref.title = fields.optionalString("title", kTitleCharacters);
    return ref;
}

std::optional<std::string> readTitle(const Args& args) {
    auto title = args.optionalString("title", kTitleCharacters);
    if (title && hasControlCharacter(*title)) {
        throw ProtocolError(ErrorCode::BadRequest, "\"title\" must not contain control characters");
    }
    if (title && title->empty()) {
        return std::nullopt;
    }
    return title;
}

nlohmann::json uidsJson(const std::vector<std::string>& uids) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& uid : uids) {
        list.push_back(uid);
    }
    return list;
}

std::string joined(const std::vector<std::string>& uids) {
    std::string names;
    for (const auto& uid : uids) {
        names += (names.empty() ? "" : ", ") + uid;
    }
    return names;
}

// Turns what the store found into the client's error; returns for Changed and Unchanged.
void requireChanged(const store::MembershipResult& result, const std::string& conv) {
    using store::MembershipOutcome;
    switch (result.outcome) {
        case MembershipOutcome::Changed:
        case MembershipOutcome::Unchanged:
            return;
        case MembershipOutcome::NoConversation:
            throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
        case MembershipOutcome::NotMember:
            throw ProtocolError(ErrorCode::Forbidden, "you are not a member of " + conv);
        case MembershipOutcome::NotGroup:
            throw ProtocolError(ErrorCode::NotGroup,
                                conv + " is a 1:1 conversation: its members do not change");
        case MembershipOutcome::NotAdmin:
            throw ProtocolError(ErrorCode::NotAdmin, "only an admin of " + conv + " may");
        case MembershipOutcome::AlreadyMember:
            throw ProtocolError(ErrorCode::AlreadyMember,
                                "already in " + conv + ": " + joined(result.offending),
                                {{"users", uidsJson(result.offending)}});
        case MembershipOutcome::TargetNotMember:
            throw ProtocolError(ErrorCode::NotMember,
                                "not in " + conv + ": " + joined(result.offending),
                                {{"users", uidsJson(result.offending)}});
        case MembershipOutcome::GroupFull:
            throw ProtocolError(ErrorCode::GroupFull,
                                "the group would have more members than "
                                "limits.max_group_members allows");
    }
    throw ProtocolError(ErrorCode::Internal, "unexpected membership outcome");
}

}  // namespace

void ConversationHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("conv.open", [this](const Command& c) { return open(c); });
    dispatcher.add("conv.create", [this](const Command& c) { return create(c); });
    dispatcher.add("conv.list", [this](const Command& c) { return list(c); });
    dispatcher.add("conv.get", [this](const Command& c) { return get(c); });
    dispatcher.add("conv.add", [this](const Command& c) { return add(c); });
    dispatcher.add("conv.remove", [this](const Command& c) { return remove(c); });
    dispatcher.add("conv.leave", [this](const Command& c) { return leave(c); });
    dispatcher.add("conv.rename", [this](const Command& c) { return rename(c); });
    dispatcher.add("conv.admin", [this](const Command& c) { return makeAdmin(c); });
}

store::ConversationRecord ConversationHandler::afterCreate(store::ConversationRecord conversation) {
    if (context_.hooks.has(Hook::ConversationAfterCreate)) {
        context_.hooks.afterConversationCreate(conversation);
        // A hook may have changed it (the listings script fills the context in, and tells the
        // members with "changed" events): the reply and the "created" event, which members get
        // after those, show it as it is now, so no one ends with the version before the hook.
        if (auto now = context_.store.conversation(conversation.id)) {
            conversation = std::move(*now);
        }
    }
    announceCreated(conversation);
    return conversation;
}

void ConversationHandler::announceCreated(const store::ConversationRecord& conversation) {
    for (const auto& member : conversation.members) {
        auto event = summaryJson(conversation, member.uid);
        event["ev"] = "conv";
        event["reason"] = "created";
        context_.outbox.toUser(member.uid, event);
    }
}

void ConversationHandler::requireKnown(const std::vector<std::string>& uids) {
    if (context_.rules.users.directory != UserDirectory::Known) {
        return;
    }
    const auto known = context_.store.knownUsers(uids);
    nlohmann::json unknown = nlohmann::json::array();
    std::string names;
    for (const auto& uid : uids) {
        if (known.count(uid) == 0) {
            unknown.push_back(uid);
            names += (names.empty() ? "" : ", ") + uid;
        }
    }
    if (!unknown.empty()) {
        throw ProtocolError(
            ErrorCode::NotFound,
            std::string(unknown.size() == 1 ? "unknown user: " : "unknown users: ") + names,
            {{"users", unknown}});
    }
}

nlohmann::json ConversationHandler::open(const Command& command) {
    const Args args(command.args);
    const std::string peer = args.requireUid("peer");
    if (peer == command.uid) {
        throw ProtocolError(ErrorCode::BadRequest, "cannot open a conversation with yourself");
    }
    const auto context = readContext(args);
    requireKnown({peer});
    const bool beforeOpen = context_.hooks.has(Hook::ConversationBeforeOpen);
    if (beforeOpen || context_.hooks.has(Hook::ConversationBeforeCreate)) {
        ConversationDraft draft{command.uid,
                                store::ConversationKind::Direct,
                                {command.uid, peer},
                                std::nullopt,
                                context,
                                std::nullopt};
        auto existing = context_.store.findDirect(command.uid, peer, context);
        if (beforeOpen) {
            // Every open, of an existing conversation too (a block refuses both).
            if (existing) {
                draft.conv = existing->id;
            }
            context_.hooks.beforeConversationOpen(draft);
        }
        // conversation.before_create only gets a say when the conversation would be new.
        if (existing) {
            auto reply = summaryJson(*existing, command.uid);
            reply["created"] = false;
            return reply;
        }
        context_.hooks.beforeConversationCreate(draft);
    }
    auto opened = context_.store.openDirect(command.uid, peer, context, newConversationId(),
                                            context_.clock.nowMs());
    if (opened.created) {
        opened.conversation = afterCreate(std::move(opened.conversation));
    }
    auto reply = summaryJson(opened.conversation, command.uid);
    reply["created"] = opened.created;
    return reply;
}

nlohmann::json ConversationHandler::create(const Command& command) {
    const Args args(command.args);
    const auto limit = static_cast<size_t>(context_.rules.limits.maxGroupMembers);
    auto requested = args.requireUidList("members", limit);
    std::vector<std::string> members{command.uid};
    appendDistinct(members, std::move(requested));
    if (members.size() < 2) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"members\" must name at least one user besides yourself");
    }
    if (members.size() > limit) {
        throw ProtocolError(ErrorCode::TooLarge, "a group has at most " + std::to_string(limit) +
                                                     " members, you included");
    }
    const auto title = readTitle(args);
    requireKnown({members.begin() + 1, members.end()});
    context_.hooks.beforeConversationCreate(ConversationDraft{
        command.uid, store::ConversationKind::Group, members, title, std::nullopt, std::nullopt});
    auto conversation = context_.store.createGroup(command.uid, members, title, newConversationId(),
                                                   context_.clock.nowMs());
    conversation = afterCreate(std::move(conversation));
    auto reply = summaryJson(conversation, command.uid);
    reply["created"] = true;
    return reply;
}

nlohmann::json ConversationHandler::list(const Command& command) {
    const Args args(command.args);
    const int limit =
        static_cast<int>(args.optionalInt("limit", 1, kMaxListLimit).value_or(kDefaultListLimit));
    std::optional<store::ListCursor> before;
    if (auto cursor = args.optionalString("before", 128)) {
        before = decodeListCursor(*cursor);
        if (!before) {
            throw ProtocolError(ErrorCode::BadRequest,
                                "\"before\" must be a \"next_before\" value from conv.list");
        }
    }
    std::optional<store::ContextRef> about;
    if (const nlohmann::json* filter = args.optionalObject("context")) {
        const Args fields(*filter);
        about = store::ContextRef{fields.requireString("type", 32), fields.requireString("id", 128),
                                  std::nullopt, std::nullopt};
    }
    auto page = context_.store.listConversations(command.uid, limit, before, about);
    nlohmann::json convs = nlohmann::json::array();
    for (const auto& conversation : page.conversations) {
        convs.push_back(summaryJson(conversation, command.uid));
    }
    nlohmann::json reply = {
        {"convs", convs},
        {"has_more", page.hasMore},
        {"unread_total", context_.store.unreadTotals({command.uid}).at(0).unread}};
    if (page.hasMore && !page.conversations.empty()) {
        const auto& last = page.conversations.back();
        reply["next_before"] = encodeListCursor({last.lastActivity, last.id});
    }
    return reply;
}

nlohmann::json ConversationHandler::get(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    auto conversation = context_.store.conversation(conv);
    if (!conversation) {
        throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
    }
    const bool member =
        std::any_of(conversation->members.begin(), conversation->members.end(),
                    [&](const store::MemberInfo& m) { return m.uid == command.uid; });
    if (!member) {
        throw ProtocolError(ErrorCode::Forbidden, "you are not a member of " + conv);
    }
    return summaryJson(*conversation, command.uid);
}

}  // namespace parley

namespace parley {

nlohmann::json ConversationHandler::changeMembership(store::MembershipRequest request) {
    request.now = context_.clock.nowMs();
    const std::string conv = request.conv;
    auto result = context_.store.changeMembership(request);
    requireChanged(result, conv);
    nlohmann::json changes = nlohmann::json::array();
    for (const auto& change : result.changes) {
        auto event = memberChangeJson(change);
        event["ev"] = "member";
        event["conv"] = conv;
        // Whoever went is told too, so their client knows why the conversation fell silent.
        context_.outbox.toConversation(result.told, conv, event);
        changes.push_back(memberChangeJson(change));
    }
    if (result.conversation) {
        // New members find the group in their list as members of a created one do.
        for (const auto& uid : result.joined) {
            auto event = summaryJson(*result.conversation, uid);
            event["ev"] = "conv";
            event["reason"] = "added";
            context_.outbox.toUser(uid, event);
        }
    }
    return {{"conv", conv},
            {"changed", result.outcome == store::MembershipOutcome::Changed},
            {"rev", result.conversation ? result.conversation->rev : 0},
            {"changes", changes}};
}

nlohmann::json ConversationHandler::add(const Command& command) {
    const Args args(command.args);
    auto request = membershipRequest(command, args, store::MembershipAction::Add);
    const auto limit = static_cast<size_t>(context_.rules.limits.maxGroupMembers);
    request.uids = namedMembers(args, limit);
    requireKnown(request.uids);
    request.maxMembers = limit;
    request.wholeHistoryForNewMembers = context_.rules.users.newMembersSeeWholeHistory;
    return changeMembership(std::move(request));
}

nlohmann::json ConversationHandler::remove(const Command& command) {
    const Args args(command.args);
    auto request = membershipRequest(command, args, store::MembershipAction::Remove);
    const auto limit = static_cast<size_t>(context_.rules.limits.maxGroupMembers);
    request.uids = namedMembers(args, limit);
    if (std::find(request.uids.begin(), request.uids.end(), command.uid) != request.uids.end()) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "to remove yourself, leave the group (conv.leave)");
    }
    return changeMembership(std::move(request));
}

nlohmann::json ConversationHandler::leave(const Command& command) {
    const Args args(command.args);
    auto request = membershipRequest(command, args, store::MembershipAction::Leave);
    return changeMembership(std::move(request));
}

nlohmann::json ConversationHandler::rename(const Command& command) {
    const Args args(command.args);
    auto request = membershipRequest(command, args, store::MembershipAction::Rename);
    if (!command.args.contains("title")) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "\"title\" is required (a string; \"\" or null clears it)");
    }
    request.title = readTitle(args);
    return changeMembership(std::move(request));
}

nlohmann::json ConversationHandler::makeAdmin(const Command& command) {
    const Args args(command.args);
    auto request = membershipRequest(command, args, store::MembershipAction::Promote);
    request.uids = {args.requireUid("user")};
    return changeMembership(std::move(request));
}

}  // namespace parley
