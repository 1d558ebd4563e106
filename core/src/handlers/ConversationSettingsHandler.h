#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// conv.set: how a member keeps a conversation (muted, archived, pinned), stored server-side so
// every device of theirs shows the same, and never shown to the other members.
class ConversationSettingsHandler {
  public:
    explicit ConversationSettingsHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json set(const Command& command);

  private:
    HandlerContext context_;
};

}  // namespace parley
