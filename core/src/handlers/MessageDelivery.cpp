#include "handlers/MessageDelivery.h"

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
    outbox.toConversation(memberIdsOf(stored), message.conv, event);
    if (stored.duplicate) {
        return;
    }
    // The totals were read in the transaction that stored the message.
    for (const auto& total : stored.unreadTotals) {
        int64_t readSeq = 0;
        for (const auto& member : stored.members) {
            if (member.uid == total.uid) {
                readSeq = member.readSeq;
            }
        }
        outbox.toUser(total.uid, {{"ev", "unread"},
                                  {"conv", message.conv},
                                  {"unread", std::max<int64_t>(0, message.seq - readSeq)},
                                  {"unread_total", total.unread}});
    }
}

}  // namespace parley
