// The Mosquitto side of Parley's broker plugin: plugin API v5 entry points and event callbacks
// for token login, subscription checks and the per-connection publish rate limit. Everything
// that decides lives in TokenVerifier, SubscriptionPolicy and PublishLimiter (tested without a
// broker); this file turns their verdicts into broker return codes and log lines, and never lets
// a C++ exception reach Mosquitto's C frames.

#include <mosquitto.h>
// 2.0.11's mosquitto_plugin.h does not include this one itself.
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <chrono>
#include <ctime>
#include <exception>
#include <memory>
#include <set>
#include <string>

#include "ExpiryWatch.h"
#include "JwtAuthSettings.h"
#include "LogText.h"
#include "PublishLimiter.h"
#include "SubscriptionPolicy.h"
#include "TokenVerifier.h"

namespace {

using namespace parley::jwtauth;

constexpr const char* kLogPrefix = "jwt_auth:";

struct PluginState {
    mosquitto_plugin_id_t* identifier = nullptr;
    PluginOptions options;  // kept for reloads: MOSQ_EVT_RELOAD brings none in 2.0
    std::unique_ptr<TokenVerifier> verifier;
    bool disconnectExpired = true;
    ExpiryWatch watch;
    time_t lastSweep = 0;
    std::unique_ptr<SubscriptionPolicy> subscriptions;
    std::unique_ptr<PublishLimiter> publishes;
    // Connections whose refused subscription was logged at notice level; the next at debug.
    std::set<const void*> refusalLogged;
};

int64_t monotonicMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string seconds(int64_t milliseconds) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(milliseconds) / 1000.0);
    return text;
}

std::string who(const char* username, const char* clientId) {
    return "user '" + printable(username == nullptr ? "" : username) + "' (client '" +
           printable(clientId == nullptr ? "" : clientId) + "')";
}

void logLoadedKeys(const JwtAuthSettings& settings, const char* when) {
    if (settings.keys.empty()) {
        mosquitto_log_printf(MOSQ_LOG_INFO,
                             "%s %s no keys: token login is off (every password goes to the "
                             "password file, a token is refused)",
                             kLogPrefix, when);
        return;
    }
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
                // A password login: the password file decides who it is, this broker's shard
                // whether it may be here (parleyd's accounts serve every shard).
                if (auth->username != nullptr && state->subscriptions &&
                    !state->subscriptions->serviceUsers().contains(auth->username)) {
                    if (auto elsewhere = state->verifier->wrongShard(auth->username);
                        !elsewhere.empty()) {
                        mosquitto_log_printf(MOSQ_LOG_NOTICE, "%s refused %s: %s", kLogPrefix,
                                             who(auth->username, clientId).c_str(),
                                             elsewhere.c_str());
                        return MOSQ_ERR_AUTH;
                    }
                }
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
        const auto expired =
            state->disconnectExpired
                ? state->watch.takeExpired(now, state->verifier->policy().leewaySeconds)
                : std::vector<ExpiryWatch::Entry>();
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
    try {
        const auto sweep = state->publishes->sweep(monotonicMs());
        for (const auto& ended : sweep.ended) {
            mosquitto_log_printf(
                MOSQ_LOG_NOTICE,
                "%s %s is back within its publish rate: %llu publishes dropped over %s", kLogPrefix,
                who(ended.who.username.c_str(), ended.who.clientId.c_str()).c_str(),
                static_cast<unsigned long long>(ended.dropped), seconds(ended.lastedMs).c_str());
        }
        // Here, not in the ACL check that saw the excess: the broker is in the middle of handling
        // that client's PUBLISH there, and a disconnect under its feet is not safe.
        for (const auto& kick : sweep.disconnects) {
            mosquitto_log_printf(
                MOSQ_LOG_NOTICE,
                "%s disconnecting %s: over its publish rate for %s, %llu publishes dropped",
                kLogPrefix, who(kick.who.username.c_str(), kick.who.clientId.c_str()).c_str(),
                seconds(kick.overMs).c_str(), static_cast<unsigned long long>(kick.dropped));
            mosquitto_kick_client_by_clientid(kick.who.clientId.c_str(), true);
        }
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s publish rate sweep failed: %s", kLogPrefix,
                             error.what());
    }
    return MOSQ_ERR_SUCCESS;
}

int checkSubscription(PluginState& state, const mosquitto_evt_acl_check& check) {
    const char* username = mosquitto_client_username(check.client);
    const auto verdict =
        state.subscriptions->check(username == nullptr ? "" : username, check.topic);
    if (verdict.decision == SubscriptionPolicy::Decision::Allow) {
        // Not refused here; the acl_file has the last word (in 2.0.11 it grants every SUBSCRIBE).
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    const bool first = state.refusalLogged.insert(check.client).second;
    mosquitto_log_printf(
        first ? MOSQ_LOG_NOTICE : MOSQ_LOG_DEBUG, "%s refused the subscription of %s to '%s': %s%s",
        kLogPrefix, who(username, mosquitto_client_id(check.client)).c_str(),
        printable(check.topic == nullptr ? "" : check.topic).c_str(), verdict.reason.c_str(),
        first ? " (this connection's next refusals are logged at debug level)" : "");
    return MOSQ_ERR_ACL_DENIED;
}

int checkPublish(PluginState& state, const mosquitto_evt_acl_check& check) {
    const char* username = mosquitto_client_username(check.client);
    const char* clientId = mosquitto_client_id(check.client);
    const auto admission = state.publishes->admit(check.client, username, clientId, monotonicMs());
    if (admission.allowed) {
        return MOSQ_ERR_PLUGIN_DEFER;  // the acl_file decides where it may publish
    }
    if (admission.episodeBegan) {
        const PublishLimits& limits = state.publishes->limits();
        mosquitto_log_printf(
            MOSQ_LOG_NOTICE,
            "%s %s publishes faster than %.0f/s (burst %.0f): its excess is dropped until it "
            "slows down%s",
            kLogPrefix, who(username, clientId).c_str(), limits.perSecond, limits.burst,
            limits.disconnectAfterMs > 0
                ? (", and it is disconnected if that lasts " + seconds(limits.disconnectAfterMs))
                      .c_str()
                : "");
    }
    // MQTT 5 clients get PUBACK "not authorized" (0x87); the message goes nowhere.
    return MOSQ_ERR_ACL_DENIED;
}

int onAclCheck(int /*event*/, void* eventData, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    const auto* check = static_cast<const mosquitto_evt_acl_check*>(eventData);
    try {
        switch (check->access) {
            case MOSQ_ACL_SUBSCRIBE:
                return checkSubscription(*state, *check);
            case MOSQ_ACL_WRITE:
                return checkPublish(*state, *check);
            default:
                // READ (every delivered message) and UNSUBSCRIBE: the acl_file's.
                return MOSQ_ERR_PLUGIN_DEFER;
        }
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s denied an access check: internal error: %s",
                             kLogPrefix, error.what());
    } catch (...) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s denied an access check: internal error", kLogPrefix);
    }
    return MOSQ_ERR_ACL_DENIED;  // fail closed
}

int onDisconnect(int /*event*/, void* eventData, void* userData) {
    auto* state = static_cast<PluginState*>(userData);
    const mosquitto* client = static_cast<mosquitto_evt_disconnect*>(eventData)->client;
    try {
        state->watch.forget(client);
        state->refusalLogged.erase(client);
        if (const auto ended = state->publishes->forget(client)) {
            mosquitto_log_printf(
                MOSQ_LOG_NOTICE,
                "%s %s disconnected while over its publish rate: %llu publishes dropped over %s",
                kLogPrefix, who(ended->who.username.c_str(), ended->who.clientId.c_str()).c_str(),
                static_cast<unsigned long long>(ended->dropped), seconds(ended->lastedMs).c_str());
        }
    } catch (const std::exception& error) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "%s disconnect: %s", kLogPrefix, error.what());
    }
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

struct Callback {
    int event;
    MOSQ_FUNC_generic_callback function;
};
constexpr Callback kCallbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, onBasicAuth},  {MOSQ_EVT_ACL_CHECK, onAclCheck},
    {MOSQ_EVT_RELOAD, onReload},         {MOSQ_EVT_TICK, onTick},
    {MOSQ_EVT_DISCONNECT, onDisconnect},
};

// Unregistering one that was never registered is harmless (MOSQ_ERR_NOT_FOUND).
void unregisterAll(PluginState& state) {
    for (const auto& callback : kCallbacks) {
        mosquitto_callback_unregister(state.identifier, callback.event, callback.function, nullptr);
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
        state->subscriptions =
            std::make_unique<SubscriptionPolicy>(settings.topicPrefix, settings.serviceUsers);
        state->publishes =
            std::make_unique<PublishLimiter>(settings.publishLimits, settings.serviceUsers);
        state->verifier =
            std::make_unique<TokenVerifier>(std::move(settings.keys), std::move(settings.policy));
        std::string services;
        for (const auto& user : state->subscriptions->serviceUsers()) {
            services += (services.empty() ? "" : ",") + user;
        }
        const PublishLimits& limits = state->publishes->limits();
        mosquitto_log_printf(
            MOSQ_LOG_INFO, "%s topics %s/..., service accounts %s; publishes per connection: %s",
            kLogPrefix, state->subscriptions->topicPrefix().c_str(), services.c_str(),
            limits.perSecond > 0
                ? (std::to_string(static_cast<long long>(limits.perSecond)) + "/s, burst " +
                   std::to_string(static_cast<long long>(limits.burst)) + ", disconnected after " +
                   (limits.disconnectAfterMs > 0 ? seconds(limits.disconnectAfterMs) : "never"))
                      .c_str()
                : "unlimited");

        // Subscriptions and the rate limit are not optional: without the ACL check any user can
        // join parleyd's shared subscription, and without tick and disconnect connections are
        // never forgotten. All or nothing.
        for (const auto& callback : kCallbacks) {
            if (mosquitto_callback_register(identifier, callback.event, callback.function, nullptr,
                                            state.get()) != MOSQ_ERR_SUCCESS) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "%s cannot register its callback for event %d",
                                     kLogPrefix, callback.event);
                unregisterAll(*state);
                return MOSQ_ERR_UNKNOWN;
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
