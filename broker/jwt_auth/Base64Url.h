#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley::jwtauth {

// True if every character is one of RFC 4648 section 5 (A-Z a-z 0-9 - _), with no padding, as
// JWS compact serialization requires.
bool isBase64UrlText(std::string_view text);

// Decodes unpadded base64url; nullopt for a character outside the alphabet, padding or an
// impossible length (4n+1).
std::optional<std::string> decodeBase64Url(std::string_view text);

std::string encodeBase64Url(std::string_view bytes);

}  // namespace parley::jwtauth
