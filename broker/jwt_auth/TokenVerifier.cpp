#include "TokenVerifier.h"

#include <jwt.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "Base64Url.h"
#include "LogText.h"
#include "parley/wire/UserShard.h"

namespace parley::jwtauth {

namespace {

using nlohmann::json;

constexpr size_t kMaxUidLength = 64;
// Claims far outside any real date (and the int64 range) are malformed, not "far future".
constexpr double kMaxTimestamp = 1e12;

struct JwtDeleter {
    void operator()(jwt_t* token) const { jwt_free(token); }
};

Verdict refuse(std::string reason) {
    return {Decision::Refuse, std::move(reason), 0};
}

// The three segments of a compact JWS.
struct Segments {
    std::string_view header;
    std::string_view payload;
    std::string_view signature;
};

std::optional<Segments> split(std::string_view token) {
    const size_t first = token.find('.');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    const size_t second = token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    return Segments{token.substr(0, first), token.substr(first + 1, second - first - 1),
                    token.substr(second + 1)};
}

std::optional<json> decodeJsonObject(std::string_view segment) {
    auto bytes = decodeBase64Url(segment);
    if (!bytes) {
        return std::nullopt;
    }
    json value = json::parse(*bytes, nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
        return std::nullopt;
    }
    return value;
}

// A NumericDate claim (RFC 7519 section 2): absent, a usable number, or malformed.
enum class DateState { Absent, Present, Malformed };
DateState numericDate(const json& claims, const char* name, int64_t& value) {
    auto found = claims.find(name);
    if (found == claims.end()) {
        return DateState::Absent;
    }
    if (found->is_number_integer()) {
        const auto number = found->get<int64_t>();
        if (number < -static_cast<int64_t>(kMaxTimestamp) ||
            number > static_cast<int64_t>(kMaxTimestamp)) {
            return DateState::Malformed;
        }
        value = number;
        return DateState::Present;
    }
    if (found->is_number_unsigned()) {
        return DateState::Malformed;  // beyond int64: no real date
    }
    if (found->is_number_float()) {
        const double number = found->get<double>();
        if (!std::isfinite(number) || std::fabs(number) > kMaxTimestamp) {
            return DateState::Malformed;
        }
        value = static_cast<int64_t>(std::floor(number));
        return DateState::Present;
    }
    return DateState::Malformed;
}

bool audienceContains(const json& audience, const std::string& wanted) {
    if (audience.is_string()) {
        return audience.get_ref<const std::string&>() == wanted;
    }
    if (audience.is_array()) {
        return std::any_of(audience.begin(), audience.end(), [&](const json& entry) {
            return entry.is_string() && entry.get_ref<const std::string&>() == wanted;
        });
    }
    return false;
}

}  // namespace

TokenVerifier::TokenVerifier(KeyRing keys, VerifierPolicy policy)
    : keys_(std::move(keys)), policy_(std::move(policy)) {}

bool TokenVerifier::looksLikeJwt(std::string_view password) {
    auto segments = split(password);
    if (!segments || segments->header.size() < 4 || segments->payload.empty() ||
        !isBase64UrlText(segments->header) || !isBase64UrlText(segments->payload) ||
        !isBase64UrlText(segments->signature)) {
        return false;
    }
    // The first 4 characters decode to the first 3 bytes on their own: no need to decode a
    // 64 KiB header to tell a token from a password.
    auto start = decodeBase64Url(segments->header.substr(0, 4));
    return start && !start->empty() && start->find_first_not_of(" \t\r\n") != std::string::npos &&
           (*start)[start->find_first_not_of(" \t\r\n")] == '{';
}

bool TokenVerifier::isValidUid(std::string_view uid) {
    return !uid.empty() && uid.size() <= kMaxUidLength &&
           std::all_of(uid.begin(), uid.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '@' || c == '-';
           });
}

std::string TokenVerifier::wrongShard(std::string_view uid) const {
    if (policy_.shardCount <= 1) {
        return "";
    }
    const size_t home = shardOfUser(uid, policy_.shardCount);
    if (home == policy_.shard) {
        return "";
    }
    return "user belongs on broker shard " + std::to_string(home) + " of " +
           std::to_string(policy_.shardCount) + ", this is shard " + std::to_string(policy_.shard) +
           " (docs/scaling.md, \"Users sharded over brokers\")";
}

Verdict TokenVerifier::verify(const char* username, const char* clientId, const char* password,
                              int64_t now) const {
    const std::string_view token = password == nullptr ? std::string_view() : password;
    if (!looksLikeJwt(token)) {
        return {Decision::Defer, token.empty() ? "no password" : "password is not a JWT", 0};
    }
    if (token.size() > policy_.maxTokenBytes) {
        return refuse("token of " + std::to_string(token.size()) + " bytes is longer than " +
                      std::to_string(policy_.maxTokenBytes));
    }
    const std::string_view uid = username == nullptr ? std::string_view() : username;
    if (!isValidUid(uid)) {
        return refuse(uid.empty() ? std::string("no username")
                                  : "username is not a valid uid (1-64 of A-Z a-z 0-9 . _ @ -)");
    }
    if (policy_.reservedUsers.contains(uid)) {
        return refuse("user is reserved for password login (plugin_opt_reserved_users)");
    }
    if (auto elsewhere = wrongShard(uid); !elsewhere.empty()) {
        return refuse(elsewhere);
    }
    // One session per device, and only the user's own: a CONNECT with an existing client id
    // takes over that session, so the id must be bound to the authenticated user.
    const std::string_view client = clientId == nullptr ? std::string_view() : clientId;
    if (client != uid && !(client.size() > uid.size() + 1 && client.substr(0, uid.size()) == uid &&
                           client[uid.size()] == '-')) {
        return refuse("client id does not belong to the user (must be '" + std::string(uid) +
                      "' or start with '" + std::string(uid) + "-')");
    }

    const auto segments = split(token);  // looksLikeJwt() succeeded, so this does too
    const auto header = decodeJsonObject(segments->header);
    if (!header) {
        return refuse("malformed token header");
    }
    const auto algField = header->find("alg");
    if (algField == header->end() || !algField->is_string()) {
        return refuse("token header has no alg");
    }
    const std::string& algName = algField->get_ref<const std::string&>();
    std::string lowerAlg = algName;
    std::transform(lowerAlg.begin(), lowerAlg.end(), lowerAlg.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lowerAlg == "none") {
        return refuse("unsigned token (alg none)");
    }
    if (header->contains("crit")) {
        // RFC 7515 section 4.1.11: extensions we do not implement must not be ignored.
        return refuse("token header has crit extensions, none are supported");
    }
    if (const auto typField = header->find("typ"); typField != header->end()) {
        // libjwt refuses any other typ; say so instead of "signature does not verify".
        std::string typ = typField->is_string() ? typField->get<std::string>() : "";
        std::transform(typ.begin(), typ.end(), typ.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (typ != "JWT") {
            return refuse("token header typ is not JWT");
        }
    }
    std::string kid;
    if (const auto kidField = header->find("kid"); kidField != header->end()) {
        if (!kidField->is_string() || kidField->get_ref<const std::string&>().empty()) {
            return refuse("token header kid is not a non-empty string");
        }
        kid = kidField->get<std::string>();
    }
    const VerificationKey* key = keys_.find(kid);
    if (key == nullptr) {
        return refuse(kid.empty() ? std::string("token has no kid and no key without kid is "
                                                "configured")
                                  : "unknown key id '" + printable(kid, 64) + "'");
    }
    const auto algorithm = algorithmFromName(algName);
    if (!algorithm || *algorithm != key->algorithm) {
        // The key decides the algorithm, never the token: this is what stops an RS256 public
        // key from being used as an HS256 secret.
        return refuse("algorithm '" + printable(algName, 16) + "' is not allowed for key " +
                      (kid.empty() ? std::string("without kid") : "'" + kid + "'") + " (" +
                      std::string(algorithmName(key->algorithm)) + ")");
    }
    const auto claims = decodeJsonObject(segments->payload);
    if (!claims) {
        return refuse("malformed token claims");
    }

    // libjwt checks the signature with the algorithm of the header, which is now pinned to the
    // key's; it needs a NUL-terminated copy anyway.
    const std::string tokenText(token);
    jwt_t* decoded = nullptr;
    const int status = jwt_decode(&decoded, tokenText.c_str(),
                                  reinterpret_cast<const unsigned char*>(key->material.data()),
                                  static_cast<int>(key->material.size()));
    std::unique_ptr<jwt_t, JwtDeleter> verified(decoded);
    if (status != 0 || !verified) {
        return refuse("signature does not verify with key " +
                      (kid.empty() ? std::string("without kid") : "'" + kid + "'"));
    }
    const jwt_alg_t expectedAlg = key->algorithm == JwtAlgorithm::HS256   ? JWT_ALG_HS256
                                  : key->algorithm == JwtAlgorithm::RS256 ? JWT_ALG_RS256
                                                                          : JWT_ALG_ES256;
    if (jwt_get_alg(verified.get()) != expectedAlg) {
        return refuse("libjwt verified with another algorithm than the key's");
    }

    const auto subField = claims->find("sub");
    if (subField == claims->end() || !subField->is_string()) {
        return refuse("token has no sub");
    }
    if (subField->get_ref<const std::string&>() != uid) {
        return refuse("token sub '" + printable(subField->get_ref<const std::string&>(), 64) +
                      "' is not the username");
    }
    int64_t expiresAt = 0;
    switch (numericDate(*claims, "exp", expiresAt)) {
        case DateState::Absent:
            return refuse("token has no exp");
        case DateState::Malformed:
            return refuse("token exp is not a usable NumericDate");
        case DateState::Present:
            break;
    }
    if (now > expiresAt + policy_.leewaySeconds) {
        return refuse("token expired at " + isoTime(expiresAt) + " (now " + isoTime(now) +
                      ", leeway " + std::to_string(policy_.leewaySeconds) + " s)");
    }
    int64_t notBefore = 0;
    switch (numericDate(*claims, "nbf", notBefore)) {
        case DateState::Malformed:
            return refuse("token nbf is not a usable NumericDate");
        case DateState::Present:
            if (now + policy_.leewaySeconds < notBefore) {
                return refuse("token not valid before " + isoTime(notBefore) + " (now " +
                              isoTime(now) + ", leeway " + std::to_string(policy_.leewaySeconds) +
                              " s)");
            }
            break;
        case DateState::Absent:
            break;
    }
    if (!policy_.issuer.empty()) {
        const auto issField = claims->find("iss");
        if (issField == claims->end() || !issField->is_string()) {
            return refuse("token has no iss (expected '" + policy_.issuer + "')");
        }
        if (issField->get_ref<const std::string&>() != policy_.issuer) {
            return refuse("token iss '" + printable(issField->get_ref<const std::string&>(), 64) +
                          "' is not '" + policy_.issuer + "'");
        }
    }
    if (!policy_.audience.empty()) {
        const auto audField = claims->find("aud");
        if (audField == claims->end()) {
            return refuse("token has no aud (expected '" + policy_.audience + "')");
        }
        if (!audienceContains(*audField, policy_.audience)) {
            return refuse("token aud does not include '" + policy_.audience + "'");
        }
    }
    // A login service that names the shard in the token: it must be this one, so a client that
    // picked the wrong broker learns it here rather than by missing its events.
    if (const auto shardField = claims->find("shard"); shardField != claims->end()) {
        if (!shardField->is_number_unsigned()) {
            return refuse("token shard is not a non-negative integer");
        }
        const auto claimed = shardField->get<uint64_t>();
        if (policy_.shardCount > 1 && claimed != policy_.shard) {
            return refuse("token is for broker shard " + std::to_string(claimed) +
                          ", this is shard " + std::to_string(policy_.shard));
        }
        if (policy_.shardCount <= 1 && claimed != 0) {
            return refuse("token is for broker shard " + std::to_string(claimed) +
                          ", this broker is not sharded (plugin_opt_shard_count)");
        }
    }
    return {Decision::Accept, "", expiresAt};
}

}  // namespace parley::jwtauth
