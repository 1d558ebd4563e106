#include "plugins/PluginAdapters.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <string>

#include "extensions/ExtensionCallScope.h"
#include "plugins/PluginCall.h"
#include "plugins/PluginEvent.h"
#include "plugins/PluginInstance.h"
#include "protocol/Views.h"

// The C header's opaque handle for an answer being built.
struct parley_http_response {
    parley::ExtensionHttpResponse answer;
    bool answered = false;
};

namespace parley {

namespace {

thread_local parley_http_response* activeHttpResponse = nullptr;

// Calls into the plugin; an exception it lets escape (a C++ plugin) is a failure of the call,
// never something that unwinds further into parleyd's frames.
template <typename Call, typename Judge>
Verdict invoke(Call&& call, Judge&& judge) {
    int status = 0;
    try {
        status = static_cast<int>(call());
    } catch (const std::exception& error) {
        return Verdict::fail(std::string("threw a C++ exception: ") + error.what());
    } catch (...) {
        return Verdict::fail("threw a C++ exception that is not a std::exception");
    }
    return judge(status);
}

}  // namespace

HookFunction makeHookFunction(std::shared_ptr<PluginInstance> plugin, Hook hook, parley_hook_fn fn,
                              void* userdata) {
    return [plugin = std::move(plugin), hook, fn, userdata](const HookPayload& payload,
                                                            std::chrono::milliseconds) -> Verdict {
        const CallGate::Pass pass(plugin->gate());
        if (!pass) {
            return Verdict::proceed();
        }
        MessageDraft* draft = nullptr;
        if (const auto* drafted = std::get_if<MessageDraft*>(&payload)) {
            draft = *drafted;
        }
        DeliveryDraft* delivery = nullptr;
        if (const auto* drafted = std::get_if<DeliveryDraft*>(&payload)) {
            delivery = *drafted;
        }
        const PluginEvent event(payload);
        PluginCall call(*plugin, hook, draft, delivery);
        // hookName() returns a literal: NUL-terminated, valid for ever.
        const ExtensionCallScope running("plugin", plugin->name(), "hook", hookName(hook).data());
        return invoke([&] { return fn(call.handle(), event.data(), userdata); },
                      [&](int status) { return call.hookVerdict(status); });
    };
}

CommandFunction makeCommandFunction(std::shared_ptr<PluginInstance> plugin, parley_command_fn fn,
                                    void* userdata) {
    return [plugin = std::move(plugin), fn, userdata](const CommandCall& command,
                                                      std::chrono::milliseconds) -> Verdict {
        const CallGate::Pass pass(plugin->gate());
        if (!pass) {
            return Verdict::defer();
        }
        const std::string args = toPayload(command.command.args);
        const auto& bytes = command.command.bytes;
        const parley_command_event event{sizeof(parley_command_event),
                                         command.command.uid.c_str(),
                                         command.command.op.c_str(),
                                         args.c_str(),
                                         command.isAdmin,
                                         bytes ? bytes->data() : nullptr,
                                         bytes ? bytes->size() : 0};
        PluginCall call(*plugin, std::nullopt, nullptr);
        const ExtensionCallScope running("plugin", plugin->name(), "command",
                                         command.command.op.c_str());
        return invoke([&] { return fn(call.handle(), &event, userdata); },
                      [&](int status) { return call.commandVerdict(status); });
    };
}

std::function<void()> makeTimerFunction(std::shared_ptr<PluginInstance> plugin, parley_timer_fn fn,
                                        void* userdata) {
    return [plugin = std::move(plugin), fn, userdata] {
        const CallGate::Pass pass(plugin->gate(), CallGate::WhileStarting::Wait);
        if (pass) {
            const ExtensionCallScope running("plugin", plugin->name(), "timer");
            fn(userdata);
        }
    };
}

ExtensionHttpHandler makeHttpHandler(std::shared_ptr<PluginInstance> plugin, std::string path,
                                     parley_http_fn fn, void* userdata) {
    return [plugin = std::move(plugin), path = std::move(path), fn,
            userdata](const ExtensionHttpRequest& request) {
        ExtensionHttpResponse failed{500, "text/plain; charset=utf-8", "internal error\n"};
        const CallGate::Pass pass(plugin->gate());
        if (!pass) {
            return ExtensionHttpResponse{503, "text/plain; charset=utf-8", "unavailable\n"};
        }
        const parley_http_request event{sizeof(parley_http_request), request.method.c_str(),
                                        request.path.c_str(),        request.query.c_str(),
                                        request.body.c_str(),        request.body.size()};
        parley_http_response response;
        activeHttpResponse = &response;
        const ExtensionCallScope running("plugin", plugin->name(), "http", path.c_str());
        const Verdict verdict = invoke(
            [&] { return fn(&event, &response, userdata); },
            [](int status) {
                return status == PARLEY_OK ? Verdict::proceed()
                                           : Verdict::fail("returned " + std::to_string(status));
            });
        activeHttpResponse = nullptr;
        if (verdict.kind == Verdict::Kind::Fail || !response.answered) {
            plugin->services().log(
                plugin->name(), LogLevel::Warning,
                "http " + path + ": " +
                    (verdict.kind == Verdict::Kind::Fail ? verdict.message : "no answer"));
            return failed;
        }
        return response.answer;
    };
}

bool respondHttp(parley_http_response* response, int status, const char* contentType,
                 const char* body, size_t bodyLen) {
    if (response == nullptr || response != activeHttpResponse || status < 100 || status > 599 ||
        (body == nullptr && bodyLen > 0)) {
        return false;
    }
    response->answer.status = status;
    response->answer.contentType =
        contentType != nullptr ? contentType : "text/plain; charset=utf-8";
    response->answer.body.assign(body != nullptr ? body : "", bodyLen);
    response->answer.file.reset();
    response->answered = true;
    return true;
}

namespace {
bool validHeaderName(const std::string& name) {
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") !=
            std::string::npos) {
        return false;
    }
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower != "content-length" && lower != "content-type" && lower != "transfer-encoding";
}

bool validHeaderValue(const std::string& value) {
    return value.size() <= 1024 &&
           std::none_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n'; });
}
}  // namespace

parley_status respondHttpFile(parley_http_response* response, int status, const char* contentType,
                              const char* path, const char* headersJson) {
    if (response == nullptr || response != activeHttpResponse || status < 100 || status > 599 ||
        path == nullptr || path[0] != '/') {
        return PARLEY_ERR_INVALID;
    }
    std::vector<std::pair<std::string, std::string>> headers;
    if (headersJson != nullptr) {
        const auto fields = nlohmann::json::parse(headersJson, nullptr, false);
        if (!fields.is_object()) {
            return PARLEY_ERR_INVALID;
        }
        for (const auto& [name, value] : fields.items()) {
            if (!value.is_string() || !validHeaderName(name) ||
                !validHeaderValue(value.get<std::string>())) {
                return PARLEY_ERR_INVALID;
            }
            headers.emplace_back(name, value.get<std::string>());
        }
    }
    std::shared_ptr<std::FILE> file(std::fopen(path, "rbe"), [](std::FILE* f) {
        if (f != nullptr) {
            std::fclose(f);
        }
    });
    if (!file || std::fseek(file.get(), 0, SEEK_END) != 0) {
        return PARLEY_ERR_NOT_FOUND;
    }
    const long bytes = std::ftell(file.get());
    if (bytes < 0) {
        return PARLEY_ERR_NOT_FOUND;
    }
    response->answer.status = status;
    response->answer.contentType =
        contentType != nullptr ? contentType : "application/octet-stream";
    response->answer.body.clear();
    response->answer.file = std::move(file);
    response->answer.fileBytes = bytes;
    response->answer.headers = std::move(headers);
    response->answered = true;
    return PARLEY_OK;
}

}  // namespace parley
