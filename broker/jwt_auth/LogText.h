#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley::jwtauth {

// `text` made safe for one broker log line: bytes outside printable ASCII become \xNN, quotes
// and backslashes are escaped, and anything past `maxLength` input bytes is cut with "...".
// Usernames, client ids and claims come from the network and could otherwise forge log lines.
std::string printable(std::string_view text, size_t maxLength = 96);

// Unix seconds as "2025-06-01T12:00:00Z".
std::string isoTime(int64_t seconds);

}  // namespace parley::jwtauth
