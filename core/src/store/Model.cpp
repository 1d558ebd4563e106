#include "store/Model.h"

namespace parley::store {

int64_t ConversationRecord::readSeqOf(const std::string& uid) const {
    for (const auto& member : members) {
        if (member.uid == uid) {
            return member.readSeq;
        }
    }
    return 0;
}

MemberSettings ConversationRecord::settingsOf(const std::string& uid) const {
    for (const auto& member : members) {
        if (member.uid == uid) {
            return member.settings;
        }
    }
    return {};
}

const char* presenceStateName(PresenceState state) {
    switch (state) {
        case PresenceState::Online:
            return "online";
        case PresenceState::Away:
            return "away";
        case PresenceState::Offline:
            return "offline";
    }
    return "offline";
}

const char* conversationKindName(ConversationKind kind) {
    return kind == ConversationKind::Group ? "group" : "direct";
}

const char* memberChangeKindName(MemberChangeKind kind) {
    switch (kind) {
        case MemberChangeKind::Joined:
            return "joined";
        case MemberChangeKind::Removed:
            return "removed";
        case MemberChangeKind::Left:
            return "left";
        case MemberChangeKind::Admin:
            return "admin";
        case MemberChangeKind::Renamed:
            return "renamed";
    }
    return "joined";
}

}  // namespace parley::store
