// broker/jwt_auth in a real Mosquitto 2.0 (with Parley's ACL and settings), parleyd behind it on
// SQLite, and real MQTT 5 clients: who gets in with which token, what the broker logs, and that
// a token changes nothing about what the ACL lets a user read or write.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "SuiteServers.h"
#include "TempDir.h"
#include "TestJws.h"
#include "Token.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kIssuer = "https://auth.example.test";
constexpr const char* kAudience = "parley-chat";
const std::string kSecret = "broker-test-secret-0123456789abcdefghijklmnop";
const std::string kParleydPassword = "parleyd-secret";

int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One broker with the plugin and one parleyd for the whole suite; tests keep apart by using
// fresh uids and client ids.
class JwtBroker : public SuiteServers<JwtBroker> {
    friend class SuiteServers<JwtBroker>;

  protected:
    static void startServers() {
        keyDir_ = std::make_unique<TempDir>("parley-jwt-keys");
        const TempDir& dir = *keyDir_;
        writeTextFile(dir.file("h1.secret"), kSecret + "\n");
        writeRsaKeyPair(dir.file("r1.key"), dir.file("r1.pub"));
        writeEcKeyPair(dir.file("e1.key"), dir.file("e1.pub"));
        std::filesystem::create_directory(dir.file("rotating"));
        writeTextFile(dir.file("rotating/k1.hs256"), rotatingSecret("k1"));
        const std::string pluginOptions =
            "plugin_opt_hs256_secret_file.h1 " + dir.file("h1.secret") + "\n" +
            "plugin_opt_rs256_public_key_file.r1 " + dir.file("r1.pub") + "\n" +
            "plugin_opt_es256_public_key_file.e1 " + dir.file("e1.pub") + "\n" +
            "plugin_opt_key_dir " + dir.file("rotating") + "\n" + "plugin_opt_issuer " + kIssuer +
            "\n" + "plugin_opt_audience " + kAudience + "\n" + "plugin_opt_leeway 1\n";
        broker_ = std::make_unique<MosquittoServer>(
            std::vector<BrokerUser>{{"parleyd", kParleydPassword}, {"ops", "ops-password"}},
            BrokerOptions{.pluginOptions = pluginOptions});
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker:\n"
            "  uri: " +
            broker_->uri() +
            "\n"
            "  client_id: parleyd-jwt-test\n"
            "  username: parleyd\n"
            "  password: " +
            kParleydPassword +
            "\n"
            "store:\n"
            "  backend: sqlite\n"
            "  sqlite: {path: parley.db, synchronous: normal}\n"
            "log: {level: info}\n");
    }

    static void TearDownTestSuite() {
        parleyd_.reset();
        broker_.reset();
        keyDir_.reset();
    }

    void TearDown() override {
        if (!broker_) {
            return;  // the suite never started
        }
        // Whatever a test did, no token it made may appear in the broker log.
        const std::string log = broker_->log();
        for (const auto& token : tokensUsed_) {
            EXPECT_EQ(log.find(token), std::string::npos) << "the broker logged a token";
            const std::string signature = token.substr(token.rfind('.') + 1);
            if (signature.size() >= 16) {
                EXPECT_EQ(log.find(signature), std::string::npos)
                    << "the broker logged a token's signature";
            }
        }
    }

    static std::string rotatingSecret(const std::string& kid) {
        return "rotating-secret-of-" + kid + "-0123456789abcdefghijklmnop";
    }
    static std::string keyFile(const std::string& name) { return keyDir_->file(name); }

    std::string newUid() {
        static int next = 1;
        return "j" + std::to_string(next++);
    }

    static json claimsFor(const std::string& uid) {
        const int64_t now = unixNow();
        return {
            {"sub", uid}, {"iat", now}, {"exp", now + 3600}, {"iss", kIssuer}, {"aud", kAudience}};
    }

    // A valid HS256 token for uid unless the test changes the claims or header.
    std::string token(const json& claims, const json& header = {{"alg", "HS256"}, {"kid", "h1"}},
                      Signer signer = Signer::HS256, const std::string& key = kSecret) {
        std::string jws = makeJws(header, claims, signer, key);
        tokensUsed_.push_back(jws);
        return jws;
    }
    std::string validToken(const std::string& uid) { return token(claimsFor(uid)); }

    std::unique_ptr<MqttTestClient> connect(const std::string& uid, const std::string& password,
                                            const std::string& clientId = "") {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, password, std::nullopt,
                                                clientId.empty() ? uid + "-test" : clientId);
    }

    // Waits (5 s) until the broker log has `text` after offset `from`.
    static bool logShows(const std::string& text, size_t from = 0) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            const std::string log = broker_->log();
            if (log.size() > from && log.find(text, from) != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    // The CONNECT is refused, and the broker log says why, naming user and client id.
    void expectRefused(const std::string& uid, const std::string& clientId,
                       const std::string& password, const std::string& reason) {
        const size_t logStart = broker_->log().size();
        EXPECT_THROW(connect(uid, password, clientId), std::runtime_error)
            << "connected as " << uid << " / " << clientId << ", expected: " << reason;
        const std::string line = "jwt_auth: refused user '" + uid + "' (client '" + clientId +
                                 "') from 127.0.0.1: " + reason;
        EXPECT_TRUE(logShows(line, logStart)) << "no log line: " << line << "\nlog:\n"
                                              << broker_->log().substr(logStart);
    }

    // Not a token: the plugin defers, and the password file refuses.
    void expectDeferredAndRefused(const std::string& uid, const std::string& clientId,
                                  const std::string& password, const std::string& reason) {
        const size_t logStart = broker_->log().size();
        EXPECT_THROW(connect(uid, password, clientId), std::runtime_error);
        EXPECT_TRUE(logShows("jwt_auth: user '" + uid + "' (client '" + clientId + "'): " + reason +
                                 ", deferred to the password file",
                             logStart))
            << broker_->log().substr(logStart);
    }

    static std::unique_ptr<TempDir> keyDir_;
    static std::unique_ptr<MosquittoServer> broker_;
    static std::unique_ptr<ParleydProcess> parleyd_;
    std::vector<std::string> tokensUsed_;
};

std::unique_ptr<TempDir> JwtBroker::keyDir_;
std::unique_ptr<MosquittoServer> JwtBroker::broker_;
std::unique_ptr<ParleydProcess> JwtBroker::parleyd_;

json ok(const json& reply) {
    EXPECT_TRUE(reply.value("ok", false)) << reply;
    return reply;
}

TEST_F(JwtBroker, AValidTokenConnectsAndChatsThroughParleyd) {
    const std::string aliceUid = newUid();
    const std::string bobUid = newUid();
    auto alice = connect(aliceUid, validToken(aliceUid), aliceUid + "-phone");
    auto bob = connect(bobUid, validToken(bobUid), bobUid);  // the bare uid is a client id too
    EXPECT_TRUE(
        logShows("jwt_auth: accepted user '" + aliceUid + "' (client '" + aliceUid + "-phone')"));

    const json opened = ok(alice->request({{"op", "conv.open"}, {"peer", bobUid}}));
    const std::string conv = opened.value("conv", "");
    ASSERT_FALSE(conv.empty()) << opened;
    const json sent = ok(alice->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "m1"}, {"body", "hello over a JWT"}}));
    EXPECT_EQ(sent["seq"], 1);
    const Received message = bob->waitFor([&](const Received& r) {
        return r.topic == "parley/v1/u/" + bobUid + "/c/" + conv && r.payload.is_object() &&
               r.payload.value("ev", "") == "msg";
    });
    EXPECT_EQ(message.payload["body"], "hello over a JWT");
    EXPECT_EQ(message.payload["sender"], aliceUid);
}

TEST_F(JwtBroker, AcceptsHs256Rs256AndEs256) {
    const std::string uid = newUid();
    const json claims = claimsFor(uid);
    connect(uid, token(claims), uid + "-hs");
    connect(uid, token(claims, {{"alg", "RS256"}, {"kid", "r1"}}, Signer::RS256, keyFile("r1.key")),
            uid + "-rs");
    connect(uid, token(claims, {{"alg", "ES256"}, {"kid", "e1"}}, Signer::ES256, keyFile("e1.key")),
            uid + "-es");
}

TEST_F(JwtBroker, AcceptsATokenFromTheParleyTokenCommand) {
    const std::string uid = newUid();
    TempDir dir("parley-token-cli");
    const std::string output = dir.file("out");
    ASSERT_EQ(runToCompletion({PARLEY_TOKEN_TOOL, uid, "--key-file", keyFile("e1.key"), "--alg",
                               "ES256", "--kid", "e1", "--issuer", kIssuer, "--audience", kAudience,
                               "--lifetime", "10m"},
                              output, 30s),
              0)
        << readTextFile(output);
    std::string minted = readTextFile(output);
    ASSERT_FALSE(minted.empty());
    minted.pop_back();  // the newline
    tokensUsed_.push_back(minted);
    auto client = connect(uid, minted, uid + "-cli");
    EXPECT_EQ(ok(client->request({{"op", "ping"}}))["ok"], true);
}

TEST_F(JwtBroker, RefusesExpiredAndNotYetValidTokens) {
    const std::string uid = newUid();
    json claims = claimsFor(uid);
    claims["exp"] = unixNow() - 120;
    expectRefused(uid, uid + "-old", token(claims), "token expired at ");
    claims = claimsFor(uid);
    claims["nbf"] = unixNow() + 600;
    expectRefused(uid, uid + "-early", token(claims), "token not valid before ");
}

TEST_F(JwtBroker, RefusesWrongSignaturesKeysAndAlgorithms) {
    const std::string uid = newUid();
    const json claims = claimsFor(uid);
    expectRefused(uid, uid + "-sig",
                  token(claims, {{"alg", "HS256"}, {"kid", "h1"}}, Signer::HS256,
                        "not-the-broker-secret-0123456789abcdefgh"),
                  "signature does not verify with key 'h1'");
    expectRefused(uid, uid + "-kid", token(claims, {{"alg", "HS256"}, {"kid", "nope"}}),
                  "unknown key id 'nope'");
    expectRefused(uid, uid + "-none",
                  token(claims, {{"alg", "none"}, {"kid", "h1"}}, Signer::None, ""),
                  "unsigned token (alg none)");
    // The RS256 public key is public: signing HS256 with it must get nobody in.
    expectRefused(uid, uid + "-confused",
                  token(claims, {{"alg", "HS256"}, {"kid", "r1"}}, Signer::HS256,
                        readTextFile(keyFile("r1.pub"))),
                  "algorithm 'HS256' is not allowed for key 'r1' (RS256)");
}

TEST_F(JwtBroker, RefusesAnotherSubjectIssuerOrAudience) {
    const std::string uid = newUid();
    const std::string other = newUid();
    expectRefused(uid, uid + "-sub", validToken(other),
                  "token sub '" + other + "' is not the username");
    json claims = claimsFor(uid);
    claims["iss"] = "https://elsewhere.example.test";
    expectRefused(
        uid, uid + "-iss", token(claims),
        "token iss 'https://elsewhere.example.test' is not '" + std::string(kIssuer) + "'");
    claims = claimsFor(uid);
    claims["aud"] = "another-app";
    expectRefused(uid, uid + "-aud", token(claims),
                  "token aud does not include '" + std::string(kAudience) + "'");
}

TEST_F(JwtBroker, AnotherUsersClientIdCannotTakeOverTheirSession) {
    const std::string victimUid = newUid();
    const std::string attackerUid = newUid();
    auto victim = connect(victimUid, validToken(victimUid), victimUid + "-phone");
    expectRefused(attackerUid, victimUid + "-phone", validToken(attackerUid),
                  "client id does not belong to the user");
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(victim->connected());
    ok(victim->request({{"op", "ping"}}));
}

TEST_F(JwtBroker, RefusesGarbageEmptyAndVeryLongPasswords) {
    const std::string uid = newUid();
    // Looks like a token, is not one.
    expectRefused(uid, uid + "-garbage", "eyJnYXJiYWdl.Z2FyYmFnZQ.Z2FyYmFnZQ",
                  "malformed token header");
    // Not a token at all: deferred, and the password file knows no such user.
    expectDeferredAndRefused(uid, uid + "-text", "correct horse battery staple",
                             "password is not a JWT");
    expectDeferredAndRefused(uid, uid + "-empty", "", "no password");
    expectDeferredAndRefused(uid, uid + "-long", std::string(65000, 'x'), "password is not a JWT");
    json claims = claimsFor(uid);
    claims["padding"] = std::string(48000, 'p');
    const std::string longToken = token(claims);
    expectRefused(uid, uid + "-longjwt", longToken,
                  "token of " + std::to_string(longToken.size()) + " bytes is longer than 8192");
    // The broker is still fine.
    connect(uid, validToken(uid), uid + "-after");
}

TEST_F(JwtBroker, ServiceAccountsStillUseThePasswordFile) {
    // parleyd itself is connected by password (the chat test needs it); another session too:
    auto ops = connect("ops", "ops-password", "ops-console");
    EXPECT_TRUE(ops->connected());
    expectDeferredAndRefused("ops", "ops-wrong", "not-the-password", "password is not a JWT");
    // A signed token for a service account is refused: it would carry parleyd's ACL rights.
    expectRefused("parleyd", "parleyd-forged", validToken("parleyd"),
                  "user is reserved for password login");
    EXPECT_TRUE(parleyd_->running());
}

TEST_F(JwtBroker, ATokenDoesNotOpenAnotherUsersInbox) {
    const std::string snoopUid = newUid();
    const std::string bobUid = newUid();
    const std::string carolUid = newUid();
    auto snoop = connect(snoopUid, validToken(snoopUid), snoopUid + "-phone");
    auto bob = connect(bobUid, validToken(bobUid), bobUid + "-phone");
    auto carol = connect(carolUid, validToken(carolUid), carolUid + "-phone");
    // Refused at SUBSCRIBE by the plugin (tests/broker/BrokerPluginTest.cpp); and were it
    // granted, the acl_file's READ check would still deliver nothing of bob's.
    EXPECT_THROW(snoop->subscribe("parley/v1/u/" + bobUid + "/#"), std::runtime_error);

    const std::string conv =
        ok(carol->request({{"op", "conv.open"}, {"peer", bobUid}})).value("conv", "");
    ok(carol->request({{"op", "msg.send"}, {"conv", conv}, {"cmid", "s1"}, {"body", "for bob"}}));
    bob->waitFor([&](const Received& r) {
        return r.payload.is_object() && r.payload.value("body", "") == "for bob";
    });
    ok(snoop->request({{"op", "ping"}}));  // the snoop's own inbox works, and is in sync
    std::this_thread::sleep_for(500ms);
    for (const auto& message : snoop->received()) {
        EXPECT_EQ(message.topic.rfind("parley/v1/u/" + bobUid + "/", 0), std::string::npos)
            << "the snoop read bob's " << message.topic << " " << message.payload;
    }
}

TEST_F(JwtBroker, ATokenUserCannotTakeParleydsSharedSubscription) {
    // As for password users (BrokerPluginTest.cpp): were it granted, the broker would hand this
    // subscription a share of everyone's commands and drop them.
    const std::string mallory = newUid();
    const std::string bobUid = newUid();
    auto attacker = connect(mallory, validToken(mallory), mallory + "-phone");
    EXPECT_EQ(attacker->subscribeReasonCode("$share/parleyd/parley/v1/c2s/+"), 0x87);
    EXPECT_EQ(attacker->subscribeReasonCode("parley/v1/c2s/+"), 0x87);
    auto bob = connect(bobUid, validToken(bobUid), bobUid + "-phone");
    for (int i = 0; i < 10; ++i) {
        ok(bob->request({{"op", "ping"}}));
    }
    EXPECT_TRUE(logShows("jwt_auth: refused the subscription of user '" + mallory + "' (client '" +
                         mallory + "-phone') to '$share/parleyd/parley/v1/c2s/+'"));
}

TEST_F(JwtBroker, ATokenDoesNotSpeakForAnotherUser) {
    const std::string mallory = newUid();
    const std::string bobUid = newUid();
    auto attacker = connect(mallory, validToken(mallory), mallory + "-phone");
    auto bob = connect(bobUid, validToken(bobUid), bobUid + "-phone");
    ok(bob->request({{"op", "profile.set"}, {"name", "Bob"}}));

    const json spoof = {{"op", "profile.set"}, {"id", "spoof-1"}, {"name", "Hacked"}};
    EXPECT_EQ(attacker->publishRaw("parley/v1/c2s/" + bobUid, spoof.dump()), 0x87);
    // Its own topic works: the same command changes the attacker's own profile.
    ok(attacker->request({{"op", "profile.set"}, {"name", "Mallory"}}));
    const json profile = ok(bob->request({{"op", "profile.get"}, {"user", bobUid}}));
    EXPECT_EQ(profile.dump().find("Hacked"), std::string::npos) << profile;
    EXPECT_NE(profile.dump().find("Bob"), std::string::npos) << profile;
    for (const auto& message : bob->received()) {
        EXPECT_NE(message.payload.is_object() ? message.payload.value("id", "") : "", "spoof-1");
    }
}

TEST_F(JwtBroker, DisconnectsAClientWhenItsTokenExpires) {
    const std::string uid = newUid();
    json claims = claimsFor(uid);
    claims["exp"] = unixNow() + 2;
    auto client = connect(uid, token(claims), uid + "-short");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (client->connected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_FALSE(client->connected());
    EXPECT_TRUE(logShows("jwt_auth: disconnecting user '" + uid + "' (client '" + uid +
                         "-short'): token expired at "));
}

TEST_F(JwtBroker, ASessionRenewedWithAFreshTokenStaysConnected) {
    const std::string uid = newUid();
    json claims = claimsFor(uid);
    claims["exp"] = unixNow() + 2;
    auto first = connect(uid, token(claims), uid + "-phone");
    // The same device reconnects with a fresh token: it takes over the session, and the old
    // connection's end must not make the plugin forget the new one's expiry, or disconnect it.
    auto renewed = connect(uid, validToken(uid), uid + "-phone");
    std::this_thread::sleep_for(4500ms);
    EXPECT_TRUE(renewed->connected());
    ok(renewed->request({{"op", "ping"}}));
}

TEST_F(JwtBroker, KeysRotateByKidOnReload) {
    const std::string uid = newUid();
    const json claims = claimsFor(uid);
    const auto signedWith = [&](const std::string& kid) {
        return token(claims, {{"alg", "HS256"}, {"kid", kid}}, Signer::HS256, rotatingSecret(kid));
    };
    auto stayingOnK1 = connect(uid, signedWith("k1"), uid + "-k1a");
    expectRefused(uid, uid + "-k2a", signedWith("k2"), "unknown key id 'k2'");

    // The issuer starts signing with k2: its key goes in, and both work during the overlap.
    writeTextFile(keyFile("rotating/k2.hs256"), rotatingSecret("k2"));
    size_t logStart = broker_->log().size();
    broker_->reload();
    ASSERT_TRUE(logShows("jwt_auth: reloaded keys:", logStart)) << broker_->log();
    connect(uid, signedWith("k2"), uid + "-k2b");
    connect(uid, signedWith("k1"), uid + "-k1b");
    // Mosquitto checks every connected client again on SIGHUP: still valid, still connected.
    EXPECT_TRUE(stayingOnK1->connected());
    ok(stayingOnK1->request({{"op", "ping"}}));

    // k1's tokens have expired: its key goes away.
    std::filesystem::remove(keyFile("rotating/k1.hs256"));
    logStart = broker_->log().size();
    broker_->reload();
    ASSERT_TRUE(logShows("jwt_auth: reloaded keys:", logStart));
    expectRefused(uid, uid + "-k1c", signedWith("k1"), "unknown key id 'k1'");
    connect(uid, signedWith("k2"), uid + "-k2c");
    // Removing a key revokes it: whoever is still connected with one of its tokens is out.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (stayingOnK1->connected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_FALSE(stayingOnK1->connected());

    // A broken key file on reload keeps the keys that work.
    writeTextFile(keyFile("rotating/k3.hs256"), "short");
    logStart = broker_->log().size();
    broker_->reload();
    ASSERT_TRUE(logShows("jwt_auth: reload failed, keeping the previous keys", logStart))
        << broker_->log().substr(logStart);
    connect(uid, signedWith("k2"), uid + "-k2d");
    std::filesystem::remove(keyFile("rotating/k3.hs256"));
}

}  // namespace
}  // namespace parley::testing
