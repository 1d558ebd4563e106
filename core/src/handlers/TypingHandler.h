#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"
#include "util/RateLimiter.h"

namespace parley {

class Dispatcher;

// typing: relayed to the other members at QoS 0, never stored, rate-limited per user. The limiter
// lives in this process: with N instances a user gets up to N times the configured rate.
class TypingHandler {
  public:
    explicit TypingHandler(HandlerContext context)
        : context_(context), limiter_(context.rules.typing.perSecond, context.rules.typing.burst) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json typing(const Command& command);

  private:
    HandlerContext context_;
    RateLimiter limiter_;
};

}  // namespace parley
