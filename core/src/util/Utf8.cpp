#include "util/Utf8.h"

#include <cstdint>

namespace parley {

namespace {
bool isContinuation(unsigned char byte) {
    return (byte & 0xC0U) == 0x80U;
}
}  // namespace

size_t utf8Length(std::string_view text) {
    size_t count = 0;
    for (unsigned char byte : text) {
        if (!isContinuation(byte)) {
            ++count;
        }
    }
    return count;
}

std::string utf8Prefix(std::string_view text, size_t maxCodePoints) {
    size_t seen = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (!isContinuation(static_cast<unsigned char>(text[i]))) {
            if (seen == maxCodePoints) {
                return std::string(text.substr(0, i));
            }
            ++seen;
        }
    }
    return std::string(text);
}

bool isValidUtf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80U) {
            ++i;
            continue;
        }
        size_t length = 0;
        uint32_t codePoint = 0;
        if ((lead & 0xE0U) == 0xC0U) {
            length = 2;
            codePoint = lead & 0x1FU;
        } else if ((lead & 0xF0U) == 0xE0U) {
            length = 3;
            codePoint = lead & 0x0FU;
        } else if ((lead & 0xF8U) == 0xF0U) {
            length = 4;
            codePoint = lead & 0x07U;
        } else {
            return false;
        }
        if (i + length > text.size()) {
            return false;
        }
        for (size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (!isContinuation(next)) {
                return false;
            }
            codePoint = (codePoint << 6U) | (next & 0x3FU);
        }
        static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (codePoint < kSmallest[length] || codePoint > 0x10FFFF ||
            (codePoint >= 0xD800 && codePoint <= 0xDFFF)) {
            return false;
        }
        i += length;
    }
    return true;
}

bool hasControlCharacter(std::string_view text) {
    for (unsigned char byte : text) {
        if (byte < 0x20U || byte == 0x7FU) {
            return true;
        }
    }
    return false;
}

}  // namespace parley
