#include "chat/Membership.h"

#include "protocol/ErrorCode.h"

namespace parley {

void requireMember(store::Access access, const std::string& conv) {
    if (access == store::Access::NoConversation) {
        throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
    }
    if (access == store::Access::NotMember) {
        throw ProtocolError(ErrorCode::Forbidden, "you are not a member of " + conv);
    }
}

}  // namespace parley
