#pragma once

#include <memory>

#include "config/Config.h"
#include "hooks/Extension.h"
#include "hooks/ExtensionServices.h"

namespace parley {

// Loads a Lua 5.4 script into its own sandboxed lua_State (memory and instruction budgets, no io,
// os, package, debug, no bytecode, no new globals) with the `parley` API table. The script's top
// level registers hooks, commands and timers. Throws ExtensionError naming the file and the
// reason. reload() recompiles the file and keeps the running version if anything fails.
std::unique_ptr<Extension> loadScript(const ExtensionConfig& config, const LuaConfig& defaults,
                                      ExtensionServices& services);

}  // namespace parley
