#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "extensions/ExtensionServices.h"
#include "hooks/Hook.h"
#include "parley/plugin.h"
#include "plugins/CallGate.h"

namespace parley {

// One loaded plugin as the host table sees it: what the opaque parley_plugin* stands for. It
// keeps what plugin.h promises stays valid until unload (the options' JSON text), and tracks
// what the plugin registered so hook_unregister can find it. Shared by the closures on the hook
// bus and the timers, so a call that started before unload still finds it alive.
class PluginInstance : public std::enable_shared_from_this<PluginInstance> {
  public:
    PluginInstance(std::string name, std::string path, ExtensionServices& services,
                   const nlohmann::json& options);
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    // The handle is only an address the plugin hands back; the host never dereferences a
    // handle it is given, it looks it up (PluginRegistry).
    parley_plugin* handle() { return reinterpret_cast<parley_plugin*>(this); }

    const std::string& name() const { return name_; }
    const std::string& path() const { return path_; }
    ExtensionServices& services() const { return services_; }
    const ChatRules& rules() const { return services_.rules(); }
    const char* optionsJson() const { return optionsJson_.c_str(); }
    CallGate& gate() { return gate_; }

    // The host table's registration functions. A plugin's mistakes come back as a status;
    // services' errors (ProtocolError) are thrown for the host table to map.
    parley_status registerHook(Hook hook, parley_hook_fn fn, void* userdata);
    parley_status unregisterHook(Hook hook, parley_hook_fn fn, void* userdata);
    // takesBytes: command_register_bytes (the op is also taken with bytes).
    parley_status registerCommand(const std::string& op, parley_command_fn fn, void* userdata,
                                  bool takesBytes = false);
    parley_status registerHttpRoute(const std::string& path, parley_http_fn fn, void* userdata);
    parley_status addTimer(int64_t delayMs, int64_t periodMs, parley_timer_fn fn, void* userdata,
                           uint64_t& timerId);

    // Init succeeded: what the plugin registered starts being called.
    void goLive() { gate_.open(); }
    // Takes the plugin off the bus: no new registrations, no new calls, back once no call into
    // it is running, its hooks, commands and timers removed. After this, nothing of parleyd
    // calls the plugin.
    void withdraw();

  private:
    struct HookRegistration {
        Hook hook;
        parley_hook_fn fn;
        void* userdata;
        uint64_t token;
    };

    const std::string name_;
    const std::string path_;
    ExtensionServices& services_;
    const std::string optionsJson_;
    CallGate gate_;

    // Held while registering, so withdraw() cannot slip between the check and the bus.
    std::mutex mutex_;
    bool registering_ = true;
    std::vector<HookRegistration> hooks_;
    std::set<std::string> ops_;
};

}  // namespace parley
