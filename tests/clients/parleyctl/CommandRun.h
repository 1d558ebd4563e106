#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace parley::testing {

// What a finished command left: its exit code, and stdout and stderr apart (a script reads
// stdout, a human reads the errors on stderr).
struct CommandResult {
    int exitCode = -1;  // -signal if killed by one
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with argv, stdin from /dev/null, the test's environment without any
// PARLEY_* variable plus `env`, and waits for it. Killed after `timeout`, which throws
// std::runtime_error: a hung CLI fails the test instead of hanging it.
CommandResult runCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace parley::testing
