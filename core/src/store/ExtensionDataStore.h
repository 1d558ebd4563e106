#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace parley::store {

// What extensions keep for themselves. Part of Store: every method is one transaction.
class ExtensionDataStore {
  public:
    virtual ~ExtensionDataStore() = default;

    // A small key-value store per extension. Expired entries read as absent. `now` and
    // `expiresAt` are wall-clock ms.
    virtual std::optional<std::string> kvGet(const std::string& extension, const std::string& key,
                                             int64_t now) = 0;
    virtual void kvSet(const std::string& extension, const std::string& key,
                       const std::string& value, std::optional<int64_t> expiresAt, int64_t now) = 0;
    virtual bool kvDelete(const std::string& extension, const std::string& key) = 0;
    // Adds delta to the integer value (absent or expired counts as 0) and returns the result;
    // `expiresAt` applies when the entry is created.
    virtual int64_t kvIncr(const std::string& extension, const std::string& key, int64_t delta,
                           std::optional<int64_t> expiresAt, int64_t now) = 0;
    virtual std::vector<std::pair<std::string, std::string>> kvList(
        const std::string& extension, const std::string& prefix, int limit, int64_t now,
        const std::string& after = {}) = 0;
    virtual int kvPurgeExpired(int64_t now, int limit) = 0;
};

}  // namespace parley::store
