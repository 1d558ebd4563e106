#include "parley/wire/ErrorCode.h"

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
        case ErrorCode::UnsupportedType:
            return "unsupported_type";
        case ErrorCode::TypeMismatch:
            return "type_mismatch";
        case ErrorCode::ChecksumMismatch:
            return "checksum_mismatch";
        case ErrorCode::SizeMismatch:
            return "size_mismatch";
        case ErrorCode::QuotaExceeded:
            return "quota_exceeded";
        case ErrorCode::UploadIncomplete:
            return "upload_incomplete";
        case ErrorCode::ImageTooLarge:
            return "image_too_large";
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
        case ErrorCode::NotGroup:
            return "not_group";
        case ErrorCode::NotAdmin:
            return "not_admin";
        case ErrorCode::AlreadyMember:
            return "already_member";
        case ErrorCode::NotMember:
            return "not_member";
        case ErrorCode::GroupFull:
            return "group_full";
        case ErrorCode::TransferLimited:
            return "transfer_limited";
    }
    return "internal";
}

}  // namespace parley
