#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// profile.set, profile.get, ping
class ProfileHandler {
  public:
    explicit ProfileHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json set(const Command& command);
    nlohmann::json get(const Command& command);
    nlohmann::json ping(const Command& command);

  private:
    HandlerContext context_;
};

}  // namespace parley
