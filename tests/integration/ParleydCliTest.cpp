// parleyd's command line: --check-config, --version, bad arguments.

#include <gtest/gtest.h>

#include <fstream>

#include "ChildProcess.h"
#include "Paths.h"
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

}  // namespace
}  // namespace parley::testing
