#pragma once

#include <nlohmann/json.hpp>

#include "chat/MessagePosting.h"
#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// msg.send, msg.history, msg.read
class MessageHandler {
  public:
    MessageHandler(HandlerContext context, const MessagePosting& posting)
        : context_(context), posting_(posting) {}

    void registerOps(Dispatcher& dispatcher);

    nlohmann::json send(const Command& command);
    nlohmann::json history(const Command& command);
    nlohmann::json read(const Command& command);

  private:
    HandlerContext context_;
    const MessagePosting& posting_;
};

}  // namespace parley
