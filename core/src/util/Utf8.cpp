#include "util/Utf8.h"

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

bool hasControlCharacter(std::string_view text) {
    for (unsigned char byte : text) {
        if (byte < 0x20U || byte == 0x7FU) {
            return true;
        }
    }
    return false;
}

}  // namespace parley
