#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::attachments {

// Standard base64 (RFC 4648 section 4, with padding). decode: std::nullopt for anything else.
std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

// SHA-256 of the file's first `bytes` bytes, read in pieces (never the whole file in memory),
// in lower-case hex; std::nullopt if it cannot be read.
std::optional<std::string> sha256OfFile(const std::string& path);
std::string sha256Hex(std::string_view bytes);
std::string hmacSha256Hex(std::string_view key, std::string_view message);
bool constantTimeEquals(std::string_view a, std::string_view b);
// `count` random bytes as URL-safe letters and digits (A-Z a-z 0-9).
std::string randomId(size_t characters);

// The MIME type the content's magic bytes say (libmagic, from the first 64 KiB of the file),
// e.g. "image/png"; "application/octet-stream" when it knows nothing better. Thread-safe.
std::string sniffMimeType(const std::string& path);
// "image/jpeg" and "image/jpg" are one type, parameters (";charset=...") are dropped, case is
// folded: what two MIME types are compared as.
std::string normalizedMimeType(std::string_view type);

}  // namespace parley::attachments
