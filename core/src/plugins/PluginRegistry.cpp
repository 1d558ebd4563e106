#include "plugins/PluginRegistry.h"

#include <mutex>

#include "plugins/PluginInstance.h"

namespace parley {

PluginRegistry::Claim::Claim(PluginRegistry& registry, std::string name)
    : registry_(registry), name_(std::move(name)) {}

PluginRegistry::Claim::~Claim() {
    registry_.release(name_);
}

void PluginRegistry::Claim::attach(std::shared_ptr<PluginInstance> instance) {
    registry_.attach(name_, std::move(instance));
}

PluginRegistry& PluginRegistry::global() {
    static PluginRegistry registry;
    return registry;
}

std::unique_ptr<PluginRegistry::Claim> PluginRegistry::claim(const std::string& name,
                                                             const std::string& path,
                                                             std::string& holderPath) {
    std::unique_lock lock(mutex_);
    const auto [entry, inserted] = byName_.try_emplace(name, Entry{path, nullptr});
    if (!inserted) {
        holderPath = entry->second.path;
        return nullptr;
    }
    return std::make_unique<Claim>(*this, name);
}

void PluginRegistry::attach(const std::string& name, std::shared_ptr<PluginInstance> instance) {
    std::unique_lock lock(mutex_);
    byHandle_[instance->handle()] = instance;
    byName_.at(name).instance = std::move(instance);
}

void PluginRegistry::release(const std::string& name) {
    std::shared_ptr<PluginInstance> released;  // may be the last owner: destroyed unlocked
    std::unique_lock lock(mutex_);
    auto found = byName_.find(name);
    if (found == byName_.end()) {
        return;
    }
    released = std::move(found->second.instance);
    if (released) {
        byHandle_.erase(released->handle());
    }
    byName_.erase(found);
}

std::shared_ptr<PluginInstance> PluginRegistry::find(const parley_plugin* handle) const {
    std::shared_lock lock(mutex_);
    auto found = byHandle_.find(handle);
    return found == byHandle_.end() ? nullptr : found->second;
}

}  // namespace parley
