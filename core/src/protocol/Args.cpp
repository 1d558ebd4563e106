#include "protocol/Args.h"

#include "protocol/Decoder.h"
#include "protocol/ErrorCode.h"
#include "util/Utf8.h"

namespace parley {

namespace {
[[noreturn]] void badField(const char* key, const std::string& expected) {
    throw ProtocolError(ErrorCode::BadRequest, std::string("\"") + key + "\" " + expected);
}
}  // namespace

const nlohmann::json* Args::find(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

std::optional<std::string> Args::optionalString(const char* key, size_t maxChars) const {
    const nlohmann::json* value = find(key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        badField(key, "must be a string");
    }
    const auto& text = value->get_ref<const std::string&>();
    if (utf8Length(text) > maxChars) {
        badField(key, "must be at most " + std::to_string(maxChars) + " characters");
    }
    return text;
}

std::string Args::requireString(const char* key, size_t maxChars) const {
    auto text = optionalString(key, maxChars);
    if (!text || text->empty()) {
        badField(key, "is required (a non-empty string)");
    }
    return *text;
}

std::string Args::requireUid(const char* key) const {
    const nlohmann::json* value = find(key);
    if (value == nullptr || !value->is_string() ||
        !isValidUid(value->get_ref<const std::string&>())) {
        badField(key, "must be a user id: 1-64 characters from A-Z a-z 0-9 . _ @ -");
    }
    return value->get<std::string>();
}

std::vector<std::string> Args::requireUidList(const char* key, size_t maxCount) const {
    const nlohmann::json* value = find(key);
    if (value == nullptr || !value->is_array()) {
        badField(key, "must be an array of user ids");
    }
    if (value->size() > maxCount) {
        throw ProtocolError(ErrorCode::TooLarge,
                            std::string("\"") + key + "\" has " + std::to_string(value->size()) +
                                " entries; the limit is " + std::to_string(maxCount));
    }
    std::vector<std::string> uids;
    for (const auto& entry : *value) {
        if (!entry.is_string() || !isValidUid(entry.get_ref<const std::string&>())) {
            badField(key, "must contain only user ids: 1-64 characters from A-Z a-z 0-9 . _ @ -");
        }
        uids.push_back(entry.get<std::string>());
    }
    return uids;
}

std::string Args::requireConversation() const {
    const nlohmann::json* value = find("conv");
    if (value == nullptr || !value->is_string()) {
        badField("conv", "is required (a conversation id)");
    }
    const auto& conv = value->get_ref<const std::string&>();
    // Ids are ours ("c" + base32), but any topic-safe id of sane length is looked up as is.
    if (conv.empty() || conv.size() > 40 ||
        conv.find_first_of(std::string_view("+#/\0", 4)) != std::string::npos ||
        hasControlCharacter(conv)) {
        badField("conv", "is not a valid conversation id");
    }
    return conv;
}

std::optional<int64_t> Args::optionalInt(const char* key, int64_t min, int64_t max) const {
    const nlohmann::json* value = find(key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_number_integer()) {
        badField(key, "must be an integer");
    }
    // Unsigned values above INT64_MAX are out of every range we accept.
    if (value->is_number_unsigned() &&
        value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        badField(key, "is out of range");
    }
    const auto number = value->get<int64_t>();
    if (number < min || number > max) {
        badField(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return number;
}

int64_t Args::requireInt(const char* key, int64_t min, int64_t max) const {
    auto number = optionalInt(key, min, max);
    if (!number) {
        badField(key, "is required (an integer)");
    }
    return *number;
}

const nlohmann::json* Args::optionalObject(const char* key) const {
    const nlohmann::json* value = find(key);
    if (value != nullptr && !value->is_object()) {
        badField(key, "must be an object");
    }
    return value;
}

std::string Args::requireOneOf(const char* key, const std::vector<std::string>& allowed) const {
    const nlohmann::json* value = find(key);
    if (value != nullptr && value->is_string()) {
        for (const auto& candidate : allowed) {
            if (value->get_ref<const std::string&>() == candidate) {
                return candidate;
            }
        }
    }
    std::string list;
    for (const auto& candidate : allowed) {
        list += (list.empty() ? "\"" : ", \"") + candidate + "\"";
    }
    badField(key, "must be one of " + list);
}

}  // namespace parley
