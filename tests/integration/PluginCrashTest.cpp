// A plugin that crashes takes parleyd down with it (it runs with parleyd's privileges); what
// parleyd owes its operator is the name of the plugin and of the hook or command that was
// running. A real parleyd behind a real Mosquitto, with a fixture plugin that crashes on demand
// (tests/plugins/fixtures/crashes.c): each test crashes one parleyd and reads its log.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class PluginCrash : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // The crashes are on purpose: no core files from them (parleyd inherits the limit).
        const rlimit noCore{0, 0};
        setrlimit(RLIMIT_CORE, &noCore);
    }

    void SetUp() override {
        broker_ = std::make_unique<MosquittoServer>(
            std::vector<BrokerUser>{{"parleyd", "pd"}, {"alice", "a"}, {"bob", "b"}});
    }

    // parleyd with the crashing fixture as plugin "crashy". `sanitizerHandlers`: in a sanitized
    // build, whether AddressSanitizer keeps its own handlers of the fatal signals (its report
    // then follows parleyd's, and it ends the process with its exit code instead of the signal).
    void startParleyd(bool sanitizerHandlers = false) {
        std::map<std::string, std::string> environment;
#ifdef PARLEY_SANITIZED
        if (!sanitizerHandlers) {
            const char* inherited = std::getenv("ASAN_OPTIONS");
            environment["ASAN_OPTIONS"] =
                std::string(inherited != nullptr ? inherited : "") +
                ":handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
        }
#else
        (void)sanitizerHandlers;
#endif
        parleyd_ = std::make_unique<ParleydProcess>(
            "broker: {uri: " + broker_->uri() +
                ", client_id: parleyd-crash, username: parleyd, password: pd}\n"
                "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"
                "extensions:\n"
                "  - name: crashy\n"
                "    plugin: " PARLEY_CRASH_PLUGIN "\n",
            ParleydLaunch{.env = environment});
    }

    std::unique_ptr<MqttTestClient> client(const std::string& uid, const std::string& password) {
        return std::make_unique<MqttTestClient>(broker_->uri(), uid, password);
    }

    // Publishes `command` as alice without waiting for a reply (none comes: parleyd dies).
    void sendAsAlice(MqttTestClient& alice, const json& command) {
        ASSERT_EQ(alice.publishRaw("parley/v1/c2s/alice", command.dump()), 0);
    }

    std::unique_ptr<MosquittoServer> broker_;
    std::unique_ptr<ParleydProcess> parleyd_;
};

TEST_F(PluginCrash, NullDereferenceInAHookNamesThePluginAndTheHook) {
    startParleyd();
    auto alice = client("alice", "a");
    auto opened = alice->request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened;
    ASSERT_EQ(
        codeOf(alice->request(
            {{"op", "msg.send"}, {"conv", opened["conv"]}, {"cmid", "m1"}, {"body", "harmless"}})),
        "ok");
    sendAsAlice(*alice,
                {{"op", "msg.send"}, {"conv", opened["conv"]}, {"cmid", "m2"}, {"body", "crash"}});
    const int status = parleyd_->waitForExit(20s);
    EXPECT_EQ(status, -SIGSEGV) << "dies by the signal, as without the report:\n"
                                << parleyd_->log();
    EXPECT_NE(parleyd_->log().find("parleyd: FATAL: signal SIGSEGV (11) in plugin 'crashy' "
                                   "during hook message.before_store"),
              std::string::npos)
        << parleyd_->log();
}

TEST_F(PluginCrash, DivisionByZeroInACommandNamesThePluginAndTheCommand) {
    startParleyd();
    auto alice = client("alice", "a");
    sendAsAlice(*alice, {{"op", "crashes.divide"}, {"id", "d1"}});
    const int status = parleyd_->waitForExit(20s);
    EXPECT_EQ(status, -SIGFPE) << parleyd_->log();
    EXPECT_NE(parleyd_->log().find("parleyd: FATAL: signal SIGFPE (8) in plugin 'crashy' during "
                                   "command crashes.divide"),
              std::string::npos)
        << parleyd_->log();
}

TEST_F(PluginCrash, AbortInACommandNamesThePluginAndTheCommand) {
    startParleyd();
    auto alice = client("alice", "a");
    sendAsAlice(*alice, {{"op", "crashes.abort"}, {"id", "a1"}});
    const int status = parleyd_->waitForExit(20s);
    EXPECT_EQ(status, -SIGABRT) << parleyd_->log();
    EXPECT_NE(parleyd_->log().find("parleyd: FATAL: signal SIGABRT (6) in plugin 'crashy' during "
                                   "command crashes.abort"),
              std::string::npos)
        << parleyd_->log();
}

TEST_F(PluginCrash, WithTheSanitizersOwnHandlerItsReportFollowsParleyds) {
#ifndef PARLEY_SANITIZED
    GTEST_SKIP() << "AddressSanitizer's SEGV handler exists in PARLEY_SANITIZE builds only";
#else
    startParleyd(/*sanitizerHandlers=*/true);
    auto alice = client("alice", "a");
    auto opened = alice->request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened;
    sendAsAlice(*alice,
                {{"op", "msg.send"}, {"conv", opened["conv"]}, {"cmid", "m1"}, {"body", "crash"}});
    const int status = parleyd_->waitForExit(60s, /*sanitizerReportExpected=*/true);
    EXPECT_NE(status, 0) << parleyd_->log();
    const std::string log = parleyd_->log();
    const size_t ours = log.find(
        "parleyd: FATAL: signal SIGSEGV (11) in plugin 'crashy' during "
        "hook message.before_store");
    const size_t theirs = log.find("ERROR: AddressSanitizer: SEGV");
    ASSERT_NE(ours, std::string::npos) << log;
    ASSERT_NE(theirs, std::string::npos) << "the sanitizer's report (with the stack) follows:\n"
                                         << log;
    EXPECT_LT(ours, theirs) << log;
#endif
}

}  // namespace
}  // namespace parley::testing
