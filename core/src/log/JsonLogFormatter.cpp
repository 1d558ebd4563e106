#include "log/JsonLogFormatter.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <ctime>

#include "log/LogFields.h"

namespace parley::log {

namespace {

// The names log.level accepts, so a search uses the words of the configuration.
const char* levelName(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
            return "trace";
        case spdlog::level::debug:
            return "debug";
        case spdlog::level::info:
            return "info";
        case spdlog::level::warn:
            return "warn";
        case spdlog::level::err:
            return "error";
        case spdlog::level::critical:
            return "critical";
        default:
            return "off";
    }
}

// ISO 8601, UTC, milliseconds: "2026-11-21T08:33:10.120Z".
std::string utcTimestamp(std::chrono::system_clock::time_point time) {
    const auto sinceEpoch = time.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(sinceEpoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch - seconds);
    const std::time_t whole = static_cast<std::time_t>(seconds.count());
    std::tm parts{};
    gmtime_r(&whole, &parts);
    char text[32];
    const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
    char withMillis[40];
    std::snprintf(withMillis, sizeof withMillis, "%.*s.%03dZ", static_cast<int>(length), text,
                  static_cast<int>(millis.count()));
    return withMillis;
}

bool startsWith(const std::string& text, const char* prefix) {
    return text.rfind(prefix, 0) == 0;
}

// "plugin 'echo': ..." -> "echo" (the quoted name after `prefix`).
bool quotedName(const std::string& message, const char* prefix, std::string& name) {
    if (!startsWith(message, prefix)) {
        return false;
    }
    const size_t start = std::char_traits<char>::length(prefix);
    const size_t end = message.find('\'', start);
    if (end == std::string::npos || end == start) {
        return false;
    }
    name = message.substr(start, end - start);
    return true;
}

}  // namespace

std::string componentOf(const std::string& message, bool inCommand, std::string& extension) {
    for (const char* prefix : {"plugin '", "extension '", "script '"}) {
        if (quotedName(message, prefix, extension)) {
            return "extension";
        }
    }
    // ExtensionServices writes an extension's own lines as "[name] text".
    if (startsWith(message, "[")) {
        const size_t end = message.find("] ");
        if (end != std::string::npos && end > 1) {
            extension = message.substr(1, end - 1);
            return "extension";
        }
    }
    // "store: ...": one lowercase word, then a colon.
    size_t word = 0;
    while (word < message.size() && std::islower(static_cast<unsigned char>(message[word]))) {
        ++word;
    }
    if (word > 0 && word < message.size() && message[word] == ':') {
        return message.substr(0, word);
    }
    return inCommand ? "command" : "parleyd";
}

std::string JsonLogFormatter::line(const spdlog::details::log_msg& message) {
    const std::string text(message.payload.data(), message.payload.size());
    const auto& fields = LogFields::current();
    std::string extension;
    const std::string component = componentOf(text, !fields.empty(), extension);

    nlohmann::ordered_json object;
    object["ts"] = utcTimestamp(message.time);
    object["level"] = levelName(message.level);
    object["logger"] = std::string(message.logger_name.data(), message.logger_name.size());
    object["component"] = component;
    if (!extension.empty()) {
        object["extension"] = extension;
    }
    object["msg"] = text;
    object["thread"] = message.thread_id;
    for (const auto& [key, value] : fields) {
        object[key] = value;
    }
    // Messages may quote what a client sent: invalid UTF-8 is replaced, never a broken line.
    return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) {
    const std::string text = line(message);
    dest.append(text.data(), text.data() + text.size());
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
    return std::make_unique<JsonLogFormatter>();
}

}  // namespace parley::log
