#pragma once

#include <nlohmann/json.hpp>

#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// A user's data, as privacy law asks of an operator: admin.user.export (everything the user wrote
// and their conversations, as JSON, in pages that each fit one MQTT payload) and admin.user.erase
// (their messages become tombstones, they leave their conversations, their profile is deleted).
// Only for the config's admins. docs/protocol.md describes both.
class UserDataHandler {
  public:
    explicit UserDataHandler(HandlerContext context) : context_(context) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json exportUser(const Command& command);
    nlohmann::json eraseUser(const Command& command);

    // A page holds items until the next would take its JSON past this many bytes (always at least
    // one item): far below the broker's 1 MB packet limit, even with one message at the body
    // limit whose every byte JSON escapes as \uXXXX.
    static constexpr size_t kExportPageBytes = 256 * 1024;

  private:
    HandlerContext context_;
};

}  // namespace parley
