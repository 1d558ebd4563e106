#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

// Development tokens for the broker's JWT login (broker/jwt_auth, docs/authentication.md).
// A production backend mints its own, with the claims described there.
enum class TokenAlgorithm { HS256, RS256, ES256 };

struct TokenRequest {
    std::string uid;  // becomes "sub"; the client logs in with username = uid
    TokenAlgorithm algorithm = TokenAlgorithm::HS256;
    // HS256: a file holding the shared secret (trailing whitespace ignored, at least 32 bytes).
    // RS256 / ES256: a PEM private key (RSA, or EC on P-256).
    std::string keyFile;
    std::string kid;       // "kid" header if not empty
    std::string issuer;    // "iss" if not empty
    std::string audience;  // "aud" if not empty
    std::chrono::seconds lifetime{3600};
    // "nbf" = now + notBefore if set.
    std::optional<std::chrono::seconds> notBefore;
};

// A signed compact JWT for `request`, issued at `now` (Unix seconds): claims sub, iat, exp and,
// when asked for, nbf, iss, aud. Throws std::runtime_error (unreadable or unsuitable key, bad uid).
std::string mintToken(const TokenRequest& request, int64_t now);
// Same, issued now.
std::string mintToken(const TokenRequest& request);

// "90" or "90s", "15m", "1h", "7d"; nullopt if malformed, negative or over 10 years.
std::optional<std::chrono::seconds> parseDuration(std::string_view text);

// The `parleyctl token` command. `args` are the words after "token":
//   <uid> [--lifetime 1h] [--not-before 0s] [--secret-file F | --key-file F --alg RS256|ES256]
//         [--kid K] [--issuer I] [--audience A]
// Prints the token and a newline to `out`; errors and usage to `err`. Returns the exit code:
// 0 done, 1 the token could not be made (key file), 2 a usage error. Without --secret-file or
// --key-file it uses var/dev/jwt.secret, the development secret tools/up.sh creates.
int runTokenCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace parley
