#pragma once

#include <cstdint>

namespace parley {

struct LuaConfig {
    int64_t memoryLimitBytes = 32 * 1024 * 1024;  // per script
    int64_t instructionLimit = 10'000'000;        // per call into a script
};

}  // namespace parley
