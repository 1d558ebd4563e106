#include "chat/MessageLimits.h"

#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

std::optional<MessageProblem> messageProblem(const LimitsConfig& limits, std::string_view body,
                                             const nlohmann::json& meta,
                                             std::optional<std::string>* metaJson) {
    if (!isValidUtf8(body)) {
        return MessageProblem{ErrorCode::BadRequest, "body is not valid UTF-8"};
    }
    if (static_cast<int64_t>(body.size()) > limits.maxBodyBytes) {
        return MessageProblem{ErrorCode::TooLarge, "body exceeds limits.max_body_bytes (" +
                                                       std::to_string(limits.maxBodyBytes) +
                                                       " bytes)"};
    }
    if (!meta.is_null() && !meta.is_object()) {
        return MessageProblem{ErrorCode::BadRequest, "meta must be a JSON object or null"};
    }
    std::optional<std::string> serialised;
    if (meta.is_object()) {
        serialised = toPayload(meta);
        if (static_cast<int64_t>(serialised->size()) > limits.maxMetaBytes) {
            return MessageProblem{ErrorCode::TooLarge, "meta exceeds limits.max_meta_bytes (" +
                                                           std::to_string(limits.maxMetaBytes) +
                                                           " bytes)"};
        }
    }
    if (body.empty() && !serialised) {
        return MessageProblem{ErrorCode::BadRequest, "a message needs a non-empty body or a meta"};
    }
    if (metaJson) {
        *metaJson = std::move(serialised);
    }
    return std::nullopt;
}

}  // namespace parley
