#include "plugins/PluginInstance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "plugins/PluginAdapters.h"

namespace parley {

PluginInstance::PluginInstance(std::string name, std::string path, ExtensionServices& services,
                               const nlohmann::json& options)
    : name_(std::move(name)),
      path_(std::move(path)),
      services_(services),
      optionsJson_(options.is_object() ? options.dump() : "{}") {}

parley_status PluginInstance::registerHook(Hook hook, parley_hook_fn fn, void* userdata) {
    std::lock_guard lock(mutex_);
    if (!registering_) {
        return PARLEY_ERR_FORBIDDEN;
    }
    const uint64_t token = services_.hooks().add(
        hook, name_, makeHookFunction(shared_from_this(), hook, fn, userdata));
    hooks_.push_back(HookRegistration{hook, fn, userdata, token});
    return PARLEY_OK;
}

parley_status PluginInstance::unregisterHook(Hook hook, parley_hook_fn fn, void* userdata) {
    std::lock_guard lock(mutex_);
    const auto found = std::find_if(hooks_.begin(), hooks_.end(), [&](const HookRegistration& r) {
        return r.hook == hook && r.fn == fn && r.userdata == userdata;
    });
    if (found == hooks_.end()) {
        return PARLEY_ERR_NOT_FOUND;
    }
    services_.hooks().remove(found->token);
    hooks_.erase(found);
    return PARLEY_OK;
}

parley_status PluginInstance::registerCommand(const std::string& op, parley_command_fn fn,
                                              void* userdata, bool takesBytes) {
    std::lock_guard lock(mutex_);
    if (!registering_) {
        return PARLEY_ERR_FORBIDDEN;
    }
    // The bus chains handlers of one op across extensions (DEFER passes to the next); the same
    // plugin registering an op twice is a mistake, not a chain.
    if (ops_.count(op) > 0) {
        return PARLEY_ERR_EXISTS;
    }
    try {
        services_.hooks().addCommand(
            op, name_, makeCommandFunction(shared_from_this(), fn, userdata), takesBytes);
    } catch (const std::invalid_argument& error) {
        spdlog::warn("plugin '{}': command_register refused: {}", name_, error.what());
        return PARLEY_ERR_INVALID;
    }
    ops_.insert(op);
    return PARLEY_OK;
}

parley_status PluginInstance::registerHttpRoute(const std::string& path, parley_http_fn fn,
                                                void* userdata) {
    std::lock_guard lock(mutex_);
    if (!registering_) {
        return PARLEY_ERR_FORBIDDEN;
    }
    try {
        services_.addHttpRoute(name_, path,
                               makeHttpHandler(shared_from_this(), path, fn, userdata));
    } catch (const std::invalid_argument& error) {
        spdlog::warn("plugin '{}': http_route_register refused: {}", name_, error.what());
        return PARLEY_ERR_EXISTS;
    }
    return PARLEY_OK;
}

parley_status PluginInstance::addTimer(int64_t delayMs, int64_t periodMs, parley_timer_fn fn,
                                       void* userdata, uint64_t& timerId) {
    std::lock_guard lock(mutex_);
    if (!registering_) {
        return PARLEY_ERR_FORBIDDEN;
    }
    timerId = services_.addTimer(name_, delayMs, periodMs,
                                 makeTimerFunction(shared_from_this(), fn, userdata));
    return PARLEY_OK;
}

void PluginInstance::withdraw() {
    {
        std::lock_guard lock(mutex_);
        registering_ = false;
        hooks_.clear();
        ops_.clear();
    }
    // The gate first: it waits for calls in flight (on older bus snapshots too) and releases a
    // timer waiting for init, which cancelTimers would otherwise wait for in turn.
    gate_.close();
    services_.hooks().removeExtension(name_);
    services_.cancelTimers(name_);
    services_.removeHttpRoutes(name_);
}

}  // namespace parley
