#include "protocol/ErrorCode.h"

namespace parley {

std::string_view errorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::BadRequest:
            return "bad_request";
        case ErrorCode::UnknownOp:
            return "unknown_op";
        case ErrorCode::Forbidden:
            return "forbidden";
        case ErrorCode::NotFound:
            return "not_found";
        case ErrorCode::TooLarge:
            return "too_large";
        case ErrorCode::RateLimited:
            return "rate_limited";
        case ErrorCode::Unavailable:
            return "unavailable";
        case ErrorCode::Internal:
            return "internal";
        case ErrorCode::NotSender:
            return "not_sender";
        case ErrorCode::EditWindowPassed:
            return "edit_window_passed";
        case ErrorCode::MessageDeleted:
            return "message_deleted";
        case ErrorCode::TooManyReactions:
            return "too_many_reactions";
    }
    return "internal";
}

std::optional<ErrorCode> rejectionCodeByName(std::string_view name) {
    for (ErrorCode code :
         {ErrorCode::BadRequest, ErrorCode::Forbidden, ErrorCode::NotFound, ErrorCode::TooLarge,
          ErrorCode::RateLimited, ErrorCode::Unavailable, ErrorCode::Internal}) {
        if (errorCodeName(code) == name) {
            return code;
        }
    }
    return std::nullopt;
}

}  // namespace parley
