#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "ChildProcess.h"
#include "TempDir.h"

namespace parley::testing {

// Which parleyd to run, and as whom.
struct ParleydLaunch {
    // Empty: the parleyd of this build (parleydPath()).
    std::string binary{};
    // A system user to run it as (through setpriv; the test must run as root): the TempDir is
    // handed to that user, so parleyd can read its configuration and write its database there.
    // Empty: the test's own user.
    std::string user{};
    // Added to (or overriding) parleyd's environment: ASAN_OPTIONS, say.
    std::map<std::string, std::string> env{};
};

// The parleyd of this build (or `launch.binary`), run with a given configuration in its own
// TempDir (also its working directory, so relative paths in the YAML land there).
class ParleydProcess {
  public:
    // Writes yamlText to <dir>/parleyd.yaml, runs `parleyd --config <that>` and waits (15 s) for
    // "parleyd ready" in its log; throws std::runtime_error with the log otherwise.
    explicit ParleydProcess(std::string yamlText, ParleydLaunch launch = {});
    ~ParleydProcess();
    ParleydProcess(const ParleydProcess&) = delete;
    ParleydProcess& operator=(const ParleydProcess&) = delete;

    const TempDir& dir() const { return dir_; }
    // SIGTERM; returns once it has exited (SIGKILL after 15 s). A sanitizer report in the log
    // (PARLEY_SANITIZE builds: a leak at exit, a memory error, undefined behaviour) fails the test.
    void stop();
    // Starts again with the same configuration and waits (`readyTimeout`) for a new
    // "parleyd ready".
    void start(std::chrono::seconds readyTimeout = std::chrono::seconds(15));
    // start() in two steps, for a test that must act while parleyd starts (from the same thread:
    // see ChildProcess on the thread that starts a child).
    void launch();
    void waitUntilReady(std::chrono::seconds readyTimeout = std::chrono::seconds(15));
    void kill9();
    // Waits up to `timeout` for parleyd to exit by itself (it crashed, or refused to start) and
    // returns its exit status, -signal if a signal ended it; throws std::runtime_error if it is
    // still running (it is left running). A sanitizer report in the log fails the test unless
    // `sanitizerReportExpected` (the test checks that report itself).
    int waitForExit(std::chrono::milliseconds timeout, bool sanitizerReportExpected = false);
    bool running();
    // The running process's pid, or -1 while stopped.
    int pid() const { return process_ ? process_->pid() : -1; }
    // Sends a signal (e.g. SIGHUP to reload scripts); throws if it is not running.
    void signal(int number);
    // Everything parleyd logged since the first start.
    std::string log() const;
    // The port of the operations HTTP endpoint (http: in the YAML) since the last start, read from
    // its "http: listening on" log line; -1 if it is not serving.
    int httpPort() const;

  private:
    // Fails the current test if the log shows a sanitizer report written since the last check.
    void checkSanitizerReports(int exitStatus);

    ParleydLaunch launch_;
    TempDir dir_;
    std::map<std::string, std::string> extraEnv_;
    std::string configFile_;
    std::string logFile_;
    size_t readySearchFrom_ = 0;             // where this start's log begins
    std::unique_ptr<ChildProcess> process_;  // null while stopped
    size_t checkedLogBytes_ = 0;
};

}  // namespace parley::testing
