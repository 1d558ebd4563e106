#pragma once

#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "parley/plugin.h"

namespace parley {

class PluginInstance;

// Every plugin loaded in this process, by extension name and by handle. Names are process-wide
// because a plugin's name scopes its hooks, timers and key-value store: two plugins under one
// name would remove each other's registrations on unload. Handles are looked up here rather
// than dereferenced, so a NULL, stale or made-up parley_plugin* is refused, not followed.
class PluginRegistry {
  public:
    // A name held from before dlopen until the plugin is fully unloaded; released on destruction.
    // Made by PluginRegistry::claim only.
    class Claim {
      public:
        Claim(PluginRegistry& registry, std::string name);
        ~Claim();
        Claim(const Claim&) = delete;
        Claim& operator=(const Claim&) = delete;

        // From now on host functions called with instance->handle() reach this instance.
        void attach(std::shared_ptr<PluginInstance> instance);

      private:
        PluginRegistry& registry_;
        const std::string name_;
    };

    static PluginRegistry& global();

    // A claim on `name` for the plugin at `path`, or nothing if a loaded plugin holds it
    // (`holderPath` then says which).
    std::unique_ptr<Claim> claim(const std::string& name, const std::string& path,
                                 std::string& holderPath);

    std::shared_ptr<PluginInstance> find(const parley_plugin* handle) const;

  private:
    struct Entry {
        std::string path;
        std::shared_ptr<PluginInstance> instance;
    };
    void attach(const std::string& name, std::shared_ptr<PluginInstance> instance);
    void release(const std::string& name);

    mutable std::shared_mutex mutex_;
    std::map<std::string, Entry> byName_;
    std::map<const parley_plugin*, std::shared_ptr<PluginInstance>> byHandle_;
};

}  // namespace parley
