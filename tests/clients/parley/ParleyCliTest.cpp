// The scriptable `parley` subcommands, run as a real process against a real Mosquitto and
// parleyd (SQLite), checked against what other real clients see.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Stack.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;

struct CliRun {
    int status;
    std::string output;  // stdout and stderr
};

class ParleyCli : public ::testing::Test {
  protected:
    Stack& stack() { return Stack::forBackend("sqlite"); }

    std::vector<std::string> argv(const std::string& uid, std::vector<std::string> args) {
        std::ofstream(dir_.file("client.conf")) << "prefix = \"parley/v1\"\n";
        std::vector<std::string> all = {PARLEY_CLIENT_PATH,
                                        "--uri",
                                        stack().broker().uri(),
                                        "--user",
                                        uid,
                                        "--password",
                                        Stack::passwordOf(uid),
                                        "--config",
                                        dir_.file("client.conf"),
                                        "--timeout",
                                        "10"};
        all.insert(all.end(), args.begin(), args.end());
        return all;
    }

    CliRun run(const std::string& uid, std::vector<std::string> args) {
        const std::string log = dir_.file("run-" + std::to_string(++runs_) + ".log");
        const int status =
            runToCompletion(argv(uid, std::move(args)), log, std::chrono::seconds(40));
        std::ifstream in(log);
        std::stringstream text;
        text << in.rdbuf();
        return {status, text.str()};
    }

    static std::vector<json> jsonLines(const std::string& text) {
        std::vector<json> lines;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            auto parsed = json::parse(line, nullptr, false);
            if (!parsed.is_discarded()) {
                lines.push_back(parsed);
            }
        }
        return lines;
    }

    // After a broker restart parleyd needs a moment to subscribe again; what is sent before
    // reaches nobody (clients resend). Waits until it answers.
    static void waitUntilServed(MqttTestClient& client) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (true) {
            try {
                client.request({{"op", "ping"}}, std::chrono::seconds(1));
                return;
            } catch (const std::runtime_error&) {
                if (std::chrono::steady_clock::now() > deadline) {
                    throw;
                }
            }
        }
    }

    std::string openDirect(MqttTestClient& client, const std::string& peer) {
        auto reply = client.request({{"op", "conv.open"}, {"peer", peer}});
        EXPECT_TRUE(reply["ok"]) << reply;
        return reply.value("conv", "");
    }

    TempDir dir_{"parley-cli-test"};
    int runs_ = 0;
};

TEST_F(ParleyCli, SendsToAPeerAndPrintsHistoryAndTheList) {
    const std::string alice = stack().newUser(), bob = stack().newUser();
    auto bobClient = stack().connect(bob);

    auto sent = run(alice, {"--json", "send", "--to", bob, "hello from the shell"});
    ASSERT_EQ(sent.status, 0) << sent.output;
    auto reply = jsonLines(sent.output).at(0);
    EXPECT_EQ(reply["seq"], 1);
    const std::string conv = reply["conv"];
    auto event = bobClient->waitFor([&](const Received& m) {
        return m.payload.is_object() && m.payload.value("ev", "") == "msg";
    });
    EXPECT_EQ(event.payload["body"], "hello from the shell");
    EXPECT_EQ(event.payload["sender"], alice);

    // A second message into the same conversation by id, the body from stdin.
    ASSERT_TRUE(bobClient->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "b1"}, {"body", "hi alice"}})["ok"]);
    auto history = run(alice, {"--json", "history", conv});
    ASSERT_EQ(history.status, 0) << history.output;
    auto messages = jsonLines(history.output);
    ASSERT_EQ(messages.size(), 2U) << history.output;
    EXPECT_EQ(messages[0]["body"], "hello from the shell");
    EXPECT_EQ(messages[1]["body"], "hi alice");
    EXPECT_EQ(messages[1]["sender"], bob);

    auto human = run(alice, {"history", conv});
    ASSERT_EQ(human.status, 0) << human.output;
    EXPECT_NE(human.output.find("#2"), std::string::npos) << human.output;
    EXPECT_NE(human.output.find(bob + ": hi alice"), std::string::npos) << human.output;

    auto list = run(alice, {"list"});
    ASSERT_EQ(list.status, 0) << list.output;
    EXPECT_NE(list.output.find("CONV"), std::string::npos) << list.output;
    EXPECT_NE(list.output.find(conv), std::string::npos) << list.output;
    EXPECT_NE(list.output.find("unread total: 1"), std::string::npos) << list.output;

    auto read = run(alice, {"--json", "read", conv});
    ASSERT_EQ(read.status, 0) << read.output;
    EXPECT_EQ(jsonLines(read.output).at(0)["read_seq"], 2);
    auto listed = jsonLines(run(alice, {"--json", "list"}).output).at(0);
    EXPECT_EQ(listed["unread_total"], 0);
}

// As with parleyctl, the global flags may come after the subcommand (docs/clients.md's examples
// put --json last).
TEST_F(ParleyCli, GlobalFlagsMayFollowTheSubcommand) {
    const std::string alice = stack().newUser(), bob = stack().newUser();
    auto sent = run(alice, {"send", "--to", bob, "flags last", "--json"});
    ASSERT_EQ(sent.status, 0) << sent.output;
    const std::string conv = jsonLines(sent.output).at(0).at("conv");

    auto history = run(alice, {"history", conv, "--json"});
    ASSERT_EQ(history.status, 0) << history.output;
    auto messages = jsonLines(history.output);
    ASSERT_EQ(messages.size(), 1U) << history.output;
    EXPECT_EQ(messages[0]["body"], "flags last");

    auto all = run(alice, {"history", conv, "--all", "--json", "--timeout", "20"});
    ASSERT_EQ(all.status, 0) << all.output;
    EXPECT_EQ(jsonLines(all.output).size(), 1U) << all.output;

    auto list = run(alice, {"list", "--json"});
    ASSERT_EQ(list.status, 0) << list.output;
    auto listed = jsonLines(list.output);
    ASSERT_EQ(listed.size(), 1U) << list.output;
    ASSERT_EQ(listed[0]["convs"].size(), 1U) << list.output;
    EXPECT_EQ(listed[0]["convs"][0]["conv"], conv);

    auto unknown = run(alice, {"list", "--frobnicate"});
    EXPECT_EQ(unknown.status, 2) << "an unknown flag is still a usage error: " << unknown.output;
}

TEST_F(ParleyCli, ConnectionSettingsComeFromAConfigFile) {
    const std::string alice = stack().newUser();
    const std::string file = dir_.file("alice.conf");
    std::ofstream(file) << "uri = \"" << stack().broker().uri() << "\"\nuser = \"" << alice
                        << "\"\npassword = \"" << Stack::passwordOf(alice) << "\"\n";
    const std::string log = dir_.file("config.log");
    ASSERT_EQ(runToCompletion({PARLEY_CLIENT_PATH, "--config", file, "call", R"({"op":"ping"})"},
                              log, std::chrono::seconds(30)),
              0);
    std::ifstream in(log);
    std::string line;
    std::getline(in, line);
    EXPECT_TRUE(json::parse(line)["ok"]) << line;
}

TEST_F(ParleyCli, OpensListingThreadsAndGroupsAndCallsAnyCommand) {
    const std::string alice = stack().newUser(), bob = stack().newUser(), carol = stack().newUser();
    auto opened = run(alice, {"open", bob, "--listing", "42", "--title", "Blue bike"});
    ASSERT_EQ(opened.status, 0) << opened.output;
    const std::string about = opened.output.substr(0, opened.output.find('\n'));
    auto again = run(alice, {"open", bob, "--listing", "42"});
    EXPECT_EQ(again.output.substr(0, again.output.find('\n')), about) << "one thread per listing";
    auto plain = run(alice, {"open", bob});
    EXPECT_NE(plain.output.substr(0, plain.output.find('\n')), about);

    auto filtered = jsonLines(run(bob, {"--json", "list", "--listing", "42"}).output).at(0);
    ASSERT_EQ(filtered["convs"].size(), 1U) << filtered;
    EXPECT_EQ(filtered["convs"][0]["conv"], about);

    auto group = run(alice, {"--json", "create", bob, carol, "--title", "Trip"});
    ASSERT_EQ(group.status, 0) << group.output;
    auto summary = jsonLines(group.output).at(0);
    EXPECT_EQ(summary["kind"], "group");
    EXPECT_EQ(summary["members"].size(), 3U);

    auto ping = run(alice, {"call", R"({"op":"ping"})"});
    ASSERT_EQ(ping.status, 0) << ping.output;
    EXPECT_TRUE(jsonLines(ping.output).at(0)["ok"]);
}

TEST_F(ParleyCli, ErrorsHaveTheServersCodeAndDistinctExitCodes) {
    const std::string alice = stack().newUser();
    auto refused = run(alice, {"send", "no-such-conv", "hello"});
    EXPECT_EQ(refused.status, 1) << refused.output;
    EXPECT_NE(refused.output.find("not_found"), std::string::npos) << refused.output;

    auto self = run(alice, {"open", alice});
    EXPECT_EQ(self.status, 1) << self.output;

    auto usage = run(alice, {"send"});
    EXPECT_EQ(usage.status, 2) << usage.output;
    auto badMeta = run(alice, {"send", "c", "x", "--meta", "[1]"});
    EXPECT_EQ(badMeta.status, 2) << badMeta.output;
    auto badCall = run(alice, {"call", "{}"});
    EXPECT_EQ(badCall.status, 2) << badCall.output;

    auto wrongPassword = argv(alice, {"list"});
    wrongPassword[6] = "wrong";
    const std::string log = dir_.file("wrong.log");
    EXPECT_EQ(runToCompletion(wrongPassword, log, std::chrono::seconds(30)), 3);
    std::ifstream wrongOutput(log);
    const std::string said{std::istreambuf_iterator<char>(wrongOutput), {}};
    EXPECT_NE(said.find("not authorized: wrong user name, password or token"), std::string::npos)
        << said;
    EXPECT_EQ(said.find("CONNACK"), std::string::npos) << "Paho's words, not ours: " << said;

    auto interactive = run(alice, {"ui"});
    EXPECT_EQ(interactive.status, 2) << "no terminal: " << interactive.output;
}

TEST_F(ParleyCli, WatchPrintsEachMessageOnceAcrossABrokerRestart) {
    const std::string alice = stack().newUser(), bob = stack().newUser();
    auto bobClient = stack().connect(bob);
    const std::string conv = openDirect(*bobClient, alice);
    ASSERT_TRUE(bobClient->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "w0"}, {"body", "before"}})["ok"]);

    const std::string log = dir_.file("watch.log");
    ChildProcess watch(argv(alice, {"watch", "--for", "60"}), log);
    // Watching: a live message arrives as one line.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_TRUE(bobClient->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "w1"}, {"body", "live"}})["ok"]);
    ASSERT_TRUE(watch.waitForLog("\"live\"", std::chrono::seconds(10))) << watch.log();

    // The broker goes away; bob sends as soon as parleyd is back, most likely before the
    // watcher has reconnected (Paho waits 1 s, then 2 s, ... between attempts), so the watcher
    // learns of it by catching up; either way it must print it once.
    bobClient.reset();
    stack().broker().restart();
    auto bobAgain = stack().connect(bob);
    waitUntilServed(*bobAgain);
    ASSERT_TRUE(bobAgain->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "w2"}, {"body", "while you were away"}},
        std::chrono::seconds(20))["ok"]);
    ASSERT_TRUE(watch.waitForLog("while you were away", std::chrono::seconds(30))) << watch.log();
    ASSERT_TRUE(bobAgain->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "w3"}, {"body", "after"}})["ok"]);
    ASSERT_TRUE(watch.waitForLog("\"after\"", std::chrono::seconds(10))) << watch.log();
    watch.terminate(std::chrono::seconds(5));

    std::map<std::string, int> seen;
    for (const auto& line : jsonLines(watch.log())) {
        if (line.value("ev", "") == "msg") {
            ++seen[line.value("body", "")];
        }
    }
    EXPECT_EQ(seen.count("before"), 0U) << "only what came after the watch began";
    EXPECT_EQ(seen["live"], 1) << watch.log();
    EXPECT_EQ(seen["while you were away"], 1) << watch.log();
    EXPECT_EQ(seen["after"], 1) << watch.log();
}

TEST_F(ParleyCli, SendSurvivesTheBrokerRestartingBeforeTheReply) {
    // parleyd is away (stopped), so the command waits at the broker... until the broker itself
    // restarts and forgets it. The client resends with the same cmid: stored exactly once.
    const std::string alice = stack().newUser(), bob = stack().newUser();
    auto bobClient = stack().connect(bob);
    const std::string conv = openDirect(*bobClient, alice);
    stack().parleyd().stop();
    const std::string log = dir_.file("send.log");
    ChildProcess send(argv(alice, {"--json", "--timeout", "60", "send", conv, "eventually"}), log);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    bobClient.reset();
    stack().broker().restart();
    stack().parleyd().start();
    ASSERT_TRUE(send.waitForLog("\"seq\"", std::chrono::seconds(45))) << send.log();
    EXPECT_EQ(send.terminate(std::chrono::seconds(5)), 0) << send.log();
    auto bobAgain = stack().connect(bob);
    auto history = bobAgain->request({{"op", "msg.history"}, {"conv", conv}});
    ASSERT_TRUE(history["ok"]) << history;
    ASSERT_EQ(history["msgs"].size(), 1U) << history;
    EXPECT_EQ(history["msgs"][0]["body"], "eventually");
}

// A one-shot subcommand (from cron, a script) is not the user being there: it must leave their
// presence as it found it, online on their phone or offline. Its own broker and parleyd, with
// the default presence settings (the shared stack makes idle users away after 2 s).
class ParleyCliPresence : public ::testing::Test {
  protected:
    ParleyCliPresence()
        : broker_({{"parleyd", "pd"}, {"alice", "pw-a"}, {"bob", "pw-b"}, {"watcher", "pw-w"}}),
          parleyd_("broker: {uri: " + broker_.uri() +
                   ", username: parleyd, password: pd, client_id: parleyd-presence}\n"
                   "store: {backend: sqlite, sqlite: {path: parley.db, synchronous: normal}}\n"),
          watcher_(broker_.uri(), "watcher", "pw-w") {
        watcher_.subscribe(kAlicePresence);
    }

    int runAsAlice(std::vector<std::string> args) {
        std::vector<std::string> argv = {
            PARLEY_CLIENT_PATH, "--uri", broker_.uri(), "--user", "alice",
            "--password",       "pw-a",  "--timeout",   "10"};
        argv.insert(argv.end(), args.begin(), args.end());
        return runToCompletion(argv, dir_.file("run-" + std::to_string(++runs_) + ".log"),
                               std::chrono::seconds(40));
    }

    std::vector<json> alicePresence() const {
        std::vector<json> states;
        for (const auto& received : watcher_.received()) {
            if (received.topic == kAlicePresence) {
                states.push_back(received.payload);
            }
        }
        return states;
    }

    // Alice's phone chooses "away": the watcher sees that announcement after everything parleyd
    // published about alice before it. Returns what the watcher saw between `from` and it.
    std::vector<json> presenceUntilMarker(MqttTestClient& phone, size_t from) {
        EXPECT_EQ(codeOf(phone.request({{"op", "presence"}, {"state", "away"}})), "ok");
        watcher_.waitFor([](const Received& r) {
            return r.topic == kAlicePresence && r.payload.value("state", "") == "away";
        });
        const auto all = alicePresence();
        return std::vector<json>(all.begin() + static_cast<std::ptrdiff_t>(from), all.end() - 1);
    }

    static constexpr const char* kAlicePresence = "parley/v1/presence/alice";
    MosquittoServer broker_;
    ParleydProcess parleyd_;
    MqttTestClient watcher_;
    TempDir dir_{"parley-cli-presence"};
    int runs_ = 0;
};

TEST_F(ParleyCliPresence, OneShotCommandsLeaveAnOnlineUserOnline) {
    MqttTestClient phone(broker_.uri(), "alice", "pw-a",
                         json{{"op", "presence"}, {"state", "offline"}}, "alice-phone");
    ASSERT_EQ(codeOf(phone.request({{"op", "presence"}, {"state", "online"}})), "ok");
    watcher_.waitFor([](const Received& r) {
        return r.topic == kAlicePresence && r.payload.value("state", "") == "online";
    });
    const size_t before = alicePresence().size();

    EXPECT_EQ(runAsAlice({"list"}), 0);
    EXPECT_EQ(runAsAlice({"send", "--to", "bob", "from cron"}), 0);
    EXPECT_EQ(runAsAlice({"--json", "list"}), 0);

    const auto seen = presenceUntilMarker(phone, before);
    EXPECT_TRUE(seen.empty()) << "alice's presence moved while her phone was online: "
                              << json(seen).dump();
}

TEST_F(ParleyCliPresence, OneShotCommandsLeaveAnOfflineUserOffline) {
    MqttTestClient phone(broker_.uri(), "alice", "pw-a", std::nullopt, "alice-phone");
    ASSERT_EQ(codeOf(phone.request({{"op", "presence"}, {"state", "offline"}})), "ok");
    watcher_.waitFor([](const Received& r) {
        return r.topic == kAlicePresence && r.payload.value("state", "") == "offline";
    });
    const size_t before = alicePresence().size();

    EXPECT_EQ(runAsAlice({"list"}), 0);
    EXPECT_EQ(runAsAlice({"send", "--to", "bob", "from cron at night"}), 0);

    const auto seen = presenceUntilMarker(phone, before);
    EXPECT_TRUE(seen.empty()) << "a script made offline alice " << json(seen).dump();
}

}  // namespace
}  // namespace parley::testing
