#include "plugins/PluginExtension.h"

namespace parley {

// Replaced by the plugin loader.
std::unique_ptr<Extension> loadPlugin(const ExtensionConfig& config, ExtensionServices&) {
    throw ExtensionError(config.pluginPath + ": plugins are not supported yet");
}

}  // namespace parley
