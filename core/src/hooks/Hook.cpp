#include "hooks/Hook.h"

#include "protocol/Views.h"

namespace parley {

std::string_view hookName(Hook hook) {
    switch (hook) {
        case Hook::MessageBeforeStore:
            return "message.before_store";
        case Hook::MessageAfterStore:
            return "message.after_store";
        case Hook::ConversationBeforeCreate:
            return "conversation.before_create";
        case Hook::ConversationAfterCreate:
            return "conversation.after_create";
        case Hook::ReadAfter:
            return "read.after";
        case Hook::PresenceChanged:
            return "presence.changed";
        case Hook::UserConnected:
            return "user.connected";
        case Hook::UserDisconnected:
            return "user.disconnected";
        case Hook::ConversationBeforeOpen:
            return "conversation.before_open";
        case Hook::EventBeforeDeliver:
            return "event.before_deliver";
        case Hook::MessageBeforeEdit:
            return "message.before_edit";
        case Hook::MessageAfterDelete:
            return "message.after_delete";
    }
    return "unknown";
}

std::optional<Hook> hookByName(std::string_view name) {
    for (Hook hook : kAllHooks) {
        if (hookName(hook) == name) {
            return hook;
        }
    }
    return std::nullopt;
}

bool hookMayReject(Hook hook) {
    return hook == Hook::MessageBeforeStore || hook == Hook::MessageBeforeEdit ||
           hook == Hook::ConversationBeforeCreate || hook == Hook::ConversationBeforeOpen;
}

nlohmann::json rejectionDetails(nlohmann::json details) {
    if (!details.is_object()) {
        throw ProtocolError(ErrorCode::BadRequest,
                            "a rejection's details must be a JSON object (string keys)");
    }
    details.erase("code");
    details.erase("message");
    if (toPayload(details).size() > kMaxRejectionDetailsBytes) {
        throw ProtocolError(ErrorCode::TooLarge, "a rejection's details exceed " +
                                                     std::to_string(kMaxRejectionDetailsBytes) +
                                                     " bytes encoded");
    }
    return details;
}

}  // namespace parley
