#include "chat/MessageDelivery.h"

#include <algorithm>

#include "protocol/Views.h"

namespace parley {

std::vector<std::string> memberIdsOf(const store::AppendResult& stored) {
    std::vector<std::string> ids;
    ids.reserve(stored.members.size());
    for (const auto& member : stored.members) {
        ids.push_back(member.uid);
    }
    return ids;
}

void deliverMessage(Outbox& outbox, const store::AppendResult& stored) {
    const auto& message = stored.message;
    nlohmann::json event = messageJson(message);
    event["ev"] = "msg";
    if (stored.duplicate) {
        // A resend: the event again for whoever missed it; the counts did not move.
        outbox.toConversation(memberIdsOf(stored), message.conv, event);
        return;
    }
    // Each other member's copy carries their new counts (read in the storing transaction): one
    // publish per member, not a msg event and an unread event each.
    const std::string payload = toPayload(event);
    for (const auto& member : stored.members) {
        const auto total =
            std::find_if(stored.unreadTotals.begin(), stored.unreadTotals.end(),
                         [&](const store::UnreadTotal& entry) { return entry.uid == member.uid; });
        if (member.uid == message.sender || total == stored.unreadTotals.end()) {
            outbox.toMember(member.uid, message.conv, payload);
            continue;
        }
        // payload is a JSON object: the counts go in before its closing brace.
        std::string withCounts = payload.substr(0, payload.size() - 1);
        withCounts +=
            ",\"unread\":" + std::to_string(std::max<int64_t>(0, message.seq - member.readSeq)) +
            ",\"unread_total\":" + std::to_string(total->unread) + "}";
        outbox.toMember(member.uid, message.conv, std::move(withCounts));
    }
}

}  // namespace parley
