#pragma once

#include <string>

namespace parley {

// A new conversation id: "c" followed by 20 base32 characters (100 random bits). Safe in MQTT
// topics and as a SQL key; opaque to clients.
std::string newConversationId();

}  // namespace parley
