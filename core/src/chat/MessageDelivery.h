#pragma once

#include "protocol/Outbox.h"
#include "store/Store.h"

namespace parley {

// Publishes a stored message: the msg event to every member (the sender's other devices
// included), each other member's copy with their new unread counts (`unread`, `unread_total`). A
// duplicate (a resend) publishes the msg event again, without counts, which did not move. Used
// for users' and extensions' messages alike.
void deliverMessage(Outbox& outbox, const store::AppendResult& stored);

std::vector<std::string> memberIdsOf(const store::AppendResult& stored);

}  // namespace parley
