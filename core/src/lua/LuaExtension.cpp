#include "lua/LuaExtension.h"

namespace parley {

// Replaced by the Lua host.
std::unique_ptr<Extension> loadScript(const ExtensionConfig& config, const LuaConfig&,
                                      ExtensionServices&) {
    throw ExtensionError(config.scriptPath + ": scripts are not supported yet");
}

}  // namespace parley
