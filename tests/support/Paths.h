#pragma once

#include <string>

namespace parley::testing {

// The repository root (PARLEY_SOURCE_DIR, set by CMake).
std::string sourceDir();
// The parleyd binary of this build (PARLEY_PARLEYD_PATH, set by CMake).
std::string parleydPath();

}  // namespace parley::testing
