#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley {

// Number of code points in a string that is already valid UTF-8 (the JSON parser checked it).
size_t utf8Length(std::string_view text);

// The first maxCodePoints code points of valid UTF-8 text, never cutting a character in half.
std::string utf8Prefix(std::string_view text, size_t maxCodePoints);

// True if the text is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
// Text from JSON is already checked by the parser; this is for text from extensions.
bool isValidUtf8(std::string_view text);

// True if the text contains an ASCII control character (U+0000..U+001F or U+007F).
bool hasControlCharacter(std::string_view text);

}  // namespace parley
