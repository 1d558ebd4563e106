#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "KeyRing.h"

namespace parley::jwtauth {

// What the broker needs besides the keys.
struct VerifierPolicy {
    std::string issuer;          // if not empty, "iss" must equal it
    std::string audience;        // if not empty, "aud" (a string or an array) must contain it
    int64_t leewaySeconds = 30;  // clock skew allowed on exp and nbf
    size_t maxTokenBytes = 8192;
    // Accounts that may log in only through the password file: a token for them is refused
    // even if validly signed, so an issuer that lets anyone pick a name cannot hand out the
    // service account's ACL rights.
    std::set<std::string, std::less<>> reservedUsers = {"parleyd", "system"};
    // Users sharded over brokers (plugin_opt_shard, plugin_opt_shard_count): this broker is shard
    // `shard` of `shardCount` and takes only the users shardOfUser puts here. 0: not sharded.
    size_t shard = 0;
    size_t shardCount = 0;
};

enum class Decision {
    Accept,  // a valid token for this user and client id
    Defer,   // not a JWT: the password file decides (service accounts)
    Refuse,  // a JWT that fails, or an identity that does not fit
};

struct Verdict {
    Decision decision = Decision::Refuse;
    // Why it was refused or deferred, for the broker log. Never contains the token.
    std::string reason;
    int64_t expiresAt = 0;  // "exp" of an accepted token
};

// Decides one CONNECT: username = uid, password = JWT. Pure apart from libjwt's signature check,
// so it is tested without a broker.
class TokenVerifier {
  public:
    TokenVerifier(KeyRing keys, VerifierPolicy policy);

    // `password` may be null (no password in the CONNECT). `now` in Unix seconds.
    Verdict verify(const char* username, const char* clientId, const char* password,
                   int64_t now) const;

    // Why `uid` may not log in on this broker shard (shardOfUser puts it on another), or empty.
    // Always empty when the broker is not sharded; service accounts are the caller's to exempt.
    std::string wrongShard(std::string_view uid) const;

    // A password of three base64url segments whose first one starts a JSON object. Anything
    // else is a password for the password file.
    static bool looksLikeJwt(std::string_view password);
    // 1-64 characters from A-Z a-z 0-9 . _ -  and @ (Parley's uid, see docs/protocol.md).
    static bool isValidUid(std::string_view uid);

    const KeyRing& keys() const { return keys_; }
    const VerifierPolicy& policy() const { return policy_; }

  private:
    KeyRing keys_;
    VerifierPolicy policy_;
};

}  // namespace parley::jwtauth
