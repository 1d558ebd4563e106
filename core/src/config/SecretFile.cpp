#include "config/SecretFile.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/ConfigLoader.h"

namespace parley {

std::string readSecretFile(const std::string& path, const std::string& key) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
        const bool exists = std::filesystem::exists(path, error);
        throw ConfigError(key + ": cannot read " + path +
                          (exists ? " (not a regular file)" : " (no such file)"));
    }
    errno = 0;
    std::ifstream file(path);
    if (!file) {
        const int reason = errno;  // set by open(2) underneath, in practice
        throw ConfigError(key + ": cannot read " + path +
                          (reason != 0 ? " (" + std::string(std::strerror(reason)) + ")" : ""));
    }
    std::string line;
    std::getline(file, line);
    if (file.bad()) {
        throw ConfigError(key + ": cannot read " + path);
    }
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return line;
}

}  // namespace parley
