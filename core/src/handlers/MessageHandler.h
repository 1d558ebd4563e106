#pragma once

#include <nlohmann/json.hpp>

#include "chat/MessagePosting.h"
#include "handlers/HandlerContext.h"
#include "ops/Metrics.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// msg.send, msg.history, msg.read
class MessageHandler {
  public:
    // `metrics`: where stored messages are counted (parley_messages_stored_total).
    MessageHandler(HandlerContext context, const MessagePosting& posting, ops::Metrics& metrics)
        : context_(context), posting_(posting), metrics_(metrics) {}

    void registerOps(Dispatcher& dispatcher);

    nlohmann::json send(const Command& command);
    nlohmann::json history(const Command& command);
    nlohmann::json read(const Command& command);

  private:
    HandlerContext context_;
    const MessagePosting& posting_;
    ops::Metrics& metrics_;
};

}  // namespace parley
