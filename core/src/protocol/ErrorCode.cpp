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
    }
    return "internal";
}

}  // namespace parley
