#pragma once

#include <string>

namespace parley::testing {

// The repository root (PARLEY_SOURCE_DIR, set by CMake).
std::string sourceDir();
// The parleyd binary of this build (PARLEY_PARLEYD_PATH, set by CMake).
std::string parleydPath();

// config/production/mosquitto.conf.in as the Debian package installs it (a /usr install:
// /etc/parley, /usr/lib/parley, with Parley's broker settings copied in), as
// packaging/InstallConfigs.cmake.in writes it. Throws std::runtime_error when a placeholder is
// left that this does not know.
std::string installedProductionBrokerConfig();

}  // namespace parley::testing
