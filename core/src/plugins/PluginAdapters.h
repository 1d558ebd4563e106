#pragma once

#include <functional>
#include <memory>

#include "hooks/Hook.h"
#include "parley/plugin.h"

namespace parley {

class PluginInstance;

// The plugin's C callbacks as the hook bus and the timer service call them: the payload made
// into the C event, the call made through the plugin's gate (skipped before its init succeeded
// and once it is unloading: a hook proceeds, a command defers), a C++ exception from a C++
// plugin caught here, and the status turned into a Verdict.
HookFunction makeHookFunction(std::shared_ptr<PluginInstance> plugin, Hook hook, parley_hook_fn fn,
                              void* userdata);
CommandFunction makeCommandFunction(std::shared_ptr<PluginInstance> plugin, parley_command_fn fn,
                                    void* userdata);
// Throws what the plugin threw (ExtensionServices::addTimer's guard catches, logs and counts it).
std::function<void()> makeTimerFunction(std::shared_ptr<PluginInstance> plugin, parley_timer_fn fn,
                                        void* userdata);

}  // namespace parley
