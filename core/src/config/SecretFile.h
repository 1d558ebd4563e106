#pragma once

#include <string>

namespace parley {

// A secret kept in a file (broker.password_file, store.mysql.password_file): its first line,
// without the line ending. Throws ConfigError naming `key` and the file when it cannot be read
// (missing, not a regular file, no permission). The start and --check-config both read it so.
std::string readSecretFile(const std::string& path, const std::string& key);

}  // namespace parley
