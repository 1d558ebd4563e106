#pragma once

#include <nlohmann/json.hpp>

#include "extensions/ExtensionManager.h"
#include "handlers/HandlerContext.h"
#include "protocol/Command.h"

namespace parley {

class Dispatcher;

// Throws forbidden unless the command's sender is one of the config's admins.
void requireAdmin(const ChatRules& rules, const Command& command);
// A user as admins see them (docs/protocol.md, "User as admins see it"); `user` null when Parley
// has not seen them.
nlohmann::json adminUserJson(const std::string& uid, const std::optional<store::UserRecord>& user);

// admin.reload (recompile Lua scripts), admin.extensions (what is loaded, and how it fares),
// admin.user.get / admin.user.set / admin.users (profiles with what only admins see, such as the
// email address). Only for the uids listed in the config's "admins".
class AdminHandler {
  public:
    AdminHandler(HandlerContext context, ExtensionManager& extensions)
        : context_(context), extensions_(extensions) {}

    void registerOps(Dispatcher& dispatcher);
    nlohmann::json reload(const Command& command);
    nlohmann::json listExtensions(const Command& command);
    nlohmann::json getUser(const Command& command);
    nlohmann::json setUser(const Command& command);
    nlohmann::json listUsers(const Command& command);

  private:
    HandlerContext context_;
    ExtensionManager& extensions_;
};

}  // namespace parley
