// The Mosquitto side of Parley's JWT login: plugin API v5 entry points and event callbacks.
// Everything that decides lives in TokenVerifier (tested without a broker); this file turns its
// verdicts into broker return codes and log lines, and never lets a C++ exception reach
// Mosquitto's C frames.

#include <mosquitto.h>
// 2.0.11's mosquitto_plugin.h does not include this one itself.
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <ctime>
#include <exception>
#include <memory>
#include <string>

#include "ExpiryWatch.h"
#include "JwtAuthSettings.h"
#include "LogText.h"
#include "TokenVerifier.h"

namespace {

using namespace parley::jwtauth;

constexpr const char* kLogPrefix = "jwt_auth:";

struct PluginState {
    mosquitto_plugin_id_t* identifier = nullptr;
    PluginOptions options;  // kept for reloads: MOSQ_EVT_RELOAD brings none in 2.0
    std::unique_ptr<TokenVerifier> verifier;
    bool disconnectExpired = true;
    bool tickRegistered = false;
    bool disconnectRegistered = false;
    ExpiryWatch watch;
    time_t lastSweep = 0;
};

std::string who(const char* username, const char* clientId) {
    return "user '" + printable(username == nullptr ? "" : username) + "' (client '" +
           printable(clientId == nullptr ? "" : clientId) + "')";
}

void logLoadedKeys(const JwtAuthSettings& settings, const char* when) {
    mosquitto_log_printf(
        MOSQ_LOG_INFO, "%s %s keys: %s; issuer %s, audience %s, leeway %lld s", kLogPrefix, when,
        settings.keys.describe().c_str(),
        settings.policy.issuer.empty() ? "(any)" : settings.policy.issuer.c_str(),
        settings.policy.audience.empty() ? "(any)" : settings.policy.audience.c_str(),
        static_cast<long long>(settings.policy.leewaySeconds));
    if (!settings.skippedFiles.empty()) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "%s key_dir: ignored files that are not keys: %s",
                             kLogPrefix, settings.skippedFiles.c_str());
    }
}

int onBasicAuth(int /*event*/, void* eventData, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    auto* auth = static_cast<mosquitto_evt_basic_auth*>(eventData);
    const char* clientId = mosquitto_client_id(auth->client);
    try {
        const Verdict verdict = state->verifier->verify(auth->username, clientId, auth->password,
                                                        static_cast<int64_t>(std::time(nullptr)));
        switch (verdict.decision) {
            case Decision::Defer:
                mosquitto_log_printf(MOSQ_LOG_DEBUG, "%s %s: %s, deferred to the password file",
                                     kLogPrefix, who(auth->username, clientId).c_str(),
                                     verdict.reason.c_str());
                return MOSQ_ERR_PLUGIN_DEFER;
            case Decision::Refuse: {
                const char* address = mosquitto_client_address(auth->client);
                mosquitto_log_printf(MOSQ_LOG_NOTICE, "%s refused %s from %s: %s", kLogPrefix,
                                     who(auth->username, clientId).c_str(),
                                     address == nullptr ? "?" : address, verdict.reason.c_str());
                return MOSQ_ERR_AUTH;
            }
            case Decision::Accept:
                if (state->disconnectExpired) {
                    state->watch.track(
                        auth->client,
                        {clientId == nullptr ? "" : clientId,
                         auth->username == nullptr ? "" : auth->username, verdict.expiresAt});
                }
                mosquitto_log_printf(MOSQ_LOG_INFO, "%s accepted %s, token valid until %s",
                                     kLogPrefix, who(auth->username, clientId).c_str(),
                                     isoTime(verdict.expiresAt).c_str());
                return MOSQ_ERR_SUCCESS;
        }
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s refused %s: internal error: %s", kLogPrefix,
                             who(auth->username, clientId).c_str(), error.what());
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s refused %s: internal error", kLogPrefix,
                             who(auth->username, clientId).c_str());
    }
    return MOSQ_ERR_AUTH;  // fail closed
}

int onTick(int /*event*/, void* /*eventData*/, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    const time_t now = std::time(nullptr);
    if (now == state->lastSweep) {
        return MOSQ_ERR_SUCCESS;  // ticks come many times a second; tokens expire by the second
    }
    state->lastSweep = now;
    try {
        // Taken out of the watch first: kicking fires MOSQ_EVT_DISCONNECT, which forgets.
        const auto expired = state->watch.takeExpired(now, state->verifier->policy().leewaySeconds);
        for (const auto& entry : expired) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "%s disconnecting %s: token expired at %s",
                                 kLogPrefix,
                                 who(entry.username.c_str(), entry.clientId.c_str()).c_str(),
                                 isoTime(entry.expiresAt).c_str());
            // With its will: Parley's clients announce "offline" through it.
            mosquitto_kick_client_by_clientid(entry.clientId.c_str(), true);
        }
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s expiry sweep failed: %s", kLogPrefix, error.what());
    }
    return MOSQ_ERR_SUCCESS;
}

int onDisconnect(int /*event*/, void* eventData, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    state->watch.forget(static_cast<mosquitto_evt_disconnect*>(eventData)->client);
    return MOSQ_ERR_SUCCESS;
}

int onReload(int /*event*/, void* /*eventData*/, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    // Key files are read again, so a key dropped into key_dir (or a replaced file) takes effect
    // on SIGHUP without dropping connections. A broken new set keeps the old one.
    try {
        JwtAuthSettings settings = parseSettings(state->options);
        logLoadedKeys(settings, "reloaded");
        state->verifier =
            std::make_unique<TokenVerifier>(std::move(settings.keys), std::move(settings.policy));
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s reload failed, keeping the previous keys: %s",
                             kLogPrefix, error.what());
    }
    return MOSQ_ERR_SUCCESS;
}

void unregisterAll(PluginState& state) {
    mosquitto_callback_unregister(state.identifier, MOSQ_EVT_BASIC_AUTH, onBasicAuth, nullptr);
    mosquitto_callback_unregister(state.identifier, MOSQ_EVT_RELOAD, onReload, nullptr);
    if (state.tickRegistered) {
        mosquitto_callback_unregister(state.identifier, MOSQ_EVT_TICK, onTick, nullptr);
    }
    if (state.disconnectRegistered) {
        mosquitto_callback_unregister(state.identifier, MOSQ_EVT_DISCONNECT, onDisconnect, nullptr);
    }
}

}  // namespace

extern "C" {

int mosquitto_plugin_version(int supportedVersionCount, const int* supportedVersions) {
    for (int i = 0; i < supportedVersionCount; ++i) {
        if (supportedVersions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userData,
                          struct mosquitto_opt* options, int optionCount) {
    try {
        auto state = std::make_unique<PluginState>();
        state->identifier = identifier;
        for (int i = 0; i < optionCount; ++i) {
            state->options.emplace_back(options[i].key == nullptr ? "" : options[i].key,
                                        options[i].value == nullptr ? "" : options[i].value);
        }
        JwtAuthSettings settings = parseSettings(state->options);
        logLoadedKeys(settings, "loaded");
        state->disconnectExpired = settings.disconnectExpired;
        state->verifier =
            std::make_unique<TokenVerifier>(std::move(settings.keys), std::move(settings.policy));

        if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, onBasicAuth, nullptr,
                                        state.get()) != MOSQ_ERR_SUCCESS ||
            mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, onReload, nullptr,
                                        state.get()) != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "%s cannot register its callbacks", kLogPrefix);
            unregisterAll(*state);
            return MOSQ_ERR_UNKNOWN;
        }
        if (state->disconnectExpired) {
            state->tickRegistered =
                mosquitto_callback_register(identifier, MOSQ_EVT_TICK, onTick, nullptr,
                                            state.get()) == MOSQ_ERR_SUCCESS;
            state->disconnectRegistered =
                mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, onDisconnect, nullptr,
                                            state.get()) == MOSQ_ERR_SUCCESS;
            if (!state->tickRegistered || !state->disconnectRegistered) {
                // Without both, a stale entry could kick someone else: do without.
                mosquitto_log_printf(MOSQ_LOG_WARNING,
                                     "%s this broker lacks tick/disconnect events: clients stay "
                                     "connected past their token's expiry",
                                     kLogPrefix);
                state->disconnectExpired = false;
            }
        }
        *userData = state.release();
        return MOSQ_ERR_SUCCESS;
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s not started: %s", kLogPrefix, error.what());
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s not started", kLogPrefix);
    }
    return MOSQ_ERR_INVAL;
}

int mosquitto_plugin_cleanup(void* userData, struct mosquitto_opt* /*options*/,
                             int /*optionCount*/) {
    std::unique_ptr<PluginState> state(static_cast<PluginState*>(userData));
    if (state) {
        unregisterAll(*state);
    }
    return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
