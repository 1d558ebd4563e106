#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "parley/wire/ErrorCode.h"

namespace parley {

// The code named `name` (its errorCodeName) if an extension may reject with it: every code but
// unknown_op, which is the dispatcher's alone (an extension that answers an op knows it).
// std::nullopt for any other name.
std::optional<ErrorCode> rejectionCodeByName(std::string_view name);

// Thrown by handlers for anything the client did wrong or may retry; the dispatcher turns it into
// the error reply. `details` are extra fields of the error object (e.g. retry_after_ms).
class ProtocolError : public std::runtime_error {
  public:
    ProtocolError(ErrorCode code, const std::string& message,
                  nlohmann::json details = nlohmann::json::object())
        : std::runtime_error(message), code_(code), details_(std::move(details)) {}

    ErrorCode code() const { return code_; }
    const nlohmann::json& details() const { return details_; }

  private:
    ErrorCode code_;
    nlohmann::json details_;
};

}  // namespace parley
