#include "extensions/ExtensionManager.h"

#include <spdlog/spdlog.h>

namespace parley {

ExtensionManager::ExtensionManager(const std::vector<ExtensionConfig>& extensions,
                                   ExtensionServices& services, Loader loadPlugin,
                                   Loader loadScript)
    : extensions_(extensions),
      services_(services),
      loadPlugin_(std::move(loadPlugin)),
      loadScript_(std::move(loadScript)) {}

ExtensionManager::~ExtensionManager() {
    unloadAll();
}

void ExtensionManager::loadAll() {
    std::vector<std::string> order;
    for (const auto& extension : extensions_) {
        order.push_back(extension.name);
    }
    services_.hooks().setExtensionOrder(order);
    for (const auto& extension : extensions_) {
        std::unique_ptr<Extension> loaded;
        try {
            loaded = extension.pluginPath.empty() ? loadScript_(extension) : loadPlugin_(extension);
        } catch (const ExtensionError&) {
            unloadAll();
            throw;
        }
        spdlog::info("extension '{}' loaded: {} {}", loaded->name(), loaded->kind(),
                     loaded->path());
        std::lock_guard lock(mutex_);
        loaded_.push_back(std::move(loaded));
    }
}

void ExtensionManager::unloadAll() {
    std::vector<std::unique_ptr<Extension>> unloading;
    {
        std::lock_guard lock(mutex_);
        unloading.swap(loaded_);
    }
    while (!unloading.empty()) {
        const std::string name = unloading.back()->name();
        unloading.pop_back();
        spdlog::info("extension '{}' unloaded", name);
    }
}

nlohmann::json ExtensionManager::reloadScripts() {
    std::lock_guard lock(mutex_);
    nlohmann::json reloaded = nlohmann::json::array();
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& extension : loaded_) {
        if (std::string(extension->kind()) != "script") {
            continue;
        }
        std::string error;
        if (extension->reload(error)) {
            spdlog::info("script '{}' reloaded from {}", extension->name(), extension->path());
            reloaded.push_back(extension->name());
        } else {
            spdlog::error("script '{}' not reloaded, the running version stays: {}",
                          extension->name(), error);
            failed.push_back({{"name", extension->name()}, {"error", error}});
        }
    }
    return {{"reloaded", reloaded}, {"failed", failed}};
}

nlohmann::json ExtensionManager::describe() const {
    std::lock_guard lock(mutex_);
    nlohmann::json all = nlohmann::json::array();
    for (const auto& extension : loaded_) {
        nlohmann::json entry = {
            {"name", extension->name()}, {"kind", extension->kind()}, {"path", extension->path()}};
        entry.update(extension->status());
        all.push_back(std::move(entry));
    }
    return all;
}

}  // namespace parley
