#pragma once

#include "protocol/Outbox.h"
#include "store/Store.h"

namespace parley {

// Publishes a stored message: the msg event to every member (the sender's other devices
// included), and to every other member their new unread counts. A duplicate (a resend) publishes
// the msg event again, not the counts, which did not move. Used for users' and extensions'
// messages alike.
void deliverMessage(Outbox& outbox, const store::AppendResult& stored);

std::vector<std::string> memberIdsOf(const store::AppendResult& stored);

}  // namespace parley
