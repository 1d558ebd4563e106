// Unit tests of the JWT plugin's decisions (broker/jwt_auth) and of the token minting library
// (clients/token), without a broker. Tokens are made with OpenSSL directly (TestJws) as well
// as with parley_token, so each side is checked against an independent implementation.

#include <gtest/gtest.h>
#include <jwt.h>

#include <filesystem>

#include "Base64Url.h"
#include "ExpiryWatch.h"
#include "JwtAuthSettings.h"
#include "LogText.h"
#include "TempDir.h"
#include "TestJws.h"
#include "Token.h"
#include "TokenVerifier.h"

namespace parley::testing {
namespace {

using jwtauth::Decision;
using jwtauth::TokenVerifier;
using jwtauth::Verdict;
using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-unit-test-secret";

class Keys {
  public:
    Keys() {
        writeTextFile(secretFile(), kSecret + "\n");
        writeRsaKeyPair(dir_.file("r1.key"), dir_.file("r1.pub"));
        writeEcKeyPair(dir_.file("e1.key"), dir_.file("e1.pub"));
    }
    std::string secretFile() const { return dir_.file("h1.secret"); }
    std::string file(const std::string& name) const { return dir_.file(name); }
    const TempDir& dir() const { return dir_; }

  private:
    TempDir dir_{"parley-jwt-unit"};
};

Keys& keys() {
    static Keys shared;  // RSA key generation takes a moment: once per binary
    return shared;
}

jwtauth::PluginOptions baseOptions() {
    return {{"hs256_secret_file.h1", keys().secretFile()},
            {"rs256_public_key_file.r1", keys().file("r1.pub")},
            {"es256_public_key_file.e1", keys().file("e1.pub")},
            {"issuer", "https://auth.example.test"},
            {"audience", "parley"},
            {"leeway", "30"}};
}

TokenVerifier makeVerifier(jwtauth::PluginOptions options = baseOptions()) {
    auto settings = jwtauth::parseSettings(options);
    return TokenVerifier(std::move(settings.keys), std::move(settings.policy));
}

json claimsFor(const std::string& uid) {
    return {{"sub", uid},
            {"iat", kNow},
            {"exp", kNow + 3600},
            {"iss", "https://auth.example.test"},
            {"aud", "parley"}};
}

std::string hs256(const json& claims, const std::string& kid = "h1") {
    return makeJws({{"alg", "HS256"}, {"typ", "JWT"}, {"kid", kid}}, claims, Signer::HS256,
                   kSecret);
}

Verdict verify(const std::string& token, const std::string& uid = "alice",
               const std::string& clientId = "alice-phone", int64_t now = kNow) {
    static const TokenVerifier verifier = makeVerifier();
    return verifier.verify(uid.c_str(), clientId.c_str(), token.c_str(), now);
}

void expectRefused(const Verdict& verdict, const std::string& reasonPart) {
    EXPECT_EQ(verdict.decision, Decision::Refuse) << verdict.reason;
    EXPECT_NE(verdict.reason.find(reasonPart), std::string::npos)
        << "reason: " << verdict.reason << "\nexpected to contain: " << reasonPart;
}

TEST(JwtBase64Url, RoundTripsAndRejectsPaddingAndForeignCharacters) {
    for (std::string bytes : {"", "a", "ab", "abc", "abcd", "\xff\xfe\x00\x01"}) {
        EXPECT_EQ(jwtauth::decodeBase64Url(jwtauth::encodeBase64Url(bytes)), bytes);
        EXPECT_EQ(jwtauth::encodeBase64Url(bytes), base64Url(bytes));  // OpenSSL agrees
    }
    EXPECT_FALSE(jwtauth::decodeBase64Url("YQ=="));
    EXPECT_FALSE(jwtauth::decodeBase64Url("a+b/"));
    EXPECT_FALSE(jwtauth::decodeBase64Url("abcde"));  // 4n+1 characters cannot be
}

TEST(JwtShape, TellsTokensFromPasswords) {
    EXPECT_TRUE(TokenVerifier::looksLikeJwt(hs256(claimsFor("alice"))));
    EXPECT_TRUE(TokenVerifier::looksLikeJwt(base64Url("{\"alg\":\"none\"}") + ".e30."));
    for (const char* password : {"", "alice", "pw-u1", "my.pass.word", "abcd.efgh.ijkl",
                                 "eyJh.b.c.d", "eyJhbGciOi .e30.x", "eyJh..sig", "a.b"}) {
        EXPECT_FALSE(TokenVerifier::looksLikeJwt(password)) << password;
    }
}

TEST(JwtVerify, AcceptsEachAlgorithmFromAnIndependentSigner) {
    const json claims = claimsFor("alice");
    const Verdict hs = verify(hs256(claims));
    EXPECT_EQ(hs.decision, Decision::Accept) << hs.reason;
    EXPECT_EQ(hs.expiresAt, kNow + 3600);
    const Verdict rs = verify(makeJws({{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "r1"}}, claims,
                                      Signer::RS256, keys().file("r1.key")));
    EXPECT_EQ(rs.decision, Decision::Accept) << rs.reason;
    const Verdict es = verify(
        makeJws({{"alg", "ES256"}, {"kid", "e1"}}, claims, Signer::ES256, keys().file("e1.key")));
    EXPECT_EQ(es.decision, Decision::Accept) << es.reason;
}

TEST(JwtVerify, AcceptsTokensMintedByParleyToken) {
    for (auto [algorithm, file, kid] :
         {std::tuple{TokenAlgorithm::HS256, keys().secretFile(), "h1"},
          std::tuple{TokenAlgorithm::RS256, keys().file("r1.key"), "r1"},
          std::tuple{TokenAlgorithm::ES256, keys().file("e1.key"), "e1"}}) {
        TokenRequest request;
        request.uid = "alice";
        request.algorithm = algorithm;
        request.keyFile = file;
        request.kid = kid;
        request.issuer = "https://auth.example.test";
        request.audience = "parley";
        request.notBefore = std::chrono::seconds(0);
        const Verdict verdict = verify(mintToken(request, kNow));
        EXPECT_EQ(verdict.decision, Decision::Accept) << kid << ": " << verdict.reason;
        EXPECT_EQ(verdict.expiresAt, kNow + 3600);
    }
}

TEST(JwtVerify, DefersWhatIsNotAToken) {
    static const TokenVerifier verifier = makeVerifier();
    EXPECT_EQ(verifier.verify("parleyd", "parleyd-1", "s3cret-password", kNow).decision,
              Decision::Defer);
    EXPECT_EQ(verifier.verify("alice", "alice", "", kNow).decision, Decision::Defer);
    EXPECT_EQ(verifier.verify("alice", "alice", nullptr, kNow).decision, Decision::Defer);
    EXPECT_EQ(verifier.verify(nullptr, nullptr, nullptr, kNow).decision, Decision::Defer);
    const std::string longPassword(64 * 1024, 'x');
    EXPECT_EQ(verifier.verify("alice", "alice", longPassword.c_str(), kNow).decision,
              Decision::Defer);
}

TEST(JwtVerify, RefusesAVeryLongToken) {
    json claims = claimsFor("alice");
    claims["padding"] = std::string(64 * 1024, 'p');
    expectRefused(verify(hs256(claims)), "bytes is longer than 8192");
}

TEST(JwtVerify, RefusesExpiredAndNotYetValidTokensWithLeeway) {
    json claims = claimsFor("alice");
    claims["exp"] = kNow - 30;
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Accept);  // within the leeway
    claims["exp"] = kNow - 31;
    expectRefused(verify(hs256(claims)), "token expired at 2027-01-15T07:59:29Z");
    claims["exp"] = kNow + 3600;
    claims["nbf"] = kNow + 30;
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Accept);
    claims["nbf"] = kNow + 31;
    expectRefused(verify(hs256(claims)), "token not valid before");
    claims["nbf"] = kNow - 10.5;  // NumericDate may have a fraction
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Accept);
}

TEST(JwtVerify, RefusesMissingOrMalformedTimes) {
    json claims = claimsFor("alice");
    claims.erase("exp");
    expectRefused(verify(hs256(claims)), "token has no exp");
    for (const json& bad : {json("1800003600"), json(1e300), json(nullptr), json(-1e13)}) {
        claims["exp"] = bad;
        expectRefused(verify(hs256(claims)), "token exp is not a usable NumericDate");
    }
    // Beyond int64: libjwt's JSON parser gives up first, refused all the same.
    claims["exp"] = 18446744073709551615ULL;
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Refuse);
    claims["exp"] = kNow + 60;
    claims["nbf"] = "soon";
    expectRefused(verify(hs256(claims)), "token nbf is not a usable NumericDate");
}

TEST(JwtVerify, RefusesAWrongSignatureOrTamperedClaims) {
    const json claims = claimsFor("alice");
    expectRefused(verify(makeJws({{"alg", "HS256"}, {"kid", "h1"}}, claims, Signer::HS256,
                                 "another-secret-of-at-least-32-bytes!!")),
                  "signature does not verify with key 'h1'");
    // The signature of alice's token on bob's claims.
    const std::string token = hs256(claims);
    json bobClaims = claims;
    bobClaims["sub"] = "bob";
    const std::string bobToken = hs256(bobClaims);
    const std::string forged =
        bobToken.substr(0, bobToken.rfind('.')) + token.substr(token.rfind('.'));
    expectRefused(verify(forged, "bob", "bob"), "signature does not verify");
}

TEST(JwtVerify, RefusesUnsignedTokens) {
    const json claims = claimsFor("alice");
    for (const char* none : {"none", "None", "NONE"}) {
        expectRefused(verify(makeJws({{"alg", none}, {"kid", "h1"}}, claims, Signer::None, "")),
                      "unsigned token (alg none)");
        // Even with a signature segment that is not empty.
        expectRefused(verify(makeJws({{"alg", none}}, claims, Signer::HS256, kSecret)),
                      "unsigned token (alg none)");
    }
}

TEST(JwtVerify, NeverUsesAnRsaPublicKeyAsAnHmacSecret) {
    const std::string publicPem = readTextFile(keys().file("r1.pub"));
    const json claims = claimsFor("alice");
    const std::string forged = makeJws({{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "r1"}}, claims,
                                       Signer::HS256, publicPem);
    expectRefused(verify(forged), "algorithm 'HS256' is not allowed for key 'r1' (RS256)");

    // The attack is real: libjwt 1.10 alone, handed the public key, accepts the forgery.
    jwt_t* decoded = nullptr;
    EXPECT_EQ(jwt_decode(&decoded, forged.c_str(),
                         reinterpret_cast<const unsigned char*>(publicPem.data()),
                         static_cast<int>(publicPem.size())),
              0);
    jwt_free(decoded);

    // Nor any other algorithm than the key's.
    expectRefused(verify(makeJws({{"alg", "RS256"}, {"kid", "e1"}}, claims, Signer::RS256,
                                 keys().file("r1.key"))),
                  "algorithm 'RS256' is not allowed for key 'e1' (ES256)");
    expectRefused(
        verify(makeJws({{"alg", "HS512"}, {"kid", "h1"}}, claims, Signer::HS256, kSecret)),
        "algorithm 'HS512' is not allowed for key 'h1' (HS256)");
}

TEST(JwtVerify, ChoosesTheKeyByKid) {
    const json claims = claimsFor("alice");
    expectRefused(verify(hs256(claims, "h2")), "unknown key id 'h2'");
    expectRefused(verify(makeJws({{"alg", "HS256"}}, claims, Signer::HS256, kSecret)),
                  "token has no kid and no key without kid is configured");
    expectRefused(verify(makeJws({{"alg", "HS256"}, {"kid", 7}}, claims, Signer::HS256, kSecret)),
                  "kid is not a non-empty string");

    // A key without kid serves tokens without kid.
    auto options = baseOptions();
    options.push_back({"hs256_secret_file", keys().secretFile()});
    const TokenVerifier verifier = makeVerifier(options);
    const std::string token = makeJws({{"alg", "HS256"}}, claims, Signer::HS256, kSecret);
    EXPECT_EQ(verifier.verify("alice", "alice", token.c_str(), kNow).decision, Decision::Accept);
}

TEST(JwtVerify, ChecksSubjectIssuerAndAudience) {
    json claims = claimsFor("mallory");
    expectRefused(verify(hs256(claims)), "token sub 'mallory' is not the username");
    claims = claimsFor("alice");
    claims.erase("sub");
    expectRefused(verify(hs256(claims)), "token has no sub");

    claims = claimsFor("alice");
    claims["iss"] = "https://evil.example.test";
    expectRefused(verify(hs256(claims)),
                  "token iss 'https://evil.example.test' is not 'https://auth.example.test'");
    claims.erase("iss");
    expectRefused(verify(hs256(claims)), "token has no iss");

    claims = claimsFor("alice");
    claims["aud"] = "other-app";
    expectRefused(verify(hs256(claims)), "token aud does not include 'parley'");
    claims["aud"] = json::array({"other-app", "parley"});
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Accept);
    claims.erase("aud");
    expectRefused(verify(hs256(claims)), "token has no aud");

    // Without issuer and audience configured, they are not looked at.
    const TokenVerifier lenient = makeVerifier({{"hs256_secret_file.h1", keys().secretFile()}});
    const std::string token = hs256({{"sub", "alice"}, {"exp", kNow + 60}});
    EXPECT_EQ(lenient.verify("alice", "alice", token.c_str(), kNow).decision, Decision::Accept);
}

TEST(JwtVerify, BindsTheClientIdToTheUser) {
    const std::string token = hs256(claimsFor("alice"));
    EXPECT_EQ(verify(token, "alice", "alice").decision, Decision::Accept);
    EXPECT_EQ(verify(token, "alice", "alice-phone-2").decision, Decision::Accept);
    for (const char* clientId :
         {"bob-phone", "alice-", "alicephone", "", "xalice-phone", "ALICE-phone"}) {
        expectRefused(verify(token, "alice", clientId), "client id does not belong to the user");
    }
}

TEST(JwtVerify, RefusesBadUsernamesAndReservedAccounts) {
    json claims = claimsFor("parleyd");
    expectRefused(verify(hs256(claims), "parleyd", "parleyd-1"),
                  "user is reserved for password login");
    claims["sub"] = "a/b";
    expectRefused(verify(hs256(claims), "a/b", "a/b"), "username is not a valid uid");
    claims["sub"] = "#";
    expectRefused(verify(hs256(claims), "#", "#"), "username is not a valid uid");
    static const TokenVerifier verifier = makeVerifier();
    expectRefused(verifier.verify(nullptr, "x", hs256(claims).c_str(), kNow), "no username");

    auto options = baseOptions();
    options.push_back({"reserved_users", "ops, admin"});
    const TokenVerifier custom = makeVerifier(options);
    const std::string opsToken = hs256(claimsFor("ops"));
    EXPECT_EQ(custom.verify("ops", "ops", opsToken.c_str(), kNow).decision, Decision::Refuse);
    // The list replaces the default one ("system" is no longer in it)...
    const std::string systemToken = hs256(claimsFor("system"));
    EXPECT_EQ(custom.verify("system", "system", systemToken.c_str(), kNow).decision,
              Decision::Accept);
    // ...but the service accounts (plugin_opt_service_users, default parleyd) stay reserved: a
    // token for one would carry its rights.
    const std::string parleydToken = hs256(claimsFor("parleyd"));
    expectRefused(custom.verify("parleyd", "parleyd", parleydToken.c_str(), kNow),
                  "user is reserved for password login");
}

TEST(JwtVerify, RefusesMalformedTokens) {
    const json claims = claimsFor("alice");
    expectRefused(verify("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"), "token has no kid");
    expectRefused(verify(base64Url("{\"alg\":") + "." + base64Url("{}") + ".c2ln"),
                  "malformed token header");
    expectRefused(verify(base64Url("{\"kid\":\"h1\"}") + ".e30.c2ln"), "token header has no alg");
    expectRefused(verify(base64Url("{\"alg\":\"HS256\",\"kid\":\"h1\"}") + "." +
                         base64Url("[1,2]") + ".c2ln"),
                  "malformed token claims");
    expectRefused(verify(makeJws({{"alg", "HS256"}, {"kid", "h1"}, {"crit", {"exp"}}}, claims,
                                 Signer::HS256, kSecret)),
                  "crit");
    expectRefused(verify(makeJws({{"alg", "HS256"}, {"kid", "h1"}, {"typ", "at+jwt"}}, claims,
                                 Signer::HS256, kSecret)),
                  "typ is not JWT");
}

TEST(JwtVerify, ReasonsNeverContainTheTokenAndEscapeWhatTheClientSent) {
    json claims = claimsFor("alice");
    claims["sub"] = "bob\n1700000000: forged log line";
    const std::string token = hs256(claims);
    const Verdict verdict = verify(token);
    expectRefused(verdict, "token sub 'bob\\x0a1700000000: forged log line' is not the username");
    for (const std::string& part : {token, token.substr(token.rfind('.') + 1)}) {
        EXPECT_EQ(verdict.reason.find(part), std::string::npos);
    }
    EXPECT_EQ(jwtauth::printable("it's\x01"), "it\\'s\\x01");
    EXPECT_EQ(jwtauth::printable(std::string(200, 'a'), 4), "aaaa...");
}

TEST(JwtSettings, RefusesBadOptionsAndUnsuitableKeys) {
    const auto failsWith = [](const jwtauth::PluginOptions& options, const std::string& part) {
        try {
            jwtauth::parseSettings(options);
            ADD_FAILURE() << "accepted, expected: " << part;
        } catch (const std::runtime_error& error) {
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
        }
    };
    const Keys& k = keys();
    failsWith({{"hs256_secret_file", k.secretFile()}, {"isuer", "x"}},
              "unknown option plugin_opt_isuer");
    failsWith({{"hs256_secret_file", k.secretFile()}, {"leeway", "-1"}}, "plugin_opt_leeway");
    failsWith({{"hs256_secret_file", k.secretFile()}, {"leeway", "5s"}}, "plugin_opt_leeway");
    failsWith({{"hs256_secret_file", k.secretFile()}, {"disconnect_expired", "yes"}},
              "true or false");
    failsWith({{"hs256_secret_file", k.file("missing")}}, "cannot read key file");
    failsWith({{"hs256_secret_file.a b", k.secretFile()}}, "a kid is 1-64 characters");
    failsWith({{"hs256_secret_file.x", k.secretFile()}, {"hs256_secret_file.x", k.secretFile()}},
              "more than one key with kid 'x'");

    writeTextFile(k.file("short.secret"), "too-short\n");
    failsWith({{"hs256_secret_file", k.file("short.secret")}}, "at least 32 are needed");
    failsWith({{"hs256_secret_file.r1", k.file("r1.pub")}}, "holds a PEM block");
    failsWith({{"rs256_public_key_file", k.file("r1.key")}}, "holds a private key");
    failsWith({{"rs256_public_key_file", k.file("e1.pub")}}, "not an RSA public key");
    failsWith({{"es256_public_key_file", k.file("r1.pub")}}, "not an EC public key on P-256");
    failsWith({{"es256_public_key_file", k.secretFile()}}, "not a PEM public key");
    writeRsaKeyPair(k.file("small.key"), k.file("small.pub"), 1024);
    failsWith({{"rs256_public_key_file", k.file("small.pub")}}, "at least 2048 are needed");
    writeEcKeyPair(k.file("p384.key"), k.file("p384.pub"), "P-384");
    failsWith({{"es256_public_key_file", k.file("p384.pub")}}, "not an EC public key on P-256");
}

TEST(JwtSettings, ReadsAKeyDirectory) {
    TempDir dir("parley-jwt-keydir");
    writeTextFile(dir.file("2025-01.hs256"), kSecret);
    std::filesystem::copy_file(keys().file("r1.pub"), dir.file("rsa-a.rs256.pem"));
    std::filesystem::copy_file(keys().file("e1.pub"), dir.file("ec.b.es256.pem"));
    writeTextFile(dir.file("README"), "not a key");
    const auto settings = jwtauth::parseSettings({{"key_dir", dir.path()}});
    EXPECT_EQ(settings.keys.size(), 3u);
    EXPECT_EQ(settings.keys.describe(), "2025-01 (HS256), ec.b (ES256), rsa-a (RS256)");
    EXPECT_EQ(settings.skippedFiles, "README");
    ASSERT_NE(settings.keys.find("rsa-a"), nullptr);
    EXPECT_EQ(settings.keys.find("rsa-a")->algorithm, jwtauth::JwtAlgorithm::RS256);
}

TEST(JwtExpiryWatch, HandsOutExpiredConnectionsOnce) {
    jwtauth::ExpiryWatch watch;
    int first = 0;
    int second = 0;
    watch.track(&first, {"alice-phone", "alice", 100});
    watch.track(&second, {"bob-phone", "bob", 200});
    EXPECT_TRUE(watch.takeExpired(105, 5).empty());
    auto expired = watch.takeExpired(106, 5);
    ASSERT_EQ(expired.size(), 1u);
    EXPECT_EQ(expired[0].clientId, "alice-phone");
    EXPECT_TRUE(watch.takeExpired(106, 5).empty());
    // A takeover re-tracks under the new connection; the old one's disconnect forgets only itself.
    int takeover = 0;
    watch.track(&takeover, {"bob-phone", "bob", 900});
    watch.forget(&second);
    EXPECT_EQ(watch.size(), 1u);
    EXPECT_TRUE(watch.takeExpired(500, 0).empty());
}

TEST(TokenCommand, ParsesDurations) {
    EXPECT_EQ(parseDuration("90"), std::chrono::seconds(90));
    EXPECT_EQ(parseDuration("90s"), std::chrono::seconds(90));
    EXPECT_EQ(parseDuration("15m"), std::chrono::seconds(900));
    EXPECT_EQ(parseDuration("1h"), std::chrono::seconds(3600));
    EXPECT_EQ(parseDuration("7d"), std::chrono::seconds(7 * 86400));
    for (const char* bad : {"", "h", "-1h", "1.5h", "1w", "99999999999d"}) {
        EXPECT_FALSE(parseDuration(bad)) << bad;
    }
}

TEST(TokenCommand, MintsWhatItIsAskedFor) {
    std::ostringstream out;
    std::ostringstream err;
    ASSERT_EQ(runTokenCommand({"alice", "--lifetime", "2h", "--not-before", "0s", "--secret-file",
                               keys().secretFile(), "--kid", "h1", "--issuer",
                               "https://auth.example.test", "--audience", "parley"},
                              out, err),
              0)
        << err.str();
    std::string token = out.str();
    ASSERT_FALSE(token.empty());
    EXPECT_EQ(token.back(), '\n');
    token.pop_back();
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const Verdict verdict = verify(token, "alice", "alice", now);
    EXPECT_EQ(verdict.decision, Decision::Accept) << verdict.reason;
    EXPECT_NEAR(static_cast<double>(verdict.expiresAt), static_cast<double>(now + 7200), 5);

    const json claims = json::parse(*jwtauth::decodeBase64Url(
        token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1)));
    EXPECT_EQ(claims["sub"], "alice");
    EXPECT_EQ(claims["iss"], "https://auth.example.test");
    EXPECT_EQ(claims["aud"], "parley");
    EXPECT_TRUE(claims.contains("nbf"));
    EXPECT_TRUE(claims.contains("iat"));
}

TEST(TokenCommand, ReportsUsageErrors) {
    const auto run = [](std::vector<std::string> args, std::string& errText) {
        std::ostringstream out;
        std::ostringstream err;
        const int code = runTokenCommand(args, out, err);
        errText = err.str();
        return code;
    };
    std::string err;
    EXPECT_EQ(run({}, err), 2);
    EXPECT_NE(err.find("which uid"), std::string::npos);
    EXPECT_EQ(run({"alice", "--lifetime", "soon", "--secret-file", keys().secretFile()}, err), 2);
    EXPECT_NE(err.find("--lifetime takes a duration"), std::string::npos);
    EXPECT_EQ(run({"alice", "--key-file", keys().file("r1.key")}, err), 2);
    EXPECT_NE(err.find("--alg RS256 or --alg ES256"), std::string::npos);
    EXPECT_EQ(run({"alice", "--secret-file", keys().secretFile(), "--key-file", "x"}, err), 2);
    EXPECT_EQ(run({"alice", "--frobnicate", "1"}, err), 2);
    EXPECT_NE(err.find("unknown option --frobnicate"), std::string::npos);
    EXPECT_EQ(run({"a/b", "--secret-file", keys().secretFile()}, err), 1);
    EXPECT_NE(err.find("is not a uid"), std::string::npos);
    EXPECT_EQ(run({"alice", "--key-file", keys().file("r1.pub"), "--alg", "RS256"}, err), 1);
    EXPECT_NE(err.find("is not a PEM private key"), std::string::npos);
    // An EC key for RS256 fails in libjwt rather than producing a bogus token.
    EXPECT_EQ(run({"alice", "--key-file", keys().file("e1.key"), "--alg", "RS256"}, err), 1);
}

}  // namespace
}  // namespace parley::testing

namespace parley::testing {
namespace {

// Users sharded over brokers: "alice" is on shard 1 of 2 and 2 of 3, "bob" on 0 of 2
// (shardOfUser, parley/wire/UserShard.h).
TokenVerifier shardVerifier(const std::string& shard, const std::string& count) {
    auto options = baseOptions();
    options.push_back({"shard", shard});
    options.push_back({"shard_count", count});
    return makeVerifier(options);
}

TEST(JwtShards, RefusesAUserWhoseShardIsAnotherBroker) {
    const auto shard1 = shardVerifier("1", "2");
    EXPECT_EQ(shard1.verify("alice", "alice", hs256(claimsFor("alice")).c_str(), kNow).decision,
              Decision::Accept);
    expectRefused(shard1.verify("bob", "bob", hs256(claimsFor("bob")).c_str(), kNow),
                  "user belongs on broker shard 0 of 2, this is shard 1");
    // Password logins are checked by the plugin with the same function.
    EXPECT_EQ(shard1.wrongShard("alice"), "");
    EXPECT_NE(shard1.wrongShard("bob").find("belongs on broker shard 0"), std::string::npos);
    EXPECT_EQ(makeVerifier().wrongShard("bob"), "") << "not sharded: every user";
}

TEST(JwtShards, AShardClaimMustNameThisBroker) {
    const auto shard2 = shardVerifier("2", "3");
    json claims = claimsFor("alice");
    claims["shard"] = 2;
    EXPECT_EQ(shard2.verify("alice", "alice", hs256(claims).c_str(), kNow).decision,
              Decision::Accept);
    claims["shard"] = 0;
    expectRefused(shard2.verify("alice", "alice", hs256(claims).c_str(), kNow),
                  "token is for broker shard 0, this is shard 2");
    claims["shard"] = "2";
    expectRefused(shard2.verify("alice", "alice", hs256(claims).c_str(), kNow),
                  "token shard is not a non-negative integer");
    claims["shard"] = 1;
    expectRefused(verify(hs256(claims)), "this broker is not sharded");
    claims["shard"] = 0;
    EXPECT_EQ(verify(hs256(claims)).decision, Decision::Accept);
}

TEST(JwtShards, ShardOptionsAreChecked) {
    auto options = baseOptions();
    options.push_back({"shard", "2"});
    options.push_back({"shard_count", "2"});
    EXPECT_THROW(jwtauth::parseSettings(options), std::runtime_error);
    options = baseOptions();
    options.push_back({"shard", "1"});
    EXPECT_THROW(jwtauth::parseSettings(options), std::runtime_error);
    options = baseOptions();
    options.push_back({"shard_count", "0"});
    EXPECT_THROW(jwtauth::parseSettings(options), std::runtime_error);
}

}  // namespace
}  // namespace parley::testing
