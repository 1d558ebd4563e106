#include "Paths.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace parley::testing {

std::string sourceDir() {
    return PARLEY_SOURCE_DIR;
}

std::string parleydPath() {
    return PARLEY_PARLEYD_PATH;
}

namespace {

std::string readWhole(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::string installedProductionBrokerConfig() {
    std::string config = readWhole(sourceDir() + "/config/production/mosquitto.conf.in");
    // InstallConfigs.cmake.in drops the settings file's leading comment the same way.
    const std::string settings = std::regex_replace(
        readWhole(sourceDir() + "/config/mosquitto/conf.d/parley.conf"),
        std::regex("^(#[^\n]*\n)+\n"), "", std::regex_constants::format_first_only);
    const std::vector<std::pair<std::string, std::string>> values = {
        {"@PARLEY_CONFIG_DIR@", "/etc/parley"},
        {"@PARLEY_LIB_DIR@", "/usr/lib/parley"},
        {"@PARLEY_DOC_DIR@", "/usr/share/doc/parley-chat"},
        {"@PARLEY_BROKER_SETTINGS@", settings},
    };
    for (const auto& [placeholder, value] : values) {
        for (size_t at = config.find(placeholder); at != std::string::npos;
             at = config.find(placeholder, at + value.size())) {
            config.replace(at, placeholder.size(), value);
        }
    }
    if (const size_t left = config.find("@PARLEY_"); left != std::string::npos) {
        throw std::runtime_error(
            "installedProductionBrokerConfig: a placeholder it does not know: " +
            config.substr(left, config.find('@', left + 1) - left + 1));
    }
    return config;
}

}  // namespace parley::testing
