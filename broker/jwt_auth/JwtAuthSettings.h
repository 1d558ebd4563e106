#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "KeyRing.h"
#include "PublishLimiter.h"
#include "TokenVerifier.h"

namespace parley::jwtauth {

// The plugin's `plugin_opt_*` options, without the prefix, in configuration order.
using PluginOptions = std::vector<std::pair<std::string, std::string>>;

// Everything the options say, with the key files read and checked. See docs/authentication.md.
struct JwtAuthSettings {
    KeyRing keys;  // empty: no token login, every password goes to the password file
    VerifierPolicy policy;
    bool disconnectExpired = true;
    std::string skippedFiles;  // names in key_dir that are not keys, for a log line
    // Subscription checks and the publish rate limit (SubscriptionPolicy, PublishLimiter).
    std::string topicPrefix = "parley/v1";
    std::set<std::string, std::less<>> serviceUsers = {"parleyd"};
    PublishLimits publishLimits;
};

// Throws std::runtime_error naming the option (and file) at fault: unknown options, bad
// values, unreadable or unsuitable keys. Service accounts are reserved for password login too.
JwtAuthSettings parseSettings(const PluginOptions& options);

}  // namespace parley::jwtauth
