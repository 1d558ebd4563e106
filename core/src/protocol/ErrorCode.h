#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace parley {

// Error codes a client sees in {"ok": false, "error": {"code": ...}}. docs/protocol.md lists them.
enum class ErrorCode {
    BadRequest,
    UnknownOp,
    Forbidden,
    NotFound,
    TooLarge,
    RateLimited,
    Unavailable,
    Internal,
    // Refusals of changes to stored messages (msg.edit, msg.delete, msg.react).
    NotSender,         // only the sender (or, to delete, an admin) may
    EditWindowPassed,  // the message is older than limits.edit_window
    MessageDeleted,    // deleted or erased: nothing left to edit or react to
    TooManyReactions,  // a new emoji on a message that has limits.max_reaction_emojis
};

// Every code, in declaration order (which is their numbering): what counts them sizes by it.
inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::BadRequest,       ErrorCode::UnknownOp,      ErrorCode::Forbidden,
    ErrorCode::NotFound,         ErrorCode::TooLarge,       ErrorCode::RateLimited,
    ErrorCode::Unavailable,      ErrorCode::Internal,       ErrorCode::NotSender,
    ErrorCode::EditWindowPassed, ErrorCode::MessageDeleted, ErrorCode::TooManyReactions,
};

std::string_view errorCodeName(ErrorCode code);

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
