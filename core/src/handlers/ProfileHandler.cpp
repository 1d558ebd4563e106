#include "handlers/ProfileHandler.h"

#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {
constexpr size_t kNameCharacters = 64;
}

void ProfileHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("profile.set", [this](const Command& c) { return set(c); });
    dispatcher.add("profile.get", [this](const Command& c) { return get(c); });
    dispatcher.add("ping", [this](const Command& c) { return ping(c); });
}

nlohmann::json ProfileHandler::set(const Command& command) {
    const Args args(command.args);
    auto name = args.optionalString("name", kNameCharacters);
    if (!name) {
        throw ProtocolError(ErrorCode::BadRequest, "\"name\" is required (a string, may be empty)");
    }
    if (hasControlCharacter(*name)) {
        throw ProtocolError(ErrorCode::BadRequest, "\"name\" must not contain control characters");
    }
    context_.store.setDisplayName(command.uid, *name, context_.clock.nowMs());
    return {{"user", command.uid}, {"name", *name}};
}

nlohmann::json ProfileHandler::get(const Command& command) {
    const Args args(command.args);
    const std::string uid = command.args.contains("user") ? args.requireUid("user") : command.uid;
    auto user = context_.store.user(uid);
    store::PresenceRecord presence{uid, store::PresenceState::Offline, false, std::nullopt};
    std::string name;
    if (user) {
        presence = user->presence;
        name = user->name;
    }
    return {{"user", uid}, {"name", name}, {"presence", presenceJson(presence)}};
}

nlohmann::json ProfileHandler::ping(const Command&) {
    return {{"ts", context_.clock.nowMs()}};
}

}  // namespace parley
