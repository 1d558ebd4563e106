#include "handlers/UserDataHandler.h"

#include <spdlog/spdlog.h>

#include "dispatch/Dispatcher.h"
#include "handlers/AdminHandler.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"

namespace parley {

namespace {

constexpr int64_t kDefaultExportItems = 100;
constexpr int64_t kMaxExportItems = 1000;
constexpr size_t kCmidCharacters = 64;
// Export cursors: the section, a colon, and the last item given ("" = from the start).
constexpr const char* kConversationsCursor = "c:";
constexpr const char* kMessagesCursor = "m:";

// A conversation in a user's export: what it is and who is in it, without what belongs to the
// other members (their display names, their read watermarks, the last message's text).
nlohmann::json exportedConversation(const store::ConversationRecord& conversation,
                                    const std::string& uid) {
    nlohmann::json summary = summaryJson(conversation, uid);
    nlohmann::json members = nlohmann::json::array();
    for (const auto& member : conversation.members) {
        members.push_back(member.uid);
    }
    summary["members"] = std::move(members);
    summary.erase("preview");
    summary.erase("unread");
    return summary;
}

// Adds items while the page stays within kExportPageBytes (at least one); returns how many.
template <typename Record, typename ToJson>
size_t fillPage(const std::vector<Record>& records, size_t limit, nlohmann::json& items,
                ToJson&& toJson) {
    size_t bytes = 0;
    size_t taken = 0;
    for (const auto& record : records) {
        if (taken == limit) {
            break;
        }
        nlohmann::json item = toJson(record);
        const size_t size = toPayload(item).size() + 1;
        if (taken > 0 && bytes + size > UserDataHandler::kExportPageBytes) {
            break;
        }
        bytes += size;
        items.push_back(std::move(item));
        ++taken;
    }
    return taken;
}

}  // namespace

void UserDataHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("admin.user.export", [this](const Command& c) { return exportUser(c); });
    dispatcher.add("admin.user.erase", [this](const Command& c) { return eraseUser(c); });
}

nlohmann::json UserDataHandler::exportUser(const Command& command) {
    requireAdmin(context_.rules, command);
    const Args args(command.args);
    const std::string uid = args.requireUid("user");
    const size_t limit = static_cast<size_t>(
        args.optionalInt("limit", 1, kMaxExportItems).value_or(kDefaultExportItems));
    const auto cursor = args.optionalString("after", kCmidCharacters + 2);

    nlohmann::json reply = {{"user", uid},
                            {"conversations", nlohmann::json::array()},
                            {"messages", nlohmann::json::array()}};
    std::string section = kConversationsCursor;
    std::string after;
    if (!cursor) {
        reply["profile"] = adminUserJson(uid, context_.store.user(uid));
        reply["exported_at"] = context_.clock.nowMs();
    } else {
        section = cursor->substr(0, 2);
        after = cursor->substr(std::min<size_t>(2, cursor->size()));
        if (section != kConversationsCursor && section != kMessagesCursor) {
            throw ProtocolError(ErrorCode::BadRequest,
                                "\"after\" must be the next_after of the previous page");
        }
    }

    // One more than the page may hold tells whether there is more.
    const int fetch = static_cast<int>(limit) + 1;
    std::optional<std::string> next;
    if (section == kConversationsCursor) {
        const auto found = context_.store.memberConversations(uid, after, fetch);
        const size_t taken = fillPage(found, limit, reply["conversations"],
                                      [&](const auto& c) { return exportedConversation(c, uid); });
        // The conversations are done: the messages follow from the start.
        next = taken < found.size() ? kConversationsCursor + found[taken - 1].id
                                    : std::string(kMessagesCursor);
    } else {
        const auto found = context_.store.messagesBySender(uid, after, fetch);
        const size_t taken = fillPage(found, limit, reply["messages"], messageJson);
        if (taken < found.size()) {
            next = kMessagesCursor + found[taken - 1].cmid;
        }
    }
    reply["has_more"] = next.has_value();
    reply["next_after"] = next ? nlohmann::json(*next) : nlohmann::json(nullptr);
    return reply;
}

nlohmann::json UserDataHandler::eraseUser(const Command& command) {
    requireAdmin(context_.rules, command);
    const std::string uid = Args(command.args).requireUid("user");
    const auto erasure = context_.store.eraseUser(uid, context_.clock.nowMs());
    // An erasure is something an operator must be able to show was done, and when.
    spdlog::info("user {} erased by {}: {} message(s) now tombstones, left {} conversation(s)", uid,
                 command.uid, erasure.messages, erasure.conversations.size());

    int64_t deleted = 0;
    for (const auto& membership : erasure.conversations) {
        if (membership.remainingMembers.empty()) {
            ++deleted;
            continue;
        }
        // Members drop what they hold of the user's messages in this conversation, and the user
        // from its members.
        context_.outbox.toConversation(
            membership.remainingMembers, membership.conv,
            {{"ev", "erased"}, {"conv", membership.conv}, {"user", uid}});
    }
    context_.outbox.clearPresence(uid);
    return {{"user", uid},
            {"known", erasure.known},
            {"messages", erasure.messages},
            {"conversations", erasure.conversations.size()},
            {"deleted_conversations", deleted}};
}

}  // namespace parley
