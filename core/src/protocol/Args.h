#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley {

// Typed access to a command's fields. Every accessor throws ProtocolError(bad_request) naming the
// field and what was expected, so handlers read as a list of requirements.
class Args {
  public:
    explicit Args(const nlohmann::json& object) : object_(object) {}

    // A string of 1..maxChars code points (at most maxBytes bytes when given).
    std::string requireString(const char* key, size_t maxChars) const;
    std::optional<std::string> optionalString(const char* key, size_t maxChars) const;

    std::string requireUid(const char* key) const;
    std::vector<std::string> requireUidList(const char* key, size_t maxCount) const;

    // A conversation id as Parley issues them.
    std::string requireConversation() const;

    int64_t requireInt(const char* key, int64_t min, int64_t max) const;
    std::optional<int64_t> optionalInt(const char* key, int64_t min, int64_t max) const;

    // An object or absent/null; throws if present with another type.
    const nlohmann::json* optionalObject(const char* key) const;

    std::string requireOneOf(const char* key, const std::vector<std::string>& allowed) const;

  private:
    const nlohmann::json* find(const char* key) const;

    const nlohmann::json& object_;
};

}  // namespace parley
