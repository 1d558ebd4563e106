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
            settings.policy.reservedUsers.clear();
            size_t start = 0;
            while (start <= value.size()) {
                size_t comma = value.find(',', start);
                if (comma == std::string::npos) {
                    comma = value.size();
                }
                std::string user = value.substr(start, comma - start);
                user.erase(0, user.find_first_not_of(' '));
                user.erase(user.find_last_not_of(' ') + 1);
                if (!user.empty()) {
                    settings.policy.reservedUsers.insert(user);
                }
                start = comma + 1;
            }
        } else if (name == "disconnect_expired") {
            settings.disconnectExpired = booleanOption(name, value);
        } else {
            throw std::runtime_error("unknown option plugin_opt_" + name +
                                     " (see docs/authentication.md)");
        }
    }
    if (settings.keys.empty()) {
        throw std::runtime_error(
            "no key configured: set plugin_opt_hs256_secret_file, "
            "plugin_opt_rs256_public_key_file, plugin_opt_es256_public_key_file (each optionally "
            ".KID) or plugin_opt_key_dir");
    }
    return settings;
}

}  // namespace parley::jwtauth
