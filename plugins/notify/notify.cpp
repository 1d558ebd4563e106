// Email digests and push notifications for users who are away (docs/notifications.md): the
// shared-object plugin's entry points. Everything goes through the host table of plugin.h.

#include <cstring>
#include <memory>
#include <stdexcept>

#include "Notifier.h"
#include "parley/plugin.h"

namespace {

using nlohmann::json;
using parley::notify::Notifier;

struct PluginState {
    parley_plugin* self = nullptr;
    const parley_host* host = nullptr;
    std::unique_ptr<Notifier> notifier;
};

bool validUid(const std::string& uid) {
    return !uid.empty() && uid.size() <= 64 && uid.find('/') == std::string::npos;
}

parley_status rejectWith(const PluginState* state, parley_call* call, const char* code,
                         const std::string& message) {
    state->host->reject(call, code, message.c_str());
    return PARLEY_REJECT;
}

parley_status replyWith(const PluginState* state, parley_call* call, const json& reply) {
    const std::string text = reply.dump();
    return state->host->reply(call, text.c_str());
}

// Whose preferences a command is about: the sender's own, or (admins only) another "user".
// Naming oneself is allowed: a client or parleyctl may always say whom it means.
bool subjectOf(const parley_command_event* command, const json& args, std::string& uid) {
    uid = command->uid;
    if (args.contains("user")) {
        if (!args["user"].is_string() || (!command->is_admin && args["user"] != uid)) {
            return false;
        }
        uid = args["user"].get<std::string>();
    }
    return validUid(uid);
}

parley_status onCommand(parley_call* call, const void* event, void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    const auto* command = static_cast<const parley_command_event*>(event);
    const json args = json::parse(command->args_json, nullptr, false);
    if (!args.is_object()) {
        return rejectWith(state, call, "bad_request", "the command is not a JSON object");
    }
    const std::string op = command->op;
    std::string uid;
    if (!subjectOf(command, args, uid)) {
        return rejectWith(state, call, "forbidden",
                          "only admins name another \"user\", and it must be a user id");
    }
    try {
        if (op == "notify.prefs.get") {
            return replyWith(state, call,
                             {{"user", uid}, {"prefs", state->notifier->preferences(uid)}});
        }
        if (op == "notify.prefs.set") {
            return replyWith(
                state, call,
                {{"user", uid}, {"prefs", state->notifier->setPreferences(uid, args)}});
        }
        if (op == "notify.push.register" || op == "notify.push.unregister") {
            if (!args.contains("token") || !args["token"].is_string() ||
                args["token"].get<std::string>().empty() ||
                args["token"].get<std::string>().size() > 4096) {
                return rejectWith(state, call, "bad_request",
                                  "\"token\" must be a string of 1-4096 bytes");
            }
            const std::string platform = args.value("platform", "");
            if (platform.size() > 32) {
                return rejectWith(state, call, "bad_request", "\"platform\" is too long");
            }
            state->notifier->registerDevice(uid, args["token"], platform,
                                            op == "notify.push.register");
            return PARLEY_OK;
        }
    } catch (const std::invalid_argument& error) {
        return rejectWith(state, call, "bad_request", error.what());
    } catch (const std::exception& error) {
        state->host->log(state->self, PARLEY_LOG_ERROR, error.what());
        return rejectWith(state, call, "unavailable", "try again later");
    }
    return PARLEY_DEFER;
}

// Any change to online (from offline or away) counts as the user having been there.
parley_status onPresenceChanged(parley_call*, const void* event, void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    const auto* presence = static_cast<const parley_presence_event*>(event);
    if (std::strcmp(presence->state, "online") != 0) {
        return PARLEY_OK;
    }
    try {
        state->notifier->userConnected(presence->uid);
    } catch (const std::exception&) {
        // Cancelling is a courtesy: the digest checks presence again before it is sent.
        return PARLEY_ERR_UNAVAILABLE;
    }
    return PARLEY_OK;
}

parley_status onUnsubscribe(const parley_http_request* request, parley_http_response* response,
                            void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    // A one-click client (RFC 8058) POSTs "List-Unsubscribe=One-Click" with the link's query.
    auto [status, body] = state->notifier->unsubscribe(request->method, request->query);
    return state->host->http_respond(response, status, "text/html; charset=utf-8", body.data(),
                                     body.size());
}

}  // namespace

extern "C" {

PARLEY_PLUGIN_EXPORT int parley_plugin_version(const int* supported, size_t count) {
    return parley_plugin_pick_version(supported, count);
}

PARLEY_PLUGIN_EXPORT parley_status parley_plugin_init(parley_plugin* self, const parley_host* host,
                                                      void** out) {
    if (!PARLEY_HOST_HAS(host, http_respond)) {
        host->log(self, PARLEY_LOG_ERROR, "this parleyd lacks unread_scan and HTTP routes");
        return PARLEY_ERR_VERSION;
    }
    auto state = std::make_unique<PluginState>();
    state->self = self;
    state->host = host;
    try {
        const json options = json::parse(host->options_json(self));
        state->notifier =
            std::make_unique<Notifier>(parley::notify::Host(self, host),
                                       parley::notify::NotifierSettings::fromOptions(options));
    } catch (const std::exception& error) {
        host->log(self, PARLEY_LOG_ERROR, error.what());
        return PARLEY_ERR_INVALID;
    }
    for (const char* op : {"notify.prefs.get", "notify.prefs.set", "notify.push.register",
                           "notify.push.unregister"}) {
        if (host->command_register(self, op, &onCommand, state.get()) != PARLEY_OK) {
            return PARLEY_ERR_INTERNAL;
        }
    }
    if (host->hook_register(self, PARLEY_HOOK_PRESENCE_CHANGED, &onPresenceChanged, state.get()) !=
            PARLEY_OK ||
        host->http_route_register(self, "/unsubscribe", &onUnsubscribe, state.get()) != PARLEY_OK) {
        return PARLEY_ERR_INTERNAL;
    }
    state->notifier->start();
    *out = state.release();
    return PARLEY_OK;
}

PARLEY_PLUGIN_EXPORT void parley_plugin_cleanup(parley_plugin*, void* data) {
    std::unique_ptr<PluginState> state(static_cast<PluginState*>(data));
    state->notifier->stop();
}

}  // extern "C"
