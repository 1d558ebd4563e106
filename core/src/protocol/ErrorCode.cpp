#include "protocol/ErrorCode.h"

namespace parley {

std::optional<ErrorCode> rejectionCodeByName(std::string_view name) {
    for (ErrorCode code :
         {ErrorCode::BadRequest, ErrorCode::Forbidden, ErrorCode::NotFound, ErrorCode::TooLarge,
          ErrorCode::RateLimited, ErrorCode::Unavailable, ErrorCode::UnsupportedType,
          ErrorCode::TypeMismatch, ErrorCode::ChecksumMismatch, ErrorCode::SizeMismatch,
          ErrorCode::QuotaExceeded, ErrorCode::UploadIncomplete, ErrorCode::ImageTooLarge,
          ErrorCode::Internal}) {
        if (errorCodeName(code) == name) {
            return code;
        }
    }
    return std::nullopt;
}

}  // namespace parley
