#include "plugins/PluginAdapters.h"

#include <exception>
#include <string>

#include "hooks/ExtensionCallScope.h"
#include "plugins/PluginCall.h"
#include "plugins/PluginEvent.h"
#include "plugins/PluginInstance.h"
#include "protocol/Views.h"

namespace parley {

namespace {

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
        const parley_command_event event{sizeof(parley_command_event), command.command.uid.c_str(),
                                         command.command.op.c_str(), args.c_str(), command.isAdmin};
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

}  // namespace parley
