#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "extensions/Extension.h"
#include "extensions/ExtensionConfig.h"
#include "extensions/ExtensionServices.h"
#include "lua/LuaConfig.h"

namespace parley {

class LuaScript;

// Loads a Lua 5.4 script into its own sandboxed lua_State (memory and instruction budgets, no io,
// os, package, debug, no bytecode, no new globals) with the `parley` API table. The script's top
// level registers hooks, commands and timers. Throws ExtensionError naming the file and the
// reason. reload() recompiles the file and keeps the running version if anything fails.
std::unique_ptr<Extension> loadScript(const ExtensionConfig& config, const LuaConfig& defaults,
                                      ExtensionServices& services);

// What --check-config does with a script: reads the file and compiles it as the start would (text
// only, in a Lua state with the script's memory budget), without running it: its top level would
// register with a running server. Throws ExtensionError naming the file and the reason (Lua's
// syntax errors give the line).
void checkScript(const ExtensionConfig& config, const LuaConfig& defaults);

// A script extension: the live version of the script (a LuaScript) and the swap to a new one.
class LuaExtension final : public Extension {
  public:
    LuaExtension(const ExtensionConfig& config, const LuaConfig& defaults,
                 ExtensionServices& services);
    // Unloads: the script's hooks and commands leave the bus, its timers stop, then its state
    // is closed once no call is in flight.
    ~LuaExtension() override;

    // Loads the first version. Throws ExtensionError.
    void start();

    const std::string& name() const override { return name_; }
    const char* kind() const override { return "script"; }
    const std::string& path() const override { return path_; }
    // Compiles and runs the file in a new state; only if that succeeds (and the bus accepts its
    // registrations) does it replace the running version, whose state is then closed.
    bool reload(std::string& error) override;
    nlohmann::json status() const override;

  private:
    std::shared_ptr<LuaScript> compile() const;
    // Makes `next` the live version: registrations swapped on the bus in one step, the old
    // version closed (its timers cancelled), the new version's timers started.
    void activate(const std::shared_ptr<LuaScript>& next);

    const std::string name_;
    const std::string path_;
    const ExtensionConfig config_;
    const size_t memoryLimitBytes_;
    const int64_t instructionLimit_;
    ExtensionServices& services_;
    std::mutex mutex_;  // one load, reload or unload at a time
    // Guards current_ for status(), which must not wait for a reload in progress.
    mutable std::mutex currentMutex_;
    std::shared_ptr<LuaScript> current_;
};

}  // namespace parley
