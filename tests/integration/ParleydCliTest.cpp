// parleyd's command line: --check-config, --version, bad arguments; signals while starting.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "ChildProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

struct Outcome {
    int status;
    std::string output;
};

Outcome runParleyd(const std::vector<std::string>& arguments) {
    TempDir dir;
    std::vector<std::string> argv{parleydPath()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    const std::string log = dir.file("out.log");
    const int status = runToCompletion(argv, log, 10s);
    std::ifstream file(log);
    return Outcome{status, std::string(std::istreambuf_iterator<char>(file), {})};
}

TEST(ParleydCli, CheckConfigAcceptsTheShippedExample) {
    auto outcome = runParleyd({"--check-config", sourceDir() + "/config/parleyd.yaml"});
    EXPECT_EQ(outcome.status, 0) << outcome.output;
    EXPECT_NE(outcome.output.find("configuration is valid"), std::string::npos) << outcome.output;
}

TEST(ParleydCli, CheckConfigRefusesWithFileLineKeyAndReason) {
    TempDir dir;
    const std::string path = dir.file("bad.yaml");
    std::ofstream(path) << "store:\n  backend: sqlite\n  sqllite:\n    path: x.db\n";
    auto outcome = runParleyd({"--check-config", path});
    EXPECT_EQ(outcome.status, 1);
    EXPECT_NE(outcome.output.find(path + ":3: store.sqllite: unknown key"), std::string::npos)
        << outcome.output;
}

TEST(ParleydCli, RunRefusesAnInvalidConfigBeforeDoingAnything) {
    TempDir dir;
    const std::string path = dir.file("bad.yaml");
    std::ofstream(path) << "server:\n  workers: lots\n";
    auto outcome = runParleyd({"--config", path});
    EXPECT_EQ(outcome.status, 1);
    EXPECT_NE(outcome.output.find("server.workers: expected an integer"), std::string::npos)
        << outcome.output;
}

TEST(ParleydCli, VersionAndBadArguments) {
    auto version = runParleyd({"--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.output.rfind("parleyd ", 0), 0U) << version.output;
    auto bad = runParleyd({"--frobnicate"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.output.find("usage:"), std::string::npos) << bad.output;
}

// parleyd waits for its broker for as long as it takes; SIGTERM must still end it at once, not
// after the broker comes (a service manager would SIGKILL it first).
TEST(ParleydCli, SigtermWhileWaitingForTheBrokerExitsAtOnce) {
    TempDir dir;
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker:\n  uri: tcp://127.0.0.1:" << freeLoopbackPort()
                          << "\n  password: unused\nstore:\n  backend: sqlite\n  sqlite: {path: "
                          << dir.file("parley.db") << "}\n";
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"));
    ASSERT_TRUE(parleyd.waitForLog("cannot connect to", 15s)) << parleyd.log();
    const auto before = std::chrono::steady_clock::now();
    const int status = parleyd.terminate(10s);
    const auto took = std::chrono::steady_clock::now() - before;
    EXPECT_EQ(status, 0) << parleyd.log();
    EXPECT_LT(took, 5s) << "it waited for the broker before exiting";
    EXPECT_NE(parleyd.log().find("Terminated received while connecting to the broker"),
              std::string::npos)
        << parleyd.log();
    EXPECT_EQ(parleyd.log().find("parleyd ready"), std::string::npos) << parleyd.log();
}

}  // namespace
}  // namespace parley::testing
