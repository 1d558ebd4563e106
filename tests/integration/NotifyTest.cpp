// plugins/notify in a real deployment: parleyd with the shipped plugin behind a real Mosquitto,
// a real SMTP server (aiosmtpd, tests/support/notify_sinks.py) and a real HTTP server standing
// in for the push gateway, all on free loopback ports. Recipients who never connect are offline.

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "ChildProcess.h"
#include "Digest.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "SuiteServers.h"
#include "TempDir.h"
#include "TestPki.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kPushSecret = "push-secret-for-tests";
constexpr const char* kUnsubscribeSecret = "unsubscribe-secret-for-tests";
// The plugin's delay (1.5 s) plus a few rounds: long enough for any digest that would be sent.
constexpr auto kQuiet = 4s;

std::vector<json> recordsIn(const std::string& folder) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
        const std::string name = entry.path().filename();
        if (name[0] != '.' && entry.path().extension() == ".json") {
            names.push_back(entry.path());
        }
    }
    std::sort(names.begin(), names.end());
    std::vector<json> records;
    for (const auto& name : names) {
        std::ifstream file(name);
        records.push_back(json::parse(file));
    }
    return records;
}

// The notify extension's YAML: the options the tests share, with `smtp` (a flow mapping) and
// `more` (further option lines, each "      key: value\n").
std::string notifyExtension(const std::string& smtp, const std::string& more = "") {
    return "extensions:\n"
           "  - name: notify\n"
           "    plugin: " PARLEY_NOTIFY_PLUGIN
           "\n"
           "    options:\n"
           "      delay_ms: 1500\n"
           "      poll_ms: 200\n"
           "      throttle_min_ms: 4000\n"
           "      retry_base_ms: 300\n"
           "      retry_max_ms: 1000\n"
           "      lease_ms: 10000\n"
           "      templates: " +
           sourceDir() + "/plugins/notify/templates\n      smtp: " + smtp + "\n" + more;
}

std::unique_ptr<ChildProcess> startSmtpSink(const TempDir& dir, const std::string& folder, int port,
                                            const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv{sourceDir() + "/tests/support/notify_sinks.py", "smtp", folder,
                                  std::to_string(port)};
    argv.insert(argv.end(), options.begin(), options.end());
    auto sink =
        std::make_unique<ChildProcess>(argv, dir.file("smtp-" + std::to_string(port) + ".log"));
    if (!waitForPort(port, 15s)) {
        throw std::runtime_error("the SMTP sink did not start: " + sink->log());
    }
    return sink;
}

std::vector<json> mailsIn(const std::string& folder, const std::string& uid) {
    std::vector<json> mails;
    for (auto& mail : recordsIn(folder)) {
        if (mail["rcpt_tos"] == json::array({uid + "@example.com"})) {
            mails.push_back(std::move(mail));
        }
    }
    return mails;
}

std::vector<json> waitForMailsIn(const std::string& folder, const std::string& uid, size_t count,
                                 std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto mails = mailsIn(folder, uid);
    while (mails.size() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        mails = mailsIn(folder, uid);
    }
    return mails;
}

class Notify : public SuiteServers<Notify> {
    friend class SuiteServers<Notify>;

  protected:
    static void startServers() {
        dir_ = std::make_unique<TempDir>("parley-notify");
        std::filesystem::create_directory(dir_->file("mail"));
        std::filesystem::create_directory(dir_->file("push"));
        smtpPort_ = freeLoopbackPort();
        startSmtp();
        const int pushPort = freeLoopbackPort();
        push_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{sourceDir() + "/tests/support/notify_sinks.py", "http",
                                     dir_->file("push"), std::to_string(pushPort)},
            dir_->file("push.log"));
        if (!waitForPort(pushPort, 15s)) {
            throw std::runtime_error("the HTTP sink did not start: " + push_->log());
        }
        broker_ = std::make_unique<MosquittoServer>(std::vector<BrokerUser>{{"parleyd", "pd"},
                                                                            {"alice", "a"},
                                                                            {"carol", "c"},
                                                                            {"dave", "d"},
                                                                            {"kate", "k"},
                                                                            {"lena", "l"},
                                                                            {"mona", "m"},
                                                                            {"ops", "o"}});
        httpPort_ = freeLoopbackPort();
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker_->uri() +
            ", client_id: parleyd-notify, username: parleyd, password: pd}\n"
            "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
            "http: {listen: 127.0.0.1, port: " +
            std::to_string(httpPort_) + "}\nadmins: [ops]\n" +
            notifyExtension("{url: 'smtp://127.0.0.1:" + std::to_string(smtpPort_) +
                                "', starttls: 'off', from: 'Parley <noreply@example.com>', "
                                "timeout_ms: 2000}",
                            "      push: {url: 'http://127.0.0.1:" + std::to_string(pushPort) +
                                "/push', secret: " + kPushSecret +
                                ", timeout_ms: 2000}\n"
                                "      unsubscribe: {base_url: 'http://127.0.0.1:" +
                                std::to_string(httpPort_) +
                                "/ext/notify/unsubscribe', secret: " + kUnsubscribeSecret + "}\n"));
        ops_ = std::make_unique<MqttTestClient>(broker_->uri(), "ops", "o");
        alice_ = std::make_unique<MqttTestClient>(broker_->uri(), "alice", "a");
        auto named =
            ops_->request({{"op", "admin.user.set"}, {"user", "alice"}, {"name", "Alice A."}});
        if (codeOf(named) != "ok") {
            throw std::runtime_error("admin.user.set: " + named.dump());
        }
    }

    static void startSmtp() { smtp_ = startSmtpSink(*dir_, dir_->file("mail"), smtpPort_); }

    static void TearDownTestSuite() {
        alice_.reset();
        ops_.reset();
        parleyd_.reset();
        broker_.reset();
        smtp_.reset();
        push_.reset();
        dir_.reset();
    }

    void TearDown() override {
        if (HasFailure() && parleyd_) {
            const std::string log = parleyd_->log();
            std::cerr << "parleyd's log (end):\n"
                      << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
        }
    }

    // An offline user with an address (and a display name), as an admin registers them.
    static void registerUser(const std::string& uid) {
        auto reply = ops_->request(
            {{"op", "admin.user.set"}, {"user", uid}, {"email", uid + "@example.com"}});
        ASSERT_EQ(codeOf(reply), "ok") << reply;
    }

    static std::string openWith(MqttTestClient& from, const std::string& peer,
                                const json& context = nullptr) {
        json command = {{"op", "conv.open"}, {"peer", peer}};
        if (!context.is_null()) {
            command["context"] = context;
        }
        auto opened = from.request(command);
        EXPECT_EQ(codeOf(opened), "ok") << opened;
        return opened.value("conv", "");
    }

    static int64_t send(MqttTestClient& from, const std::string& conv, const std::string& body) {
        static int counter = 0;
        auto sent = from.request({{"op", "msg.send"},
                                  {"conv", conv},
                                  {"cmid", "n" + std::to_string(++counter)},
                                  {"body", body}});
        EXPECT_EQ(codeOf(sent), "ok") << sent;
        return sent.value("seq", int64_t{0});
    }

    static std::vector<json> mailsTo(const std::string& uid) {
        return mailsIn(dir_->file("mail"), uid);
    }

    static std::vector<json> waitForMails(const std::string& uid, size_t count,
                                          std::chrono::milliseconds timeout = 20s) {
        return waitForMailsIn(dir_->file("mail"), uid, count, timeout);
    }

    static json prefsOf(const std::string& uid) {
        auto reply = ops_->request({{"op", "notify.prefs.get"}, {"user", uid}});
        EXPECT_EQ(codeOf(reply), "ok") << reply;
        return reply.value("prefs", json::object());
    }

    static inline std::unique_ptr<TempDir> dir_;
    static inline std::unique_ptr<ChildProcess> smtp_;
    static inline std::unique_ptr<ChildProcess> push_;
    static inline std::unique_ptr<MosquittoServer> broker_;
    static inline std::unique_ptr<ParleydProcess> parleyd_;
    static inline std::unique_ptr<MqttTestClient> ops_;
    static inline std::unique_ptr<MqttTestClient> alice_;
    static inline int smtpPort_ = 0;
    static inline int httpPort_ = 0;
};

TEST_F(Notify, OfflineRecipientGetsOneDigestOfEverythingEscaped) {
    registerUser("bob");
    auto carol = std::make_unique<MqttTestClient>(broker_->uri(), "carol", "c");
    const std::string bike =
        openWith(*alice_, "bob", {{"type", "listing"}, {"id", "b1"}, {"title", "Blue bike"}});
    const std::string withCarol = openWith(*carol, "bob");
    const std::string aliceCarol = openWith(*alice_, "carol");
    send(*alice_, bike, "Is the bike still there?");
    send(*alice_, bike, "<script>alert('pwned')</script>");
    send(*carol, withCarol, "Lunch tomorrow?");
    send(*alice_, aliceCarol, "secret-for-carol-only");

    const auto mails = waitForMails("bob", 1);
    ASSERT_EQ(mails.size(), 1u);
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(mailsTo("bob").size(), 1u) << "a second digest";
    const json& mail = mails[0];
    const std::string text = mail["text"];
    const std::string html = mail["html"];
    EXPECT_EQ(mail["mail_from"], "noreply@example.com");
    EXPECT_NE(mail["subject"].get<std::string>().find("3 new messages"), std::string::npos)
        << mail["subject"];
    EXPECT_NE(text.find("Alice A."), std::string::npos) << text;
    EXPECT_NE(text.find("carol"), std::string::npos) << text;
    EXPECT_NE(text.find("Blue bike"), std::string::npos) << text;
    EXPECT_NE(text.find("2 new from Alice A."), std::string::npos) << text;
    EXPECT_NE(text.find("Lunch tomorrow?"), std::string::npos) << text;
    EXPECT_NE(html.find("Blue bike"), std::string::npos) << html;
    EXPECT_NE(html.find("&lt;script&gt;alert(&apos;pwned&apos;)&lt;/script&gt;"), std::string::npos)
        << html;
    EXPECT_EQ(html.find("<script>"), std::string::npos) << html;
    EXPECT_EQ(mail["raw"].get<std::string>().find("secret-for-carol"), std::string::npos);
    EXPECT_EQ(text.find("secret-for-carol"), std::string::npos);
    EXPECT_EQ(html.find("secret-for-carol"), std::string::npos);
    // carol was online when her messages came: nothing for her.
    EXPECT_TRUE(mailsTo("carol").empty());
}

TEST_F(Notify, RecipientWhoReadsInTimeGetsNothing) {
    registerUser("dave");
    const std::string conv = openWith(*alice_, "dave");
    const int64_t seq = send(*alice_, conv, "are you there?");
    {
        // dave reads at once and goes offline again, before the delay is over.
        MqttTestClient dave(broker_->uri(), "dave", "d");
        auto read = dave.request({{"op", "msg.read"}, {"conv", conv}, {"seq", seq}});
        ASSERT_EQ(codeOf(read), "ok") << read;
        auto offline = dave.request({{"op", "presence"}, {"state", "offline"}});
        ASSERT_EQ(codeOf(offline), "ok") << offline;
    }
    std::this_thread::sleep_for(kQuiet);
    EXPECT_TRUE(mailsTo("dave").empty());
}

TEST_F(Notify, RecipientWhoComesOnlineInTimeGetsNothingEvenUnread) {
    registerUser("lena");
    const std::string conv = openWith(*alice_, "lena");
    send(*alice_, conv, "did you see this?");
    {
        // lena comes online before the delay is over and leaves without reading.
        MqttTestClient lena(broker_->uri(), "lena", "l");
        ASSERT_EQ(codeOf(lena.request({{"op", "presence"}, {"state", "online"}})), "ok");
        ASSERT_EQ(codeOf(lena.request({{"op", "presence"}, {"state", "offline"}})), "ok");
    }
    std::this_thread::sleep_for(kQuiet);
    EXPECT_TRUE(mailsTo("lena").empty());
    // A new message later is news again: one digest, with both unread.
    send(*alice_, conv, "hello again");
    const auto mails = waitForMails("lena", 1);
    ASSERT_EQ(mails.size(), 1u);
    EXPECT_NE(mails[0]["text"].get<std::string>().find("2 new"), std::string::npos)
        << mails[0]["text"];
}

TEST_F(Notify, MutedConversationAndEmailOffSendNothing) {
    registerUser("erin");
    registerUser("frank");
    const std::string toErin = openWith(*alice_, "erin");
    const std::string toFrank = openWith(*alice_, "frank");
    auto muted = ops_->request(
        {{"op", "notify.prefs.set"}, {"user", "erin"}, {"mute", json::array({toErin})}});
    ASSERT_EQ(codeOf(muted), "ok") << muted;
    auto off = ops_->request({{"op", "notify.prefs.set"}, {"user", "frank"}, {"email", false}});
    ASSERT_EQ(codeOf(off), "ok") << off;
    // Only admins may name another user.
    auto notAdmin =
        alice_->request({{"op", "notify.prefs.set"}, {"user", "frank"}, {"email", true}});
    EXPECT_EQ(codeOf(notAdmin), "forbidden") << notAdmin;
    send(*alice_, toErin, "muted one");
    send(*alice_, toFrank, "opted out");
    std::this_thread::sleep_for(kQuiet);
    EXPECT_TRUE(mailsTo("erin").empty());
    EXPECT_TRUE(mailsTo("frank").empty());
    EXPECT_EQ(prefsOf("frank")["email"], false);
}

// Muted with conv.set (the user's own setting, docs/protocol.md): unread_scan leaves the
// conversation out, so the digest holds only the others.
TEST_F(Notify, AConversationMutedByItsMemberIsLeftOutOfTheDigest) {
    registerUser("mona");
    const std::string loud = openWith(*alice_, "mona");
    const std::string quiet =
        openWith(*alice_, "mona", {{"type", "listing"}, {"id", "q1"}, {"title", "Quiet one"}});
    {
        MqttTestClient mona(broker_->uri(), "mona", "m");
        auto muted = mona.request({{"op", "conv.set"}, {"conv", quiet}, {"muted", true}});
        ASSERT_EQ(codeOf(muted), "ok") << muted;
        ASSERT_EQ(codeOf(mona.request({{"op", "presence"}, {"state", "offline"}})), "ok");
    }
    send(*alice_, quiet, "muted-text-never-mailed");
    send(*alice_, loud, "loud-text-mailed");
    const auto mails = waitForMails("mona", 1);
    ASSERT_EQ(mails.size(), 1u);
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(mailsTo("mona").size(), 1u) << "a second digest";
    const std::string text = mails[0]["text"];
    EXPECT_NE(text.find("loud-text-mailed"), std::string::npos) << text;
    EXPECT_EQ(text.find("muted-text-never-mailed"), std::string::npos) << text;
    EXPECT_EQ(text.find("Quiet one"), std::string::npos) << text;
}

TEST_F(Notify, ThrottleHoldsTheNextDigestBack) {
    registerUser("gina");
    const std::string conv = openWith(*alice_, "gina");
    send(*alice_, conv, "first");
    ASSERT_EQ(waitForMails("gina", 1).size(), 1u);
    const auto firstAt = std::chrono::steady_clock::now();
    send(*alice_, conv, "second");
    // Due 1.5 s later, but at most one digest per 4 s (throttle_min_ms).
    const auto mails = waitForMails("gina", 2, 15s);
    ASSERT_EQ(mails.size(), 2u);
    EXPECT_GE(std::chrono::steady_clock::now() - firstAt, 3500ms);
    const std::string text = mails[1]["text"];
    EXPECT_NE(text.find("second"), std::string::npos) << text;
    EXPECT_EQ(text.find("first"), std::string::npos) << "already told: " << text;
}

TEST_F(Notify, SmtpDownForAWhileThenUpDeliversOnce) {
    registerUser("hank");
    smtp_->terminate(5s);
    const std::string conv = openWith(*alice_, "hank");
    send(*alice_, conv, "while the mail server was down");
    // Past the delay and several failed attempts.
    const std::regex secondFailure("digest hank\\.[0-9]+ attempt 2 failed");
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!std::regex_search(parleyd_->log(), secondFailure) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(std::regex_search(parleyd_->log(), secondFailure)) << parleyd_->log();
    startSmtp();
    ASSERT_EQ(waitForMails("hank", 1).size(), 1u);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(mailsTo("hank").size(), 1u);
}

TEST_F(Notify, KilledWithADigestPendingSendsItOnceAfterRestart) {
    registerUser("ivan");
    const std::string conv = openWith(*alice_, "ivan");
    send(*alice_, conv, "before the crash");
    parleyd_->kill9();  // within the delay: nothing was sent yet
    EXPECT_TRUE(mailsTo("ivan").empty());
    parleyd_->start();
    const auto mails = waitForMails("ivan", 1);
    ASSERT_EQ(mails.size(), 1u);
    EXPECT_NE(mails[0]["text"].get<std::string>().find("before the crash"), std::string::npos);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(mailsTo("ivan").size(), 1u);
    // The test clients' connections survived (the broker did); alice is still served.
    ASSERT_EQ(codeOf(alice_->request({{"op", "ping"}})), "ok");
}

TEST_F(Notify, UnsubscribeLinkTurnsEmailOffAndATamperedOneDoesNot) {
    registerUser("judy");
    const std::string conv = openWith(*alice_, "judy");
    send(*alice_, conv, "hello judy");
    const auto mails = waitForMails("judy", 1);
    ASSERT_EQ(mails.size(), 1u);
    std::string link = mails[0]["headers"].value("List-Unsubscribe", "");
    ASSERT_GE(link.size(), 2u) << mails[0]["headers"];
    link = link.substr(1, link.size() - 2);  // <...>
    EXPECT_NE(mails[0]["text"].get<std::string>().find(link), std::string::npos);
    const std::string prefix = "http://127.0.0.1:" + std::to_string(httpPort_);
    ASSERT_EQ(link.rfind(prefix, 0), 0u) << link;
    const std::string target = link.substr(prefix.size());

    httplib::Client http("127.0.0.1", httpPort_);
    std::string tampered = target;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    auto refused =
        http.Post(tampered, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    auto otherUser = http.Post(
        target.substr(0, target.find("u=judy")) + "u=alice" + target.substr(target.find("&t=")), "",
        "application/x-www-form-urlencoded");
    ASSERT_TRUE(otherUser);
    EXPECT_EQ(otherUser->status, 403);
    EXPECT_EQ(prefsOf("judy")["email"], true);
    // A GET (a mail scanner following links) changes nothing.
    auto shown = http.Get(target);
    ASSERT_TRUE(shown);
    EXPECT_EQ(shown->status, 200);
    EXPECT_EQ(prefsOf("judy")["email"], true);
    auto done =
        http.Post(target, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->status, 200);
    EXPECT_EQ(prefsOf("judy")["email"], false);

    send(*alice_, conv, "after unsubscribing");
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(mailsTo("judy").size(), 1u);
}

TEST_F(Notify, PushGatewayGetsASignedDigest) {
    registerUser("kate");
    {
        // kate's phone registers its push token, then she goes offline.
        MqttTestClient kate(broker_->uri(), "kate", "k");
        auto registered = kate.request(
            {{"op", "notify.push.register"}, {"token", "fcm-token-1"}, {"platform", "android"}});
        ASSERT_EQ(codeOf(registered), "ok") << registered;
        auto empty = kate.request({{"op", "notify.push.register"}, {"token", ""}});
        EXPECT_EQ(codeOf(empty), "bad_request") << empty;
        auto offline = kate.request({{"op", "presence"}, {"state", "offline"}});
        ASSERT_EQ(codeOf(offline), "ok") << offline;
    }
    const std::string conv = openWith(*alice_, "kate");
    send(*alice_, conv, "ping for the phone");
    send(*alice_, conv, "and another");
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::vector<json> posts;
    while (std::chrono::steady_clock::now() < deadline) {
        posts.clear();
        for (auto& post : recordsIn(dir_->file("push"))) {
            if (json::parse(post["body"].get<std::string>()).value("user", "") == "kate") {
                posts.push_back(post);
            }
        }
        if (!posts.empty()) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(posts.size(), 1u);
    const std::string body = posts[0]["body"];
    const json payload = json::parse(body);
    EXPECT_EQ(payload["messages"], 2);
    EXPECT_EQ(payload["badge"], 2);
    ASSERT_EQ(payload["conversations"].size(), 1u);
    EXPECT_EQ(payload["conversations"][0]["conv"], conv);
    EXPECT_EQ(payload["conversations"][0]["count"], 2);
    EXPECT_EQ(payload["devices"][0]["token"], "fcm-token-1");
    const json& headers = posts[0]["headers"];
    const std::string timestamp = headers.value("X-Parley-Timestamp", "");
    EXPECT_EQ(headers.value("X-Parley-Signature", ""),
              "sha256=" + notify::hmacSha256Hex(kPushSecret, timestamp + "." + body));
    // kate has an address too: the same digest went by email.
    EXPECT_EQ(waitForMails("kate", 1).size(), 1u);
}

// STARTTLS with AUTH, and implicit TLS, against a real server with a certificate of a test CA;
// a wrong password or an unknown CA delivers nothing (and is retried).
TEST(NotifySmtpTls, StartTlsWithAuthAndImplicitTlsDeliverAndBadCredentialsDoNot) {
    TempDir dir("parley-notify-tls");
    std::filesystem::create_directory(dir.file("mail"));
    TestPki pki(dir.path());
    const auto ca = pki.makeCa("mail-ca");
    const auto otherCa = pki.makeCa("other-ca");
    const auto server = pki.issue("mail", ca, {"IP:127.0.0.1"});
    const int startTlsPort = freeLoopbackPort();
    const int implicitPort = freeLoopbackPort();
    const auto startTls = startSmtpSink(
        dir, dir.file("mail"), startTlsPort,
        {"starttls", server.certFile, server.keyFile, "auth", "parley", "mail-password"});
    const auto implicit = startSmtpSink(dir, dir.file("mail"), implicitPort,
                                        {"tls", server.certFile, server.keyFile});
    MosquittoServer broker({{"parleyd", "pd"}, {"alice", "a"}, {"ops", "o"}});

    struct Case {
        std::string recipient;
        std::string smtp;
        bool delivered;
        std::string login;  // the sink's record
    };
    const std::string from = "from: 'Parley <noreply@example.com>', timeout_ms: 2000";
    const std::vector<Case> cases = {
        {"tls1",
         "{url: 'smtp://127.0.0.1:" + std::to_string(startTlsPort) +
             "', starttls: require, username: parley, password: mail-password, "
             "ca_file: '" +
             ca.certFile + "', " + from + "}",
         true, "parley"},
        {"tls2",
         "{url: 'smtps://127.0.0.1:" + std::to_string(implicitPort) + "', ca_file: '" +
             ca.certFile + "', " + from + "}",
         true, ""},
        {"tls3",
         "{url: 'smtp://127.0.0.1:" + std::to_string(startTlsPort) +
             "', starttls: require, username: parley, password: wrong, ca_file: '" + ca.certFile +
             "', " + from + "}",
         false, ""},
        {"tls4",
         "{url: 'smtps://127.0.0.1:" + std::to_string(implicitPort) + "', ca_file: '" +
             otherCa.certFile + "', " + from + "}",
         false, ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.recipient);
        ParleydProcess parleyd("broker: {uri: " + broker.uri() + ", client_id: parleyd-" +
                               c.recipient +
                               ", username: parleyd, password: pd}\n"
                               "store: {backend: sqlite, sqlite: {path: parley.db}}\n"
                               "admins: [ops]\n" +
                               notifyExtension(c.smtp));
        MqttTestClient ops(broker.uri(), "ops", "o");
        MqttTestClient alice(broker.uri(), "alice", "a");
        ASSERT_EQ(codeOf(ops.request({{"op", "admin.user.set"},
                                      {"user", c.recipient},
                                      {"email", c.recipient + "@example.com"}})),
                  "ok");
        auto opened = alice.request({{"op", "conv.open"}, {"peer", c.recipient}});
        ASSERT_EQ(codeOf(opened), "ok") << opened;
        ASSERT_EQ(codeOf(alice.request({{"op", "msg.send"},
                                        {"conv", opened["conv"]},
                                        {"cmid", "t-" + c.recipient},
                                        {"body", "over TLS"}})),
                  "ok");
        if (c.delivered) {
            const auto mails = waitForMailsIn(dir.file("mail"), c.recipient, 1);
            ASSERT_EQ(mails.size(), 1u) << parleyd.log();
            EXPECT_EQ(mails[0]["tls"], true);
            EXPECT_EQ(mails[0]["login"], c.login.empty() ? json() : json(c.login));
        } else {
            const std::regex failed("digest " + c.recipient + "\\.[0-9]+ attempt 1 failed");
            const auto deadline = std::chrono::steady_clock::now() + 15s;
            while (!std::regex_search(parleyd.log(), failed) &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(100ms);
            }
            EXPECT_TRUE(std::regex_search(parleyd.log(), failed)) << parleyd.log();
            EXPECT_TRUE(mailsIn(dir.file("mail"), c.recipient).empty());
        }
    }
}

// Two parleyd on one MariaDB, both running the plugin: each digest is sent by exactly one.
TEST(NotifyCluster, TwoInstancesSendEachDigestOnce) {
    TempDir dir("parley-notify-cluster");
    std::filesystem::create_directory(dir.file("mail"));
    const int smtpPort = freeLoopbackPort();
    const auto sink = startSmtpSink(dir, dir.file("mail"), smtpPort);
    MariaDbServer database;
    const std::string name = database.createDatabase();
    MosquittoServer broker({{"parleyd", "pd"}, {"alice", "a"}, {"ops", "o"}});
    std::vector<std::unique_ptr<ParleydProcess>> instances;
    for (int i = 1; i <= 2; ++i) {
        instances.push_back(std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker.uri() + ", client_id: parleyd-" + std::to_string(i) +
            ", username: parleyd, password: pd}\n"
            "store:\n  backend: mysql\n  mysql: {host: 127.0.0.1, port: " +
            std::to_string(database.port()) + ", user: " + database.user() + ", password: '" +
            database.password() + "', database: " + name + "}\nadmins: [ops]\n" +
            notifyExtension("{url: 'smtp://127.0.0.1:" + std::to_string(smtpPort) +
                            "', starttls: 'off', from: 'Parley <noreply@example.com>', "
                            "timeout_ms: 2000}")));
    }
    MqttTestClient ops(broker.uri(), "ops", "o");
    MqttTestClient alice(broker.uri(), "alice", "a");
    std::vector<std::string> recipients;
    for (int i = 1; i <= 8; ++i) {
        recipients.push_back("peer" + std::to_string(i));
    }
    for (const auto& uid : recipients) {
        ASSERT_EQ(codeOf(ops.request(
                      {{"op", "admin.user.set"}, {"user", uid}, {"email", uid + "@example.com"}})),
                  "ok");
        auto opened = alice.request({{"op", "conv.open"}, {"peer", uid}});
        ASSERT_EQ(codeOf(opened), "ok") << opened;
        for (int m = 1; m <= 2; ++m) {
            ASSERT_EQ(codeOf(alice.request({{"op", "msg.send"},
                                            {"conv", opened["conv"]},
                                            {"cmid", uid + "-" + std::to_string(m)},
                                            {"body", "message " + std::to_string(m)}})),
                      "ok");
        }
    }
    for (const auto& uid : recipients) {
        EXPECT_EQ(waitForMailsIn(dir.file("mail"), uid, 1).size(), 1u) << uid;
    }
    std::this_thread::sleep_for(kQuiet);
    size_t fromFirst = 0;
    for (const auto& uid : recipients) {
        const auto mails = mailsIn(dir.file("mail"), uid);
        ASSERT_EQ(mails.size(), 1u) << uid;
        EXPECT_NE(mails[0]["text"].get<std::string>().find("2 new"), std::string::npos);
        fromFirst += instances[0]->log().find("digest " + uid + ".") != std::string::npos;
    }
    std::cerr << "digests sent by the first instance: " << fromFirst << " of " << recipients.size()
              << "\n";
}

}  // namespace
}  // namespace parley::testing
