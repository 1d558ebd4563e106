#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace parley::testing {

// Keys and tokens made with OpenSSL alone, not with libjwt or the code under test, so the
// plugin is checked against an independent implementation of JWS (RFC 7515 / 7518).

// Writes a fresh key pair as PEM files: PKCS#8 private key, SubjectPublicKeyInfo public key.
void writeRsaKeyPair(const std::string& privatePath, const std::string& publicPath,
                     int bits = 2048);
// curve: "P-256" (ES256) or another OpenSSL group name, e.g. "P-384" to be refused.
void writeEcKeyPair(const std::string& privatePath, const std::string& publicPath,
                    const std::string& curve = "P-256");

std::string base64Url(const std::string& bytes);

// The signature of `signingInput` ("header.payload"), raw as JWS puts it in the third segment.
std::string hmacSha256(const std::string& signingInput, const std::string& secret);
std::string rsaSha256(const std::string& signingInput, const std::string& privateKeyPath);
// R || S, 32 bytes each (RFC 7518 section 3.4), converted from OpenSSL's DER.
std::string ecdsaP256Sha256(const std::string& signingInput, const std::string& privateKeyPath);

enum class Signer { None, HS256, RS256, ES256 };
// A compact JWS of `header` and `claims`. `key` is the secret (HS256) or a private key file
// (RS256 / ES256); Signer::None leaves the signature segment empty, as alg "none" does.
std::string makeJws(const nlohmann::json& header, const nlohmann::json& claims, Signer signer,
                    const std::string& key);

void writeTextFile(const std::string& path, const std::string& content);
std::string readTextFile(const std::string& path);

}  // namespace parley::testing
