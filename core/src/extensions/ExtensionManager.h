#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "extensions/Extension.h"
#include "extensions/ExtensionConfig.h"
#include "extensions/ExtensionServices.h"

namespace parley {

// Loads the plugins and scripts of the config, in order, and unloads them in reverse order. It
// knows extensions only through their interface (extensions/Extension.h): the loaders of plugins
// and of Lua scripts, areas above this one, are given to it by the server (tests give others).
class ExtensionManager {
  public:
    using Loader = std::function<std::unique_ptr<Extension>(const ExtensionConfig&)>;

    ExtensionManager(const std::vector<ExtensionConfig>& extensions, ExtensionServices& services,
                     Loader loadPlugin, Loader loadScript);
    ~ExtensionManager();

    // Loads every extension; throws ExtensionError (naming the file and the reason) at the first
    // one that fails, after unloading those already loaded.
    void loadAll();
    void unloadAll();

    // Recompiles every script; one that fails keeps its running version.
    // Returns {"reloaded": [names], "failed": [{"name", "error"}]}.
    nlohmann::json reloadScripts();

    // [{"name", "kind", "path", "state"}] in load order; "state" is "running", or "disabled"
    // (a script the watchdog gave up on, until its next reload) with "reason" and "since_ms".
    nlohmann::json describe() const;

  private:
    const std::vector<ExtensionConfig>& extensions_;
    ExtensionServices& services_;
    Loader loadPlugin_;
    Loader loadScript_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Extension>> loaded_;
};

}  // namespace parley
