#pragma once

#include <string>
#include <utility>
#include <vector>

#include "KeyRing.h"
#include "TokenVerifier.h"

namespace parley::jwtauth {

// The plugin's `plugin_opt_*` options, without the prefix, in configuration order.
using PluginOptions = std::vector<std::pair<std::string, std::string>>;

// Everything the options say, with the key files read and checked. See docs/authentication.md.
struct JwtAuthSettings {
    KeyRing keys;
    VerifierPolicy policy;
    bool disconnectExpired = true;
    std::string skippedFiles;  // names in key_dir that are not keys, for a log line
};

// Throws std::runtime_error naming the option (and file) at fault: unknown options, bad
// values, unreadable or unsuitable keys, no key at all.
JwtAuthSettings parseSettings(const PluginOptions& options);

}  // namespace parley::jwtauth
