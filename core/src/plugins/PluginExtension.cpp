#include "plugins/PluginExtension.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <iterator>

#include "extensions/ExtensionCallScope.h"
#include "parley/plugin.h"
#include "plugins/HostTable.h"
#include "plugins/PluginInstance.h"
#include "plugins/PluginRegistry.h"
#include "plugins/PluginStatus.h"
#include "plugins/SharedLibrary.h"

namespace parley {

namespace {

// The ABI versions this parleyd speaks, offered to parley_plugin_version.
constexpr int kSupportedAbiVersions[] = {PARLEY_PLUGIN_ABI_VERSION};

ExtensionError refusal(const ExtensionConfig& config, const std::string& reason) {
    return ExtensionError(config.pluginPath + ": plugin '" + config.name +
                          "' not loaded: " + reason);
}

std::string describeException(std::exception_ptr thrown) {
    try {
        std::rethrow_exception(std::move(thrown));
    } catch (const std::exception& error) {
        return std::string("threw a C++ exception: ") + error.what();
    } catch (...) {
        return "threw a C++ exception that is not a std::exception";
    }
}

template <typename Function>
Function entryPoint(const SharedLibrary& library, const char* name) {
    // POSIX guarantees a data pointer from dlsym converts to a function pointer.
    return reinterpret_cast<Function>(library.symbol(name));
}

// A loaded plugin. Members are destroyed in reverse order: the instance, then the library
// (dlclose), then the name's claim, so the name stays taken until nothing of the plugin is left
// and a plugin loading under the same name cannot lose its registrations to this one's unload.
class PluginExtension final : public Extension {
  public:
    PluginExtension(std::unique_ptr<PluginRegistry::Claim> claim,
                    std::unique_ptr<SharedLibrary> library, parley_plugin_cleanup_fn cleanup,
                    std::shared_ptr<PluginInstance> instance, void* state)
        : claim_(std::move(claim)),
          library_(std::move(library)),
          cleanup_(cleanup),
          instance_(std::move(instance)),
          state_(state) {}

    ~PluginExtension() override {
        instance_->withdraw();
        // plugin.h: cleanup runs with hooks, commands and timers removed and no callback running.
        try {
            const ExtensionCallScope running("plugin", instance_->name(),
                                             PARLEY_PLUGIN_CLEANUP_SYMBOL);
            cleanup_(instance_->handle(), state_);
        } catch (...) {
            spdlog::error("plugin '{}': parley_plugin_cleanup {}", instance_->name(),
                          describeException(std::current_exception()));
        }
    }

    const std::string& name() const override { return instance_->name(); }
    const char* kind() const override { return "plugin"; }
    const std::string& path() const override { return instance_->path(); }
    bool reload(std::string&) override { return true; }  // a shared object is loaded once

  private:
    std::unique_ptr<PluginRegistry::Claim> claim_;
    std::unique_ptr<SharedLibrary> library_;
    parley_plugin_cleanup_fn cleanup_;
    std::shared_ptr<PluginInstance> instance_;
    void* state_;
};

// A plugin's library, opened, its entry points resolved and its ABI version agreed: all that
// comes before init.
struct OpenedPlugin {
    std::unique_ptr<SharedLibrary> library;
    parley_plugin_init_fn init = nullptr;
    parley_plugin_cleanup_fn cleanup = nullptr;
    int abiVersion = 0;
};

OpenedPlugin openPlugin(const ExtensionConfig& config) {
    std::unique_ptr<SharedLibrary> library;
    try {
        library = std::make_unique<SharedLibrary>(config.pluginPath);
    } catch (const std::exception& error) {
        throw refusal(config, error.what());
    }

    const auto version =
        entryPoint<parley_plugin_version_fn>(*library, PARLEY_PLUGIN_VERSION_SYMBOL);
    const auto init = entryPoint<parley_plugin_init_fn>(*library, PARLEY_PLUGIN_INIT_SYMBOL);
    const auto cleanup =
        entryPoint<parley_plugin_cleanup_fn>(*library, PARLEY_PLUGIN_CLEANUP_SYMBOL);
    std::string missing;
    for (const auto& [present, symbol] :
         {std::pair{version != nullptr, PARLEY_PLUGIN_VERSION_SYMBOL},
          std::pair{init != nullptr, PARLEY_PLUGIN_INIT_SYMBOL},
          std::pair{cleanup != nullptr, PARLEY_PLUGIN_CLEANUP_SYMBOL}}) {
        if (!present) {
            missing += (missing.empty() ? "" : ", ") + std::string(symbol);
        }
    }
    if (!missing.empty()) {
        throw refusal(config, "it does not export " + missing +
                                  " (built with -fvisibility=hidden but without "
                                  "PARLEY_PLUGIN_EXPORT?)");
    }

    int chosen = 0;
    try {
        const ExtensionCallScope running("plugin", config.name, PARLEY_PLUGIN_VERSION_SYMBOL);
        chosen = version(kSupportedAbiVersions, std::size(kSupportedAbiVersions));
    } catch (...) {
        throw refusal(config,
                      "parley_plugin_version " + describeException(std::current_exception()));
    }
    if (std::find(std::begin(kSupportedAbiVersions), std::end(kSupportedAbiVersions), chosen) ==
        std::end(kSupportedAbiVersions)) {
        std::string supported;
        for (int offered : kSupportedAbiVersions) {
            supported += (supported.empty() ? "" : ", ") + std::to_string(offered);
        }
        throw refusal(config, "it speaks none of the plugin ABI versions parleyd supports (" +
                                  supported + "): parley_plugin_version returned " +
                                  std::to_string(chosen));
    }
    return OpenedPlugin{std::move(library), init, cleanup, chosen};
}

}  // namespace

int checkPlugin(const ExtensionConfig& config) {
    if (config.name.empty()) {
        throw refusal(config, "an extension needs a name");
    }
    return openPlugin(config).abiVersion;
}

std::unique_ptr<Extension> loadPlugin(const ExtensionConfig& config, ExtensionServices& services) {
    if (config.name.empty()) {
        throw refusal(config, "an extension needs a name");
    }
    // The name first: a duplicate is refused before any of its code (static constructors
    // included) runs in this process.
    std::string holderPath;
    auto claim = PluginRegistry::global().claim(config.name, config.pluginPath, holderPath);
    if (!claim) {
        throw refusal(config, "a plugin named '" + config.name + "' is already loaded (from " +
                                  holderPath + ")");
    }
    auto [library, init, cleanup, chosen] = openPlugin(config);

    auto instance =
        std::make_shared<PluginInstance>(config.name, config.pluginPath, services, config.options);
    claim->attach(instance);
    void* state = nullptr;
    std::string failure;
    try {
        const ExtensionCallScope running("plugin", config.name, PARLEY_PLUGIN_INIT_SYMBOL);
        const parley_status status = init(instance->handle(), &hostTable(), &state);
        if (status != PARLEY_OK) {
            failure = "parley_plugin_init failed with " + describeStatus(status);
        }
    } catch (...) {
        failure = "parley_plugin_init " + describeException(std::current_exception());
    }
    if (!failure.empty()) {
        // plugin.h: a failing init frees what it allocated; cleanup is not called.
        instance->withdraw();
        throw refusal(config, failure);  // library, then claim, released on the way out
    }
    instance->goLive();
    spdlog::debug("plugin '{}' loaded from {}: ABI version {}", config.name, config.pluginPath,
                  chosen);
    return std::make_unique<PluginExtension>(std::move(claim), std::move(library), cleanup,
                                             std::move(instance), state);
}

}  // namespace parley
