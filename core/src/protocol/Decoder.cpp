#include "protocol/Decoder.h"

namespace parley {

bool isReservedUid(std::string_view uid) {
    return uid == "system" || uid == "parleyd";
}

bool isValidUid(std::string_view uid) {
    if (uid.empty() || uid.size() > 64 || isReservedUid(uid)) {
        return false;
    }
    for (char c : uid) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

namespace {

// Deepest nesting of arrays and objects, counted without parsing; strings are skipped so brackets
// inside them do not count. Stops early once past the limit.
int nestingDepth(const std::string& text, int limit) {
    int depth = 0;
    int deepest = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) {
                return deepest;
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

// A topic segment we can answer on: no wildcards, no NUL, within the uid length bound.
bool isReplyableUid(std::string_view uid) {
    return !uid.empty() && uid.size() <= 256 &&
           uid.find_first_of(std::string_view("+#/\0", 4)) == std::string_view::npos;
}

}  // namespace

std::variant<Command, DecodeFailure> Decoder::decode(const std::string& topic,
                                                     const std::string& payload,
                                                     std::string correlationData) const {
    auto uid = topics_.uidFromCommandTopic(topic);
    const bool withBytes = !uid;
    if (withBytes) {
        uid = topics_.uidFromBytesCommandTopic(topic);
    }
    if (!uid) {
        return DecodeFailure{std::nullopt, nullptr, ErrorCode::BadRequest,
                             "not a command topic: " + topic};
    }
    if (!isValidUid(*uid)) {
        std::optional<std::string> replyTo;
        if (isReplyableUid(*uid)) {
            replyTo = *uid;
        }
        return DecodeFailure{replyTo, nullptr, ErrorCode::BadRequest,
                             isReservedUid(*uid)
                                 ? "user id '" + *uid + "' is reserved"
                                 : "user id must be 1-64 characters from A-Z a-z 0-9 . _ @ -"};
    }
    // On the bytes topic: the command on one line, a newline, the bytes (which nothing reads
    // here: they may hold anything).
    std::optional<std::string> bytes;
    std::string header;
    if (withBytes) {
        const auto newline = payload.find('\n');
        if (newline == std::string::npos) {
            return DecodeFailure{uid, nullptr, ErrorCode::BadRequest,
                                 "a command with bytes is one line of JSON, a newline (\\n), then "
                                 "the bytes"};
        }
        if (payload.size() - newline - 1 > maxBytesPerCommand_) {
            return DecodeFailure{uid, nullptr, ErrorCode::TooLarge,
                                 std::to_string(payload.size() - newline - 1) +
                                     " bytes after the command exceed the limit of " +
                                     std::to_string(maxBytesPerCommand_) +
                                     " (limits.max_bytes_per_command)"};
        }
        header = payload.substr(0, newline);
        bytes = payload.substr(newline + 1);
    }
    const std::string& text = withBytes ? header : payload;
    if (text.size() > maxPayloadBytes_) {
        return DecodeFailure{uid, nullptr, ErrorCode::TooLarge,
                             "payload of " + std::to_string(text.size()) +
                                 " bytes exceeds the limit of " + std::to_string(maxPayloadBytes_)};
    }
    if (nestingDepth(text, kMaxDepth) > kMaxDepth) {
        return DecodeFailure{uid, nullptr, ErrorCode::BadRequest,
                             "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels"};
    }
    // nlohmann's reader takes a NUL byte for the end of its input (it also reads C strings), so
    // `{...}\0anything` would parse as the object alone. JSON text never holds a raw NUL (inside
    // a string it is \u0000): the whole payload must be the one object.
    if (text.find('\0') != std::string::npos) {
        return DecodeFailure{uid, nullptr, ErrorCode::BadRequest,
                             "payload must be one JSON object and nothing else (it holds a NUL "
                             "byte)"};
    }
    nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
        return DecodeFailure{uid, nullptr, ErrorCode::BadRequest,
                             "payload is not valid JSON in UTF-8"};
    }
    if (!document.is_object()) {
        return DecodeFailure{uid, nullptr, ErrorCode::BadRequest, "payload must be a JSON object"};
    }
    nlohmann::json requestId = nullptr;
    if (auto id = document.find("id"); id != document.end() && !id->is_null()) {
        if (!id->is_string() || id->get_ref<const std::string&>().empty() ||
            id->get_ref<const std::string&>().size() > kMaxRequestIdLength) {
            return DecodeFailure{uid, nullptr, ErrorCode::BadRequest,
                                 "\"id\" must be a string of 1 to 64 bytes"};
        }
        requestId = *id;
    }
    auto op = document.find("op");
    if (op == document.end() || !op->is_string() || op->get_ref<const std::string&>().empty()) {
        return DecodeFailure{uid, requestId, ErrorCode::BadRequest,
                             "\"op\" must be a non-empty string"};
    }
    bool activity = true;
    if (auto marked = document.find("activity"); marked != document.end() && !marked->is_null()) {
        if (!marked->is_boolean()) {
            return DecodeFailure{uid, requestId, ErrorCode::BadRequest,
                                 "\"activity\" must be true or false"};
        }
        activity = marked->get<bool>();
    }
    Command command;
    command.uid = std::move(*uid);
    command.activity = activity;
    command.requestId = std::move(requestId);
    command.op = op->get<std::string>();
    command.args = std::move(document);
    command.correlationData = std::move(correlationData);
    command.bytes = std::move(bytes);
    return command;
}

}  // namespace parley
