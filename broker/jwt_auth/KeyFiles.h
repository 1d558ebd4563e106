#pragma once

#include <string>

#include "KeyRing.h"
#include "VerificationKey.h"

namespace parley::jwtauth {

// A kid is 1-64 characters from A-Z a-z 0-9 . _ - (it names files and options).
bool isValidKid(const std::string& kid);

// Reads and checks one key file; throws std::runtime_error naming the file and what is wrong.
// HS256: the secret is the file's bytes less trailing whitespace, at least 32 bytes (RFC 7518
// section 3.2), and not a PEM block (a public key must not become an HMAC secret).
// RS256 / ES256: a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), RSA of at least 2048 bits or EC on
// P-256; a private key is refused, the broker has no use for it.
VerificationKey loadKeyFile(JwtAlgorithm algorithm, const std::string& kid,
                            const std::string& path);

// Adds every key file of `directory` to `keys`: KID.hs256, KID.rs256.pem, KID.es256.pem. Other
// names are skipped (returned in `skipped` for the log). Throws like loadKeyFile.
void loadKeyDirectory(const std::string& directory, KeyRing& keys, std::string& skipped);

}  // namespace parley::jwtauth
