#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace parley {

// One plugin (a shared object) or one Lua script, in the order they are listed.
struct ExtensionConfig {
    std::string name;        // unique among extensions; names its key-value store and its logs
    std::string pluginPath;  // set for a plugin
    std::string scriptPath;  // set for a Lua script
    nlohmann::json options = nlohmann::json::object();
    int64_t memoryLimitBytes = 0;  // Lua: 0 = lua.memory_limit
    int64_t instructionLimit = 0;  // Lua: 0 = lua.instruction_limit
};

}  // namespace parley
