#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace parley {

// A plugin or script could not be loaded. what() names the file and the reason.
class ExtensionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One loaded plugin or script. Destroying it unloads it: its hooks, commands and timers are
// removed first, then its own cleanup runs.
class Extension {
  public:
    virtual ~Extension() = default;
    virtual const std::string& name() const = 0;
    virtual const char* kind() const = 0;  // "plugin" or "script"
    virtual const std::string& path() const = 0;
    // Scripts: compile and run the file again; on failure keep the running version and return
    // false with the reason in `error`. Plugins: nothing to do, true.
    virtual bool reload(std::string& error) = 0;
    // {"state": "running"}, or {"state": "disabled", "reason": ..., "since_ms": ...} for a script
    // the watchdog disabled (LuaRunner) until its next reload.
    virtual nlohmann::json status() const { return {{"state", "running"}}; }
};

}  // namespace parley
