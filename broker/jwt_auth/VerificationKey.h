#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley::jwtauth {

// The signature algorithms the plugin accepts. Each configured key is bound to exactly one, so
// a token cannot pick how its key is used (an RSA public key is never an HMAC secret).
enum class JwtAlgorithm { HS256, RS256, ES256 };

// "HS256", "RS256", "ES256"
std::string_view algorithmName(JwtAlgorithm algorithm);
// Exact, case-sensitive JWS names (RFC 7518); nullopt for anything else, "none" included.
std::optional<JwtAlgorithm> algorithmFromName(std::string_view name);

struct VerificationKey {
    std::string kid;  // empty: the key for tokens without a "kid" header
    JwtAlgorithm algorithm = JwtAlgorithm::HS256;
    std::string material;  // the HMAC secret, or a PEM public key
    std::string source;    // the file it came from, for log lines
};

}  // namespace parley::jwtauth
