#pragma once

#include <functional>
#include <memory>

#include "extensions/ExtensionServices.h"
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

// A plugin's HTTP route: called through the plugin's gate (503 while it is not running), its
// answer from host->http_respond, 500 if it gives none or fails.
ExtensionHttpHandler makeHttpHandler(std::shared_ptr<PluginInstance> plugin, std::string path,
                                     parley_http_fn fn, void* userdata);
// host->http_respond: false unless `response` is the one being built on this thread.
bool respondHttp(parley_http_response* response, int status, const char* contentType,
                 const char* body, size_t bodyLen);
// host->http_respond_file: PARLEY_OK, PARLEY_ERR_INVALID, or PARLEY_ERR_NOT_FOUND (cannot open).
parley_status respondHttpFile(parley_http_response* response, int status, const char* contentType,
                              const char* path, const char* headersJson);

}  // namespace parley
