#pragma once

#include <stdexcept>
#include <string>

#include "config/Config.h"

namespace parley {

// A configuration that cannot be used. what() names the file, the line, the key and the reason.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads and validates a parleyd YAML file. Unknown keys, wrong types and out-of-range values are
// refused with a ConfigError; keys that are absent keep their defaults.
Config loadConfigFile(const std::string& path);
Config loadConfigText(const std::string& yamlText, const std::string& sourceName);

// Parses "250ms", "30s", "5m", "2h" into milliseconds. Throws std::invalid_argument.
int64_t parseDurationMs(const std::string& text);
// Parses "512KB", "32MB", "1GB", "100B" into bytes. Throws std::invalid_argument.
int64_t parseSizeBytes(const std::string& text);

}  // namespace parley
