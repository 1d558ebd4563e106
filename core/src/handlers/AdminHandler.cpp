#include "handlers/AdminHandler.h"

#include <algorithm>

#include "dispatch/Dispatcher.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {

constexpr size_t kNameCharacters = 64;  // as profile.set
constexpr size_t kUidCharacters = 64;
constexpr size_t kMinEmailCharacters = 3;
constexpr size_t kMaxEmailCharacters = 254;  // the longest address SMTP can carry
constexpr int64_t kDefaultUsersPage = 100;
constexpr int64_t kMaxUsersPage = 1000;

// Deliberately loose: the only real check of an address is mail reaching it, and what the
// digest plugin sends decides that. This keeps out what is surely a mistake (no @, two of them,
// spaces, control characters).
bool isPlausibleEmail(const std::string& text) {
    const size_t characters = utf8Length(text);
    if (characters < kMinEmailCharacters || characters > kMaxEmailCharacters) {
        return false;
    }
    const size_t at = text.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == text.size() ||
        text.find('@', at + 1) != std::string::npos) {
        return false;
    }
    return text.find(' ') == std::string::npos && !hasControlCharacter(text);
}

}  // namespace

nlohmann::json adminUserJson(const std::string& uid, const std::optional<store::UserRecord>& user) {
    if (!user) {
        const store::PresenceRecord offline{uid, store::PresenceState::Offline, false,
                                            std::nullopt};
        return {{"user", uid},      {"known", false},        {"name", ""},
                {"email", nullptr}, {"created_at", nullptr}, {"presence", presenceJson(offline)}};
    }
    return {{"user", uid},
            {"known", true},
            {"name", user->name},
            {"email", user->email ? nlohmann::json(*user->email) : nlohmann::json(nullptr)},
            {"created_at", user->createdAt},
            {"presence", presenceJson(user->presence)}};
}

void requireAdmin(const ChatRules& rules, const Command& command) {
    if (!rules.isAdmin(command.uid)) {
        throw ProtocolError(ErrorCode::Forbidden, "admin commands are for the config's admins");
    }
}

void AdminHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("admin.reload", [this](const Command& c) { return reload(c); });
    dispatcher.add("admin.extensions", [this](const Command& c) { return listExtensions(c); });
    dispatcher.add("admin.user.get", [this](const Command& c) { return getUser(c); });
    dispatcher.add("admin.user.set", [this](const Command& c) { return setUser(c); });
    dispatcher.add("admin.users", [this](const Command& c) { return listUsers(c); });
}

nlohmann::json AdminHandler::reload(const Command& command) {
    requireAdmin(context_.rules, command);
    return extensions_.reloadScripts();
}

nlohmann::json AdminHandler::listExtensions(const Command& command) {
    requireAdmin(context_.rules, command);
    return {{"extensions", extensions_.describe()}, {"stats", context_.hooks.stats()}};
}

nlohmann::json AdminHandler::getUser(const Command& command) {
    requireAdmin(context_.rules, command);
    const std::string uid = Args(command.args).requireUid("user");
    return adminUserJson(uid, context_.store.user(uid));
}

nlohmann::json AdminHandler::setUser(const Command& command) {
    requireAdmin(context_.rules, command);
    const Args args(command.args);
    const std::string uid = args.requireUid("user");
    store::UserUpdate update;
    update.name = args.optionalString("name", kNameCharacters);
    if (update.name && hasControlCharacter(*update.name)) {
        throw ProtocolError(ErrorCode::BadRequest, "\"name\" must not contain control characters");
    }
    // Args reads null as absent; here null means "clear it", as "" does.
    if (command.args.contains("email")) {
        update.changeEmail = true;
        const auto& email = command.args["email"];
        if (email.is_string() && !email.get_ref<const std::string&>().empty()) {
            if (!isPlausibleEmail(email.get<std::string>())) {
                throw ProtocolError(ErrorCode::BadRequest,
                                    "\"email\" must be 3-254 characters with one @ and no spaces "
                                    "or control characters (null or \"\" clears it)");
            }
            update.email = email.get<std::string>();
        } else if (!email.is_null() && !email.is_string()) {
            throw ProtocolError(ErrorCode::BadRequest, "\"email\" must be a string or null");
        }
    }
    if (!update.name && !update.changeEmail) {
        throw ProtocolError(ErrorCode::BadRequest, "give \"name\" and/or \"email\" to change");
    }
    return adminUserJson(uid, context_.store.updateUser(uid, update, context_.clock.nowMs()));
}

nlohmann::json AdminHandler::listUsers(const Command& command) {
    requireAdmin(context_.rules, command);
    const Args args(command.args);
    const int limit =
        static_cast<int>(args.optionalInt("limit", 1, kMaxUsersPage).value_or(kDefaultUsersPage));
    const auto after = args.optionalString("after", kUidCharacters);
    const auto page = context_.store.listUsers(limit, after);
    nlohmann::json users = nlohmann::json::array();
    for (const auto& user : page.users) {
        users.push_back(adminUserJson(user.uid, user));
    }
    return {{"users", users},
            {"has_more", page.hasMore},
            {"next_after",
             page.hasMore ? nlohmann::json(page.users.back().uid) : nlohmann::json(nullptr)}};
}

}  // namespace parley
