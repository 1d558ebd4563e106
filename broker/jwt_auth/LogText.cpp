#include "LogText.h"

#include <ctime>

namespace parley::jwtauth {

std::string printable(std::string_view text, size_t maxLength) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    const size_t shown = text.size() < maxLength ? text.size() : maxLength;
    out.reserve(shown + 8);
    for (size_t i = 0; i < shown; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == '\\' || byte == '\'' || byte == '"') {
            out.push_back('\\');
            out.push_back(static_cast<char>(byte));
        } else if (byte < 0x20 || byte >= 0x7F) {
            out += "\\x";
            out.push_back(kHex[byte >> 4]);
            out.push_back(kHex[byte & 0xF]);
        } else {
            out.push_back(static_cast<char>(byte));
        }
    }
    if (shown < text.size()) {
        out += "...";
    }
    return out;
}

std::string isoTime(int64_t seconds) {
    const auto time = static_cast<std::time_t>(seconds);
    std::tm parts{};
    char text[32];
    if (gmtime_r(&time, &parts) == nullptr ||
        std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts) == 0) {
        return std::to_string(seconds);
    }
    return text;
}

}  // namespace parley::jwtauth
