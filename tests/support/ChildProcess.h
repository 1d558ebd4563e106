#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace parley::testing {

// A program run with fork/exec for a test: stdout and stderr appended to `logFile`, stdin from
// /dev/null, in its own process group (signals go to the whole group), no inherited descriptors.
// The child is killed (SIGKILL) if the thread that started it dies, so a crashed test leaves no
// servers behind: start children from a thread that outlives them (the test's thread).
// When the process ends, whatever is left in its process group is killed.
class ChildProcess {
  public:
    // argv[0] is looked up in PATH unless it contains a '/'. extraEnv adds to (or overrides) the
    // environment of the test; workDir empty = the test's working directory.
    ChildProcess(std::vector<std::string> argv, std::string logFile,
                 std::map<std::string, std::string> extraEnv = {}, std::string workDir = "");
    // terminate(5s) if still running.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    int pid() const { return pid_; }
    // False once the process has exited (it is reaped then).
    bool running();
    // SIGTERM, then SIGKILL after `grace`; returns the exit status, or -signal if killed by one.
    // Returns the recorded status if it had already exited.
    int terminate(std::chrono::milliseconds grace);
    // SIGKILL and reap.
    void kill9();
    // The whole log file.
    std::string log() const;
    size_t logSize() const;
    // Polls the log from byte `fromOffset` until `needle` appears (true), `timeout` passes or the
    // process has exited without writing it (false).
    bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout,
                    size_t fromOffset = 0);

  private:
    // Records the exit status if the process has exited; never blocks.
    bool reapIfExited();
    void reapBlocking();
    void record(int waitStatus);
    void signalGroup(int signal) const;

    std::vector<std::string> argv_;
    std::string logFile_;
    pid_t pid_ = -1;
    std::optional<int> exitStatus_;
};

// Runs a short command to its end and returns its exit status (as ChildProcess::terminate);
// its output is appended to `logFile`. Killed, and std::runtime_error thrown, after `timeout`.
int runToCompletion(std::vector<std::string> argv, const std::string& logFile,
                    std::chrono::milliseconds timeout);

}  // namespace parley::testing
