#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// msg.send, msg.history, msg.read
class MessageHandler {
  public:
    explicit MessageHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);

    nlohmann::json send(const Command& command);
    nlohmann::json history(const Command& command);
    nlohmann::json read(const Command& command);

  private:
    HandlerContext context_;
};

// not_found / forbidden for a conversation the caller cannot use.
void requireMember(store::Access access, const std::string& conv);

}  // namespace parley
