#include "handlers/ConversationSettingsHandler.h"

#include "chat/Membership.h"
#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"

namespace parley {

namespace {
std::optional<bool> optionalFlag(const nlohmann::json& args, const char* key) {
    const auto found = args.find(key);
    if (found == args.end() || found->is_null()) {
        return std::nullopt;
    }
    if (!found->is_boolean()) {
        throw ProtocolError(ErrorCode::BadRequest,
                            std::string("\"") + key + "\" must be true or false");
    }
    return found->get<bool>();
}
}  // namespace

void ConversationSettingsHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("conv.set", [this](const Command& c) { return set(c); });
}

nlohmann::json ConversationSettingsHandler::set(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    store::SettingsChange change;
    change.muted = optionalFlag(command.args, "muted");
    change.archived = optionalFlag(command.args, "archived");
    change.pinned = optionalFlag(command.args, "pinned");
    if (!change.muted && !change.archived && !change.pinned) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "name at least one of \"muted\", \"archived\", \"pinned\"");
    }
    change.now = context_.clock.nowMs();
    const auto result = context_.store.changeSettings(conv, command.uid, change);
    requireMember(result.access, conv);
    nlohmann::json settings = settingsJson(result.settings);
    settings["conv"] = conv;
    // Muting moves the unread total (the badge), which every device shows.
    const int64_t unreadTotal = context_.store.unreadTotals({command.uid}).at(0).unread;
    settings["unread_total"] = unreadTotal;
    if (result.changed) {
        // The caller's other devices; nobody else learns how they keep the conversation.
        nlohmann::json event = settings;
        event["ev"] = "conv_settings";
        context_.outbox.toUser(command.uid, event);
    }
    nlohmann::json reply = std::move(settings);
    reply["changed"] = result.changed;
    return reply;
}

}  // namespace parley
