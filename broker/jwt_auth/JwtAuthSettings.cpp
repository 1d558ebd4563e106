#include "JwtAuthSettings.h"

#include <charconv>
#include <stdexcept>

#include "KeyFiles.h"

namespace parley::jwtauth {

namespace {

int64_t integerOption(const std::string& name, const std::string& value, int64_t min, int64_t max) {
    int64_t number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc() || end != value.data() + value.size() || number < min ||
        number > max) {
        throw std::runtime_error("plugin_opt_" + name + " must be an integer from " +
                                 std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                                 value + "'");
    }
    return number;
}

bool booleanOption(const std::string& name, const std::string& value) {
    if (value == "true") {
        return true;
    }
    if (value == "false") {
        return false;
    }
    throw std::runtime_error("plugin_opt_" + name + " must be true or false, not '" + value + "'");
}

// A comma-separated list of names, blanks around them ignored.
std::set<std::string, std::less<>> nameList(const std::string& value) {
    std::set<std::string, std::less<>> names;
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) {
            comma = value.size();
        }
        std::string name = value.substr(start, comma - start);
        name.erase(0, name.find_first_not_of(' '));
        name.erase(name.find_last_not_of(' ') + 1);
        if (!name.empty()) {
            names.insert(name);
        }
        start = comma + 1;
    }
    return names;
}

// parleyd's topics.prefix: topic levels without wildcards, not starting or ending with '/'.
std::string topicPrefixOption(const std::string& value) {
    if (value.empty() || value.front() == '/' || value.back() == '/' || value.front() == '$' ||
        value.find_first_of("+#") != std::string::npos) {
        throw std::runtime_error(
            "plugin_opt_topic_prefix must be topic levels without wildcards, '$' or a leading "
            "or trailing '/', such as parley/v1; not '" +
            value + "'");
    }
    return value;
}

// "hs256_secret_file" or "hs256_secret_file.KID": the algorithm and kid of a key option.
bool keyOption(const std::string& name, JwtAlgorithm& algorithm, std::string& kid) {
    static const std::pair<const char*, JwtAlgorithm> kKeyOptions[] = {
        {"hs256_secret_file", JwtAlgorithm::HS256},
        {"rs256_public_key_file", JwtAlgorithm::RS256},
        {"es256_public_key_file", JwtAlgorithm::ES256},
    };
    for (const auto& [prefix, keyAlgorithm] : kKeyOptions) {
        const std::string base = prefix;
        if (name == base) {
            algorithm = keyAlgorithm;
            kid.clear();
            return true;
        }
        if (name.size() > base.size() + 1 && name.compare(0, base.size(), base) == 0 &&
            name[base.size()] == '.') {
            algorithm = keyAlgorithm;
            kid = name.substr(base.size() + 1);
            if (!isValidKid(kid)) {
                throw std::runtime_error("plugin_opt_" + name +
                                         ": a kid is 1-64 characters from A-Z a-z 0-9 . _ -");
            }
            return true;
        }
    }
    return false;
}

}  // namespace

JwtAuthSettings parseSettings(const PluginOptions& options) {
    JwtAuthSettings settings;
    for (const auto& [name, value] : options) {
        JwtAlgorithm algorithm{};
        std::string kid;
        if (keyOption(name, algorithm, kid)) {
            settings.keys.add(loadKeyFile(algorithm, kid, value));
        } else if (name == "key_dir") {
            loadKeyDirectory(value, settings.keys, settings.skippedFiles);
        } else if (name == "issuer") {
            settings.policy.issuer = value;
        } else if (name == "audience") {
            settings.policy.audience = value;
        } else if (name == "leeway") {
            settings.policy.leewaySeconds = integerOption(name, value, 0, 3600);
        } else if (name == "max_token_length") {
            settings.policy.maxTokenBytes =
                static_cast<size_t>(integerOption(name, value, 256, 65536));
        } else if (name == "reserved_users") {
            settings.policy.reservedUsers = nameList(value);
        } else if (name == "disconnect_expired") {
            settings.disconnectExpired = booleanOption(name, value);
        } else if (name == "topic_prefix") {
            settings.topicPrefix = topicPrefixOption(value);
        } else if (name == "service_users") {
            settings.serviceUsers = nameList(value);
            for (const auto& user : settings.serviceUsers) {
                if (!TokenVerifier::isValidUid(user)) {
                    throw std::runtime_error("plugin_opt_service_users: '" + user +
                                             "' is not a user name (1-64 of A-Z a-z 0-9 . _ @ -)");
                }
            }
            if (settings.serviceUsers.empty()) {
                throw std::runtime_error(
                    "plugin_opt_service_users needs parleyd's account: without one, no parleyd "
                    "may take the command subscription");
            }
        } else if (name == "publish_rate") {
            settings.publishLimits.perSecond =
                static_cast<double>(integerOption(name, value, 0, 1000000));
        } else if (name == "publish_burst") {
            settings.publishLimits.burst =
                static_cast<double>(integerOption(name, value, 1, 1000000));
        } else if (name == "publish_disconnect_after") {
            settings.publishLimits.disconnectAfterMs = integerOption(name, value, 0, 86400) * 1000;
        } else if (name == "shard") {
            settings.policy.shard = static_cast<size_t>(integerOption(name, value, 0, 1023));
        } else if (name == "shard_count") {
            settings.policy.shardCount = static_cast<size_t>(integerOption(name, value, 1, 1024));
        } else {
            throw std::runtime_error("unknown option plugin_opt_" + name +
                                     " (see docs/authentication.md)");
        }
    }
    if (settings.policy.shardCount > 0 && settings.policy.shard >= settings.policy.shardCount) {
        throw std::runtime_error(
            "plugin_opt_shard must be below plugin_opt_shard_count (shards "
            "are counted from 0)");
    }
    if (settings.policy.shard > 0 && settings.policy.shardCount == 0) {
        throw std::runtime_error("plugin_opt_shard needs plugin_opt_shard_count");
    }
    // A token for a service account would carry its rights (the shared command subscription,
    // no publish limit, the acl_file's service lines).
    settings.policy.reservedUsers.insert(settings.serviceUsers.begin(),
                                         settings.serviceUsers.end());
    return settings;
}

}  // namespace parley::jwtauth
