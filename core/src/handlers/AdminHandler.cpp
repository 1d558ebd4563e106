#include "handlers/AdminHandler.h"

#include <algorithm>

#include "protocol/ErrorCode.h"
#include "server/Dispatcher.h"

namespace parley {

void AdminHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("admin.reload", [this](const Command& c) { return reload(c); });
    dispatcher.add("admin.extensions", [this](const Command& c) { return listExtensions(c); });
}

void AdminHandler::requireAdmin(const Command& command) const {
    const auto& admins = context_.config.admins;
    if (std::find(admins.begin(), admins.end(), command.uid) == admins.end()) {
        throw ProtocolError(ErrorCode::Forbidden, "admin commands are for the config's admins");
    }
}

nlohmann::json AdminHandler::reload(const Command& command) {
    requireAdmin(command);
    return extensions_.reloadScripts();
}

nlohmann::json AdminHandler::listExtensions(const Command& command) {
    requireAdmin(command);
    return {{"extensions", extensions_.describe()}, {"stats", context_.hooks.stats()}};
}

}  // namespace parley
