#include "PluginHost.h"

#include <algorithm>

namespace parley::plugins {

using nlohmann::json;

void PluginHost::check(parley_status status, const std::string& what) const {
    if (status == PARLEY_ERR_UNAVAILABLE) {
        throw HostUnavailable(what + ": parleyd's database is unreachable");
    }
    if (status != PARLEY_OK) {
        throw std::runtime_error(what + " failed: status " +
                                 std::to_string(static_cast<int>(status)));
    }
}

json PluginHost::takeJson(parley_status status, parley_buffer& buffer, const char* what) const {
    const std::string text = buffer.data != nullptr ? std::string(buffer.data, buffer.len) : "";
    host_->buffer_free(&buffer);
    check(status, what);
    return json::parse(text);
}

std::optional<std::string> PluginHost::kvGet(const std::string& key) const {
    parley_buffer buffer{};
    const parley_status status = host_->kv_get(self_, key.c_str(), &buffer);
    std::string value = buffer.data != nullptr ? std::string(buffer.data, buffer.len) : "";
    host_->buffer_free(&buffer);
    if (status == PARLEY_ERR_NOT_FOUND) {
        return std::nullopt;
    }
    check(status, "kv_get " + key);
    return value;
}

void PluginHost::kvSet(const std::string& key, const std::string& value, int64_t ttlMs) const {
    check(host_->kv_set(self_, key.c_str(), value.data(), value.size(), ttlMs), "kv_set " + key);
}

void PluginHost::kvDelete(const std::string& key) const {
    const parley_status status = host_->kv_delete(self_, key.c_str());
    if (status != PARLEY_ERR_NOT_FOUND) {
        check(status, "kv_delete " + key);
    }
}

int64_t PluginHost::kvIncr(const std::string& key, int64_t delta, int64_t ttlMs) const {
    int64_t value = 0;
    check(host_->kv_incr(self_, key.c_str(), delta, ttlMs, &value), "kv_incr " + key);
    return value;
}

json PluginHost::kvList(const std::string& prefix, size_t limit, const std::string& after) const {
    parley_buffer buffer{};
    if (after.empty()) {
        return takeJson(host_->kv_list(self_, prefix.c_str(), limit, &buffer), buffer, "kv_list");
    }
    return takeJson(host_->kv_list_after(self_, prefix.c_str(), after.c_str(), limit, &buffer),
                    buffer, "kv_list_after");
}

json PluginHost::unreadScan(int64_t sinceMs, const std::string* uid, size_t limit) const {
    parley_buffer buffer{};
    return takeJson(
        host_->unread_scan(self_, sinceMs, uid != nullptr ? uid->c_str() : nullptr, limit, &buffer),
        buffer, "unread_scan");
}

std::optional<json> PluginHost::conversation(const std::string& conv) const {
    parley_buffer buffer{};
    const parley_status status = host_->conversation_get(self_, conv.c_str(), &buffer);
    if (status == PARLEY_ERR_NOT_FOUND || status == PARLEY_ERR_INVALID) {
        host_->buffer_free(&buffer);
        return std::nullopt;
    }
    return takeJson(status, buffer, "conversation_get");
}

json PluginHost::user(const std::string& uid) const {
    parley_buffer buffer{};
    return takeJson(host_->user_get(self_, uid.c_str(), &buffer), buffer, "user_get");
}

std::optional<json> PluginHost::message(const std::string& conv, int64_t seq) const {
    parley_buffer buffer{};
    const parley_status status =
        host_->messages_get(self_, conv.c_str(), seq + 1, seq - 1, 1, &buffer);
    if (status == PARLEY_ERR_NOT_FOUND || status == PARLEY_ERR_INVALID) {
        host_->buffer_free(&buffer);
        return std::nullopt;
    }
    const json page = takeJson(status, buffer, "messages_get");
    for (const auto& message : page.value("msgs", json::array())) {
        if (message.value("seq", int64_t{-1}) == seq) {
            return message;
        }
    }
    return std::nullopt;
}

json PluginHost::latestMessages(const std::string& conv, size_t limit) const {
    parley_buffer buffer{};
    const parley_status status =
        host_->messages_get(self_, conv.c_str(), PARLEY_NO_SEQ, PARLEY_NO_SEQ,
                            std::clamp<size_t>(limit, 1, 100), &buffer);
    if (status == PARLEY_ERR_NOT_FOUND) {
        host_->buffer_free(&buffer);
        return json::array();
    }
    return takeJson(status, buffer, "messages_get").value("msgs", json::array());
}

json PluginHost::messagesAfter(const std::string& conv, int64_t after, size_t limit) const {
    parley_buffer buffer{};
    const parley_status status = host_->messages_get(self_, conv.c_str(), PARLEY_NO_SEQ, after,
                                                     std::clamp<size_t>(limit, 1, 100), &buffer);
    if (status == PARLEY_ERR_NOT_FOUND) {
        host_->buffer_free(&buffer);
        return {{"msgs", json::array()}, {"has_more", false}};
    }
    return takeJson(status, buffer, "messages_get");
}

void PluginHost::log(parley_log_level level, const std::string& message) const {
    host_->log(self_, level, message.c_str());
}

}  // namespace parley::plugins
