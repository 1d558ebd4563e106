#include "store/SqliteStore.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "store/SqliteConnection.h"

namespace parley::store {

SqliteStore::SqliteStore(const SqliteConfig& config, int64_t retryForMs)
    : SqlStore(
          sqliteDialect(),
          [config] { return std::make_unique<SqliteConnection>(config.path, config.synchronous); },
          1, 1, retryForMs) {}

std::string sqlitePathProblem(const SqliteConfig& config) {
    const std::string& path = config.path;
    if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) {
        return "";  // SQLite's own names, not files
    }
    namespace fs = std::filesystem;
    std::error_code error;
    const fs::path file(path);
    const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
    if (!fs::is_directory(folder, error)) {
        return "the folder " + folder.string() +
               (fs::exists(folder, error) ? " is not a folder" : " does not exist");
    }
    if (::access(folder.c_str(), W_OK | X_OK) != 0) {
        return "the folder " + folder.string() + " is not writable (" + std::strerror(errno) + ")";
    }
    if (!fs::exists(file, error)) {
        return "";  // created at start
    }
    if (!fs::is_regular_file(file, error)) {
        return path + " is not a file";
    }
    if (::access(path.c_str(), R_OK | W_OK) != 0) {
        return path + " is not readable and writable (" + std::strerror(errno) + ")";
    }
    // Every SQLite database starts with this header; an empty file is a database yet to be made.
    static constexpr char kHeader[] = "SQLite format 3";  // and its NUL: 16 bytes
    std::ifstream in(path, std::ios::binary);
    char start[sizeof(kHeader)] = {};
    in.read(start, sizeof(start));
    if (in.gcount() > 0 && (in.gcount() < static_cast<std::streamsize>(sizeof(start)) ||
                            std::memcmp(start, kHeader, sizeof(kHeader)) != 0)) {
        return path + " is not an SQLite database";
    }
    return "";
}

}  // namespace parley::store
