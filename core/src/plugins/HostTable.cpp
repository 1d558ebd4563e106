#include "plugins/HostTable.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <type_traits>

#include "hooks/Hook.h"
#include "plugins/PluginAdapters.h"
#include "plugins/PluginCall.h"
#include "plugins/PluginInstance.h"
#include "plugins/PluginRegistry.h"
#include "plugins/PluginStatus.h"
#include "store/Store.h"
#include "util/Clock.h"

namespace parley {

namespace {

// Runs a host function's body with every exception turned into a status: nothing may unwind
// into the plugin's (C) frames.
template <typename Body>
parley_status guarded(const std::string& plugin, const char* function, Body&& body) noexcept {
    try {
        return body();
    } catch (const ProtocolError& error) {
        spdlog::debug("plugin '{}': {} refused: {} ({})", plugin, function, error.what(),
                      errorCodeName(error.code()));
        return statusOf(error.code());
    } catch (const store::StoreUnavailable& error) {
        spdlog::warn("plugin '{}': {}: store unavailable: {}", plugin, function, error.what());
        return PARLEY_ERR_UNAVAILABLE;
    } catch (const std::exception& error) {
        spdlog::error("plugin '{}': {} failed: {}", plugin, function, error.what());
        return PARLEY_ERR_INTERNAL;
    } catch (...) {
        spdlog::error("plugin '{}': {} failed: unknown exception", plugin, function);
        return PARLEY_ERR_INTERNAL;
    }
}

template <typename Body>
parley_status withPlugin(parley_plugin* self, const char* function, Body&& body) noexcept {
    std::shared_ptr<PluginInstance> plugin;
    try {
        plugin = PluginRegistry::global().find(self);
    } catch (...) {
        return PARLEY_ERR_INTERNAL;
    }
    if (!plugin) {
        spdlog::debug("{} called with a handle that is no loaded plugin", function);
        return PARLEY_ERR_INVALID;
    }
    return guarded(plugin->name(), function, [&] { return body(*plugin); });
}

template <typename Body>
parley_status withCall(parley_call* handle, const char* function, Body&& body) noexcept {
    PluginCall* call = PluginCall::active(handle);
    if (call == nullptr) {
        spdlog::debug("{} called outside the callback that received the call", function);
        return PARLEY_ERR_INVALID;
    }
    return guarded(call->pluginName(), function, [&] { return body(*call); });
}

std::string requireText(const char* text, const char* what) {
    if (text == nullptr) {
        throw ProtocolError(ErrorCode::BadRequest, std::string(what) + " is NULL");
    }
    return text;
}

nlohmann::json requireJson(const char* text, const char* what) {
    auto value = nlohmann::json::parse(requireText(text, what), nullptr, false);
    if (value.is_discarded()) {
        throw ProtocolError(ErrorCode::BadRequest, std::string(what) + " is not JSON (UTF-8)");
    }
    return value;
}

template <typename Out>
void require(Out* out, const char* what) {
    if (out == nullptr) {
        throw ProtocolError(ErrorCode::BadRequest, std::string(what) + " is NULL");
    }
}

// A buffer the plugin frees with buffer_free: malloc'ed, so a C plugin could even free() it.
parley_status fill(parley_buffer* out, const std::string& text) {
    auto* data = static_cast<char*>(std::malloc(text.size() + 1));
    if (data == nullptr) {
        throw std::bad_alloc();
    }
    std::memcpy(data, text.data(), text.size());
    data[text.size()] = '\0';
    out->data = data;
    out->len = text.size();
    return PARLEY_OK;
}

void clear(parley_buffer* out) {
    if (out != nullptr) {
        out->data = nullptr;
        out->len = 0;
    }
}

// A C caller may pass any integer as one of plugin.h's enums, and reading a value outside the
// enum's range as the C++ enum is undefined: enums from plugins are only read as their bytes,
// so they are taken by reference and never copied as the enum.
template <typename Enum>
int64_t rawValue(const Enum& value) {
    std::underlying_type_t<Enum> raw;
    std::memcpy(&raw, &value, sizeof raw);
    return static_cast<int64_t>(raw);
}

std::optional<Hook> hookOf(const parley_hook& hook) {
    const int64_t id = rawValue(hook);
    if (id < 1 || id > kHookCount) {
        return std::nullopt;
    }
    return static_cast<Hook>(id);
}

parley_status hookRegister(parley_plugin* self, parley_hook hook, parley_hook_fn fn,
                           void* userdata) noexcept {
    return withPlugin(self, "hook_register", [&](PluginInstance& plugin) {
        const auto known = hookOf(hook);
        if (!known || fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        return plugin.registerHook(*known, fn, userdata);
    });
}

parley_status hookUnregister(parley_plugin* self, parley_hook hook, parley_hook_fn fn,
                             void* userdata) noexcept {
    return withPlugin(self, "hook_unregister", [&](PluginInstance& plugin) {
        const auto known = hookOf(hook);
        if (!known || fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        return plugin.unregisterHook(*known, fn, userdata);
    });
}

parley_status commandRegister(parley_plugin* self, const char* op, parley_command_fn fn,
                              void* userdata) noexcept {
    return withPlugin(self, "command_register", [&](PluginInstance& plugin) {
        const std::string name = requireText(op, "op");
        if (fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        return plugin.registerCommand(name, fn, userdata);
    });
}

parley_status commandRegisterBytes(parley_plugin* self, const char* op, parley_command_fn fn,
                                   void* userdata) noexcept {
    return withPlugin(self, "command_register_bytes", [&](PluginInstance& plugin) {
        const std::string name = requireText(op, "op");
        if (fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        return plugin.registerCommand(name, fn, userdata, true);
    });
}

parley_status reject(parley_call* call, const char* code, const char* message) noexcept {
    return withCall(call, "reject", [&](PluginCall& c) { return c.reject(code, message); });
}

parley_status rejectWith(parley_call* call, const char* code, const char* message,
                         const char* detailsJson) noexcept {
    return withCall(call, "reject_with",
                    [&](PluginCall& c) { return c.rejectWith(code, message, detailsJson); });
}

parley_status setBody(parley_call* call, const char* body, size_t bodyLen) noexcept {
    return withCall(call, "set_body", [&](PluginCall& c) { return c.setBody(body, bodyLen); });
}

parley_status setMeta(parley_call* call, const char* metaJson) noexcept {
    return withCall(call, "set_meta", [&](PluginCall& c) { return c.setMeta(metaJson); });
}

parley_status setAttachments(parley_call* call, const char* attachmentsJson) noexcept {
    return withCall(call, "set_attachments",
                    [&](PluginCall& c) { return c.setAttachments(attachmentsJson); });
}

parley_status reply(parley_call* call, const char* replyJson) noexcept {
    return withCall(call, "reply", [&](PluginCall& c) { return c.reply(replyJson); });
}

parley_status replyBytes(parley_call* call, const char* replyJson, const char* bytes,
                         size_t len) noexcept {
    return withCall(call, "reply_bytes",
                    [&](PluginCall& c) { return c.replyWithBytes(replyJson, bytes, len); });
}

parley_status publishToUser(parley_plugin* self, const char* uid, const char* eventJson) noexcept {
    return withPlugin(self, "publish_to_user", [&](PluginInstance& plugin) {
        plugin.services().publishToUser(plugin.name(), requireText(uid, "uid"),
                                        requireJson(eventJson, "event_json"));
        return PARLEY_OK;
    });
}

parley_status publishToConversation(parley_plugin* self, const char* conv,
                                    const char* eventJson) noexcept {
    return withPlugin(self, "publish_to_conversation", [&](PluginInstance& plugin) {
        plugin.services().publishToConversation(plugin.name(), requireText(conv, "conv"),
                                                requireJson(eventJson, "event_json"));
        return PARLEY_OK;
    });
}

parley_status postMessage(parley_plugin* self, const char* conv, const char* cmid, const char* body,
                          const char* metaJson, int64_t* seqOut) noexcept {
    return withPlugin(self, "post_message", [&](PluginInstance& plugin) {
        const auto stored = plugin.services().postMessage(
            plugin.name(), requireText(conv, "conv"),
            cmid != nullptr ? std::optional<std::string>(cmid) : std::nullopt,
            requireText(body, "body"),
            metaJson != nullptr ? requireJson(metaJson, "meta_json") : nlohmann::json());
        if (seqOut != nullptr) {
            *seqOut = stored.seq;
        }
        return PARLEY_OK;
    });
}

parley_status conversationGet(parley_plugin* self, const char* conv, parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "conversation_get", [&](PluginInstance& plugin) {
        require(out, "out");
        const auto summary = plugin.services().conversation(requireText(conv, "conv"));
        return summary ? fill(out, summary->dump()) : PARLEY_ERR_NOT_FOUND;
    });
}

parley_status userGet(parley_plugin* self, const char* uid, parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "user_get", [&](PluginInstance& plugin) {
        require(out, "out");
        return fill(out, plugin.services().user(requireText(uid, "uid")).dump());
    });
}

parley_status kvGet(parley_plugin* self, const char* key, parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "kv_get", [&](PluginInstance& plugin) {
        require(out, "out");
        const auto value = plugin.services().kvGet(plugin.name(), requireText(key, "key"));
        return value ? fill(out, *value) : PARLEY_ERR_NOT_FOUND;
    });
}

parley_status kvSet(parley_plugin* self, const char* key, const char* value, size_t valueLen,
                    int64_t ttlMs) noexcept {
    return withPlugin(self, "kv_set", [&](PluginInstance& plugin) {
        if (value == nullptr && valueLen > 0) {
            return PARLEY_ERR_INVALID;
        }
        plugin.services().kvSet(plugin.name(), requireText(key, "key"),
                                value != nullptr ? std::string(value, valueLen) : std::string(),
                                ttlMs);
        return PARLEY_OK;
    });
}

parley_status kvDelete(parley_plugin* self, const char* key) noexcept {
    return withPlugin(self, "kv_delete", [&](PluginInstance& plugin) {
        return plugin.services().kvDelete(plugin.name(), requireText(key, "key"))
                   ? PARLEY_OK
                   : PARLEY_ERR_NOT_FOUND;
    });
}

parley_status kvIncr(parley_plugin* self, const char* key, int64_t delta, int64_t ttlMs,
                     int64_t* valueOut) noexcept {
    return withPlugin(self, "kv_incr", [&](PluginInstance& plugin) {
        const int64_t value =
            plugin.services().kvIncr(plugin.name(), requireText(key, "key"), delta, ttlMs);
        if (valueOut != nullptr) {
            *valueOut = value;
        }
        return PARLEY_OK;
    });
}

parley_status kvList(parley_plugin* self, const char* prefix, size_t limit,
                     parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "kv_list", [&](PluginInstance& plugin) {
        require(out, "out");
        nlohmann::json entries = nlohmann::json::object();
        for (auto& [key, value] :
             plugin.services().kvList(plugin.name(), requireText(prefix, "prefix"), limit)) {
            entries[key] = std::move(value);
        }
        return fill(out, entries.dump());
    });
}

parley_status kvListAfter(parley_plugin* self, const char* prefix, const char* after, size_t limit,
                          parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "kv_list_after", [&](PluginInstance& plugin) {
        require(out, "out");
        nlohmann::json entries = nlohmann::json::object();
        for (auto& [key, value] :
             plugin.services().kvList(plugin.name(), requireText(prefix, "prefix"), limit,
                                      after != nullptr ? std::string(after) : std::string())) {
            entries[key] = std::move(value);
        }
        return fill(out, entries.dump());
    });
}

std::optional<std::string> optionalText(const char* text) {
    return text != nullptr ? std::optional<std::string>(text) : std::nullopt;
}

parley_status contextUpdate(parley_plugin* self, const char* type, const char* id,
                            const char* title, const char* status,
                            parley_buffer* conversationIdsOut) noexcept {
    clear(conversationIdsOut);
    return withPlugin(self, "context_update", [&](PluginInstance& plugin) {
        const auto ids = plugin.services().updateContext(plugin.name(), requireText(type, "type"),
                                                         requireText(id, "id"), optionalText(title),
                                                         optionalText(status));
        return conversationIdsOut != nullptr ? fill(conversationIdsOut, nlohmann::json(ids).dump())
                                             : PARLEY_OK;
    });
}

parley_status contextConversations(parley_plugin* self, const char* type, const char* id,
                                   size_t limit, parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "context_conversations", [&](PluginInstance& plugin) {
        require(out, "out");
        if (limit < 1 || limit > ExtensionServices::kMaxListLimit) {
            return PARLEY_ERR_INVALID;
        }
        const auto ids = plugin.services().conversationsAbout(
            requireText(type, "type"), requireText(id, "id"), static_cast<int>(limit));
        return fill(out, nlohmann::json(ids).dump());
    });
}

parley_status messagesGet(parley_plugin* self, const char* conv, int64_t before, int64_t after,
                          size_t limit, parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "messages_get", [&](PluginInstance& plugin) {
        require(out, "out");
        const auto bound = [](int64_t seq) {
            return seq >= 0 ? std::optional<int64_t>(seq) : std::nullopt;
        };
        // The service refuses a limit outside 1-100; the clamp only keeps the cast from wrapping.
        const int bounded = static_cast<int>(std::min<size_t>(limit, 101));
        return fill(out,
                    plugin.services()
                        .messages(requireText(conv, "conv"), bound(before), bound(after), bounded)
                        .dump());
    });
}

parley_status dropRecipient(parley_call* call, const char* uid) noexcept {
    return withCall(call, "drop_recipient", [&](PluginCall& c) { return c.dropRecipient(uid); });
}

parley_status textFold(parley_plugin* self, int form, const char* text, size_t len,
                       parley_buffer* out, parley_buffer* spansOut) noexcept {
    clear(out);
    clear(spansOut);
    return withPlugin(self, "text_fold", [&](PluginInstance& plugin) {
        require(out, "out");
        if ((text == nullptr && len > 0) ||
            (form != PARLEY_TEXT_NORMALIZED && form != PARLEY_TEXT_SKELETON)) {
            return PARLEY_ERR_INVALID;
        }
        const auto folded = plugin.services().foldText(
            std::string_view(text != nullptr ? text : "", len),
            form == PARLEY_TEXT_SKELETON ? TextForm::Skeleton : TextForm::Normalized,
            spansOut != nullptr);
        std::string spans;
        if (spansOut != nullptr) {
            spans = "[";
            for (size_t i = 0; i < folded.text.size(); ++i) {
                spans += (i == 0 ? "[" : ",[") + std::to_string(folded.sourceFirst[i]) + "," +
                         std::to_string(folded.sourceLast[i]) + "]";
            }
            spans += "]";
        }
        fill(out, folded.text);
        if (spansOut != nullptr) {
            try {
                fill(spansOut, spans);
            } catch (...) {
                std::free(out->data);  // a failed call leaves both buffers empty
                clear(out);
                throw;
            }
        }
        return PARLEY_OK;
    });
}

parley_status unreadScan(parley_plugin* self, int64_t sinceMs, const char* uid, size_t limit,
                         parley_buffer* out) noexcept {
    clear(out);
    return withPlugin(self, "unread_scan", [&](PluginInstance& plugin) {
        require(out, "out");
        if (limit < 1 || limit > ExtensionServices::kMaxListLimit) {
            return PARLEY_ERR_INVALID;
        }
        return fill(out, plugin.services()
                             .unreadMembers(sinceMs, optionalText(uid), static_cast<int>(limit))
                             .dump());
    });
}

parley_status httpRouteRegister(parley_plugin* self, const char* path, parley_http_fn fn,
                                void* userdata) noexcept {
    return withPlugin(self, "http_route_register", [&](PluginInstance& plugin) {
        if (fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        return plugin.registerHttpRoute(requireText(path, "path"), fn, userdata);
    });
}

parley_status httpRespond(parley_http_response* response, int status, const char* contentType,
                          const char* body, size_t bodyLen) noexcept {
    try {
        return respondHttp(response, status, contentType, body, bodyLen) ? PARLEY_OK
                                                                         : PARLEY_ERR_INVALID;
    } catch (...) {
        return PARLEY_ERR_INTERNAL;
    }
}

parley_status httpRespondFile(parley_http_response* response, int status, const char* contentType,
                              const char* path, const char* headersJson) noexcept {
    try {
        return respondHttpFile(response, status, contentType, path, headersJson);
    } catch (...) {
        return PARLEY_ERR_INTERNAL;
    }
}

const char* optionsJson(parley_plugin* self) noexcept {
    try {
        const auto plugin = PluginRegistry::global().find(self);
        // The text lives in the instance, which lives until the plugin is unloaded.
        return plugin ? plugin->optionsJson() : nullptr;
    } catch (...) {
        return nullptr;
    }
}

// The option at `name`, a dotted path into the plugin's options; nullptr if absent or null.
const nlohmann::json* optionAt(const nlohmann::json& options, const std::string& name) {
    const nlohmann::json* at = &options;
    size_t start = 0;
    for (;;) {
        const size_t dot = name.find('.', start);
        if (!at->is_object()) {
            return nullptr;
        }
        const auto found =
            at->find(name.substr(start, dot == std::string::npos ? dot : dot - start));
        if (found == at->end()) {
            return nullptr;
        }
        at = &*found;
        if (dot == std::string::npos) {
            return at->is_null() ? nullptr : at;
        }
        start = dot + 1;
    }
}

// Runs `read` on the plugin's option `name`: PARLEY_ERR_NOT_FOUND if there is none.
template <typename Read>
parley_status withOption(parley_plugin* self, const char* function, const char* name,
                         Read&& read) noexcept {
    return withPlugin(self, function, [&](PluginInstance& plugin) {
        const std::string path = requireText(name, "name");
        const auto options = nlohmann::json::parse(plugin.optionsJson());
        const nlohmann::json* value = optionAt(options, path);
        return value == nullptr ? PARLEY_ERR_NOT_FOUND : read(*value);
    });
}

parley_status optionInt(parley_plugin* self, const char* name, int64_t* out) noexcept {
    return withOption(self, "option_int", name, [&](const nlohmann::json& value) {
        require(out, "out");
        const bool fits = value.is_number_integer() &&
                          (!value.is_number_unsigned() ||
                           value.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()});
        if (!fits) {
            return PARLEY_ERR_INVALID;
        }
        *out = value.get<int64_t>();
        return PARLEY_OK;
    });
}

parley_status optionBool(parley_plugin* self, const char* name, bool* out) noexcept {
    return withOption(self, "option_bool", name, [&](const nlohmann::json& value) {
        require(out, "out");
        if (!value.is_boolean()) {
            return PARLEY_ERR_INVALID;
        }
        *out = value.get<bool>();
        return PARLEY_OK;
    });
}

parley_status optionString(parley_plugin* self, const char* name, char* out, size_t size) noexcept {
    return withOption(self, "option_string", name, [&](const nlohmann::json& value) {
        require(out, "out");
        if (!value.is_string()) {
            return PARLEY_ERR_INVALID;
        }
        const auto& text = value.get_ref<const std::string&>();
        if (text.size() + 1 > size) {
            return PARLEY_ERR_TOO_LARGE;
        }
        std::memcpy(out, text.c_str(), text.size() + 1);
        return PARLEY_OK;
    });
}

void logMessage(parley_plugin* self, parley_log_level level, const char* message) noexcept {
    if (message == nullptr) {
        return;
    }
    withPlugin(self, "log", [&](PluginInstance& plugin) {
        const int64_t value = rawValue(level);
        const LogLevel mapped = value <= PARLEY_LOG_DEBUG     ? LogLevel::Debug
                                : value == PARLEY_LOG_INFO    ? LogLevel::Info
                                : value == PARLEY_LOG_WARNING ? LogLevel::Warning
                                                              : LogLevel::Error;
        plugin.services().log(plugin.name(), mapped, message);
        return PARLEY_OK;
    });
}

parley_status timerAdd(parley_plugin* self, int64_t delayMs, int64_t periodMs, parley_timer_fn fn,
                       void* userdata, uint64_t* timerIdOut) noexcept {
    return withPlugin(self, "timer_add", [&](PluginInstance& plugin) {
        if (fn == nullptr) {
            return PARLEY_ERR_INVALID;
        }
        uint64_t id = 0;
        const parley_status status = plugin.addTimer(delayMs, periodMs, fn, userdata, id);
        if (status == PARLEY_OK && timerIdOut != nullptr) {
            *timerIdOut = id;
        }
        return status;
    });
}

parley_status timerCancel(parley_plugin* self, uint64_t timerId) noexcept {
    return withPlugin(self, "timer_cancel", [&](PluginInstance& plugin) {
        return plugin.services().cancelTimer(plugin.name(), timerId) ? PARLEY_OK
                                                                     : PARLEY_ERR_NOT_FOUND;
    });
}

// No plugin handle to find parleyd's Clock from: these read the clocks parleyd's SystemClock
// reads, which is what the services use outside of tests.
int64_t monotonicMs() noexcept {
    return SystemClock().steadyMs();
}

int64_t wallMs() noexcept {
    return SystemClock().nowMs();
}

void bufferFree(parley_buffer* buffer) noexcept {
    if (buffer == nullptr) {
        return;
    }
    std::free(buffer->data);
    buffer->data = nullptr;
    buffer->len = 0;
}

constexpr parley_host kHostTable = {
    .abi_version = PARLEY_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(parley_host),
    .hook_register = &hookRegister,
    .hook_unregister = &hookUnregister,
    .command_register = &commandRegister,
    .reject = &reject,
    .set_body = &setBody,
    .set_meta = &setMeta,
    .reply = &reply,
    .publish_to_user = &publishToUser,
    .publish_to_conversation = &publishToConversation,
    .post_message = &postMessage,
    .conversation_get = &conversationGet,
    .user_get = &userGet,
    .kv_get = &kvGet,
    .kv_set = &kvSet,
    .kv_delete = &kvDelete,
    .kv_incr = &kvIncr,
    .kv_list = &kvList,
    .options_json = &optionsJson,
    .log = &logMessage,
    .timer_add = &timerAdd,
    .timer_cancel = &timerCancel,
    .monotonic_ms = &monotonicMs,
    .wall_ms = &wallMs,
    .buffer_free = &bufferFree,
    .reject_with = &rejectWith,
    .context_update = &contextUpdate,
    .context_conversations = &contextConversations,
    .messages_get = &messagesGet,
    .drop_recipient = &dropRecipient,
    .text_fold = &textFold,
    .unread_scan = &unreadScan,
    .http_route_register = &httpRouteRegister,
    .http_respond = &httpRespond,
    .kv_list_after = &kvListAfter,
    .set_attachments = &setAttachments,
    .http_respond_file = &httpRespondFile,
    .option_int = &optionInt,
    .option_bool = &optionBool,
    .option_string = &optionString,
    .command_register_bytes = &commandRegisterBytes,
    .reply_bytes = &replyBytes,
};

}  // namespace

const parley_host& hostTable() {
    return kHostTable;
}

}  // namespace parley
