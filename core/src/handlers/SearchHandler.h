#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// msg.search: full-text search over the messages the caller may read (docs/design.md, "Search").
class SearchHandler {
  public:
    explicit SearchHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json search(const Command& command);

  private:
    HandlerContext context_;
};

}  // namespace parley
