#pragma once

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
    // Attachments (plugins/attachments, docs/attachments.md): each refusal of an upload its own
    // code, so a client can tell its user what to do.
    UnsupportedType,   // the content's magic bytes name a type the server does not accept
    TypeMismatch,      // the declared MIME type is not what the content is
    ChecksumMismatch,  // the bytes received do not have the declared SHA-256
    SizeMismatch,      // the bytes received are not the declared size
    QuotaExceeded,     // the user's daily upload quota would be passed
    UploadIncomplete,  // commit before every chunk arrived
    ImageTooLarge,     // more pixels than the server decodes (a decompression bomb)
    // Refusals of changes to stored messages (msg.edit, msg.delete, msg.react).
    NotSender,         // only the sender (or, to delete, an admin) may
    EditWindowPassed,  // the message is older than limits.edit_window
    MessageDeleted,    // deleted or erased: nothing left to edit or react to
    TooManyReactions,  // a new emoji on a message that has limits.max_reaction_emojis
    // Refusals of changes to a group (conv.add, conv.remove, conv.leave, conv.rename, conv.admin).
    NotGroup,       // a 1:1 conversation (conv.open) has no membership to change
    NotAdmin,       // only an admin of the group may
    AlreadyMember,  // conv.add of users in the group already
    NotMember,      // conv.remove, conv.admin of users not in the group
    GroupFull,      // conv.add past limits.max_group_members
    // A command with bytes past the user's byte budget (limits.user_transfer_bytes_per_second).
    TransferLimited,
    Internal,  // stays last
};

// Every code in its numbering (ops/Metrics.h checks it at compile time).
inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::BadRequest,       ErrorCode::UnknownOp,       ErrorCode::Forbidden,
    ErrorCode::NotFound,         ErrorCode::TooLarge,        ErrorCode::RateLimited,
    ErrorCode::Unavailable,      ErrorCode::UnsupportedType, ErrorCode::TypeMismatch,
    ErrorCode::ChecksumMismatch, ErrorCode::SizeMismatch,    ErrorCode::QuotaExceeded,
    ErrorCode::UploadIncomplete, ErrorCode::ImageTooLarge,   ErrorCode::NotSender,
    ErrorCode::EditWindowPassed, ErrorCode::MessageDeleted,  ErrorCode::TooManyReactions,
    ErrorCode::NotGroup,         ErrorCode::NotAdmin,        ErrorCode::AlreadyMember,
    ErrorCode::NotMember,        ErrorCode::GroupFull,       ErrorCode::TransferLimited,
    ErrorCode::Internal,
};

// The code as it is spelled on the wire ("bad_request", ...).
std::string_view errorCodeName(ErrorCode code);

}  // namespace parley
