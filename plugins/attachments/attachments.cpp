// Attachments: files and images uploaded in chunks over MQTT, sent with messages, downloaded over
// MQTT or by signed HTTP URL (docs/attachments.md). The shared-object plugin's entry points;
// everything goes through the host table of plugin.h.

#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "Attachments.h"
#include "Content.h"
#include "parley/plugin.h"

namespace {

using nlohmann::json;
using parley::attachments::Attachments;
using parley::attachments::Refusal;

struct PluginState {
    parley_plugin* self = nullptr;
    const parley_host* host = nullptr;
    std::unique_ptr<Attachments> attachments;
};

parley_status refuse(const PluginState* state, parley_call* call, const std::string& code,
                     const std::string& message) {
    state->host->reject(call, code.c_str(), message.c_str());
    return PARLEY_REJECT;
}

// Runs `work`, turning what it throws into the client's error.
template <typename Work>
parley_status guarded(const PluginState* state, parley_call* call, const char* what, Work work) {
    try {
        return work();
    } catch (const Refusal& refusal) {
        return refuse(state, call, refusal.code(), refusal.what());
    } catch (const parley::plugins::HostUnavailable&) {
        return refuse(state, call, "unavailable",
                      "the server's database is unreachable; try again later");
    } catch (const std::exception& error) {
        state->host->log(state->self, PARLEY_LOG_ERROR,
                         (std::string(what) + ": " + error.what()).c_str());
        return refuse(state, call, "unavailable", "the server failed to handle this; try again");
    }
}

parley_status onCommand(parley_call* call, const void* event, void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    const auto* command = static_cast<const parley_command_event*>(event);
    const json args = json::parse(command->args_json, nullptr, false);
    if (!args.is_object()) {
        return refuse(state, call, "bad_request", "the command is not a JSON object");
    }
    const std::string op = command->op;
    const std::string uid = command->uid;
    // Sent on .../bin (level 7): the bytes after the command, maybe none (a download).
    std::optional<std::string_view> raw;
    if (PARLEY_EVENT_HAS(parley_command_event, command, bytes) && command->bytes != nullptr) {
        raw = std::string_view(command->bytes, command->bytes_len);
    }
    return guarded(state, call, command->op, [&] {
        Attachments& attachments = *state->attachments;
        json reply;
        if (op == "attach.begin") {
            reply = attachments.begin(uid, args);
        } else if (op == "attach.chunk") {
            reply = attachments.chunk(uid, args, raw);
        } else if (op == "attach.status") {
            reply = attachments.status(uid, args);
        } else if (op == "attach.commit") {
            reply = attachments.commit(uid, args);
        } else if (op == "attach.abort") {
            reply = attachments.abort(uid, args);
        } else if (op == "attach.info") {
            reply = attachments.info(uid, args);
        } else if (op == "attach.download" && raw) {
            const auto chunk = attachments.download(uid, args, true);
            const std::string text = chunk.reply.dump();
            return state->host->reply_bytes(call, text.c_str(), chunk.bytes.data(),
                                            chunk.bytes.size()) == PARLEY_OK
                       ? PARLEY_OK
                       : PARLEY_ERR_INTERNAL;
        } else if (op == "attach.download") {
            reply = attachments.download(uid, args).reply;
        } else if (op == "attach.url") {
            reply = attachments.url(uid, args);
        } else if (op == "attach.gc") {
            if (!command->is_admin) {
                return refuse(state, call, "forbidden", "attach.gc is for admins");
            }
            reply = attachments.collectAll().toJson();
        } else {
            return PARLEY_DEFER;
        }
        const std::string text = reply.dump();
        return state->host->reply(call, text.c_str()) == PARLEY_OK ? PARLEY_OK
                                                                   : PARLEY_ERR_INTERNAL;
    });
}

bool hasAttachments(const parley_message_event* message) {
    return PARLEY_EVENT_HAS(parley_message_event, message, attachments_json) &&
           message->attachments_json != nullptr;
}

parley_status onBeforeStore(parley_call* call, const void* event, void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    const auto* message = static_cast<const parley_message_event*>(event);
    if (!hasAttachments(message)) {
        return PARLEY_OK;
    }
    return guarded(state, call, "message.before_store", [&] {
        const json ids = json::parse(message->attachments_json);
        const std::string resolved =
            state->attachments
                ->resolve(message->sender, message->conv,
                          PARLEY_EVENT_HAS(parley_message_event, message, conv_last_seq)
                              ? message->conv_last_seq
                              : 0,
                          ids)
                .dump();
        return state->host->set_attachments(call, resolved.c_str());
    });
}

parley_status onAfterStore(parley_call*, const void* event, void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    const auto* message = static_cast<const parley_message_event*>(event);
    if (!hasAttachments(message)) {
        return PARLEY_OK;
    }
    try {
        state->attachments->recordReferences(message->conv, message->seq,
                                             json::parse(message->attachments_json));
    } catch (const std::exception& error) {
        // The pending mark (attach_grace_ms) still keeps the file; logged for the operator.
        state->host->log(state->self, PARLEY_LOG_ERROR,
                         (std::string("message.after_store: ") + error.what()).c_str());
        return PARLEY_ERR_UNAVAILABLE;
    }
    return PARLEY_OK;
}

parley_status onFile(const parley_http_request* request, parley_http_response* response,
                     void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    if (std::strcmp(request->method, "GET") != 0) {
        const char body[] = "use GET\n";
        return state->host->http_respond(response, 405, nullptr, body, sizeof body - 1);
    }
    try {
        const auto answer = state->attachments->serveFile(request->query);
        if (!answer.path.empty()) {
            const std::string headers = answer.headers.dump();
            return state->host->http_respond_file(response, answer.status,
                                                  answer.contentType.c_str(), answer.path.c_str(),
                                                  headers.c_str());
        }
        return state->host->http_respond(response, answer.status, answer.contentType.c_str(),
                                         answer.body.data(), answer.body.size());
    } catch (const std::exception& error) {
        state->host->log(state->self, PARLEY_LOG_ERROR,
                         (std::string("http /file: ") + error.what()).c_str());
        const char body[] = "unavailable, try again\n";
        return state->host->http_respond(response, 503, nullptr, body, sizeof body - 1);
    }
}

void onCollect(void* userdata) {
    auto* state = static_cast<PluginState*>(userdata);
    try {
        // A bounded step per tick: the timer has a time budget (config hooks.timer).
        state->attachments->collectStep(200);
    } catch (const std::exception& error) {
        state->host->log(state->self, PARLEY_LOG_WARNING,
                         (std::string("garbage collection: ") + error.what()).c_str());
    }
}

}  // namespace

extern "C" {

PARLEY_PLUGIN_EXPORT int parley_plugin_version(const int* supported, size_t count) {
    return parley_plugin_pick_version(supported, count);
}

PARLEY_PLUGIN_EXPORT parley_status parley_plugin_init(parley_plugin* self, const parley_host* host,
                                                      void** out) {
    if (!PARLEY_HOST_HAS(host, reply_bytes)) {
        host->log(self, PARLEY_LOG_ERROR,
                  "this parleyd lacks the ABI level 7 (command_register_bytes, reply_bytes)");
        return PARLEY_ERR_VERSION;
    }
    auto state = std::make_unique<PluginState>();
    state->self = self;
    state->host = host;
    try {
        auto settings =
            parley::attachments::Settings::fromOptions(json::parse(host->options_json(self)));
        std::array<char, 512> error{};
        attachments_blob_store* store =
            attachments_local_store_open(settings.folder.c_str(), error.data(), error.size());
        if (store == nullptr) {
            throw std::runtime_error(error.data());
        }
        parley::attachments::startImageLibrary();
        state->attachments = std::make_unique<Attachments>(parley::attachments::Host(self, host),
                                                           std::move(settings), store);
    } catch (const std::exception& error) {
        host->log(self, PARLEY_LOG_ERROR, error.what());
        return PARLEY_ERR_INVALID;
    }
    for (const char* op : {"attach.begin", "attach.status", "attach.commit", "attach.abort",
                           "attach.info", "attach.url", "attach.gc"}) {
        if (host->command_register(self, op, &onCommand, state.get()) != PARLEY_OK) {
            return PARLEY_ERR_INTERNAL;
        }
    }
    // Chunks, up and down, also as raw bytes on .../bin (no base64, no JSON around them).
    for (const char* op : {"attach.chunk", "attach.download"}) {
        if (host->command_register_bytes(self, op, &onCommand, state.get()) != PARLEY_OK) {
            return PARLEY_ERR_INTERNAL;
        }
    }
    const int64_t gcInterval = state->attachments->settings().gcIntervalMs;
    if (host->hook_register(self, PARLEY_HOOK_MESSAGE_BEFORE_STORE, &onBeforeStore, state.get()) !=
            PARLEY_OK ||
        host->hook_register(self, PARLEY_HOOK_MESSAGE_AFTER_STORE, &onAfterStore, state.get()) !=
            PARLEY_OK ||
        host->http_route_register(self, "/file", &onFile, state.get()) != PARLEY_OK ||
        host->timer_add(self, gcInterval, gcInterval, &onCollect, state.get(), nullptr) !=
            PARLEY_OK) {
        return PARLEY_ERR_INTERNAL;
    }
    *out = state.release();
    return PARLEY_OK;
}

PARLEY_PLUGIN_EXPORT void parley_plugin_cleanup(parley_plugin*, void* data) {
    std::unique_ptr<PluginState> owned(static_cast<PluginState*>(data));
}

}  // extern "C"
