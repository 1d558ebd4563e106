#include "ParleydProcess.h"

#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "Paths.h"

namespace parley::testing {

namespace {

constexpr auto kStopTimeout = std::chrono::seconds(15);

void chownTo(const std::string& path, const passwd& account) {
    if (::chown(path.c_str(), account.pw_uid, account.pw_gid) != 0) {
        throw std::runtime_error("ParleydProcess: cannot hand " + path + " to " + account.pw_name);
    }
}

}  // namespace

ParleydProcess::ParleydProcess(std::string yamlText, ParleydLaunch launch)
    : launch_(std::move(launch)),
      dir_("parley-parleyd"),
      configFile_(dir_.file("parleyd.yaml")),
      logFile_(dir_.file("parleyd.log")) {
    if (launch_.binary.empty()) {
        launch_.binary = parleydPath();
    }
    std::ofstream config(configFile_, std::ios::binary | std::ios::trunc);
    config << yamlText;
    config.close();
    if (!config) {
        throw std::runtime_error("ParleydProcess: cannot write " + configFile_);
    }
    if (!launch_.user.empty()) {
        const passwd* account = ::getpwnam(launch_.user.c_str());
        if (account == nullptr) {
            throw std::runtime_error("ParleydProcess: no user " + launch_.user);
        }
        chownTo(dir_.path(), *account);
        chownTo(configFile_, *account);
    }
    start();
}

ParleydProcess::~ParleydProcess() {
    stop();
}

void ParleydProcess::start(std::chrono::seconds readyTimeout) {
    launch();
    waitUntilReady(readyTimeout);
}

void ParleydProcess::launch() {
    if (process_ && process_->running()) {
        throw std::logic_error("ParleydProcess::start: already running");
    }
    process_.reset();
    std::error_code noLogYet;
    const auto logStart = std::filesystem::file_size(logFile_, noLogYet);
    readySearchFrom_ = noLogYet ? 0 : logStart;
    std::vector<std::string> argv;
    if (!launch_.user.empty()) {
        // setpriv replaces itself with parleyd (no fork: signals reach parleyd), and sets the
        // parent-death signal again, which changing the user clears: a crashed test leaves no
        // parleyd behind.
        argv = {"setpriv",       "--reuid=" + launch_.user, "--regid=" + launch_.user,
                "--init-groups", "--pdeathsig=KILL",        "--"};
    }
    argv.insert(argv.end(), {launch_.binary, "--config", configFile_});
    process_ = std::make_unique<ChildProcess>(argv, logFile_, launch_.env, dir_.path());
}

void ParleydProcess::waitUntilReady(std::chrono::seconds readyTimeout) {
    if (!process_) {
        throw std::logic_error("ParleydProcess::waitUntilReady: not launched");
    }
    if (!process_->waitForLog("parleyd ready", readyTimeout, readySearchFrom_)) {
        const bool exited = !process_->running();
        process_.reset();
        throw std::runtime_error(
            std::string("ParleydProcess: ") +
            (exited ? "parleyd exited before it was ready"
                    : "parleyd not ready after " + std::to_string(readyTimeout.count()) + " s") +
            ":\n" + log());
    }
}

void ParleydProcess::stop() {
    if (process_) {
        const int status = process_->terminate(kStopTimeout);
        process_.reset();
        checkSanitizerReports(status);
    }
}

void ParleydProcess::checkSanitizerReports(int exitStatus) {
    // In a sanitized build (PARLEY_SANITIZE), parleyd writes ASan, LeakSanitizer (at exit) and
    // UBSan reports to its log, which no test reads: they fail the test here.
    const std::string text = log();
    const size_t from = std::min(checkedLogBytes_, text.size());
    checkedLogBytes_ = text.size();
    for (const char* marker :
         {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
        const size_t at = text.find(marker, from);
        if (at != std::string::npos) {
            const size_t lineEnd = text.rfind('\n', at);
            const size_t start = lineEnd == std::string::npos ? 0 : lineEnd + 1;
            ADD_FAILURE() << "parleyd (exit status " << exitStatus
                          << ") reported a sanitizer error; its log from there:\n"
                          << text.substr(start, 8000);
            return;
        }
    }
}

int ParleydProcess::waitForExit(std::chrono::milliseconds timeout, bool sanitizerReportExpected) {
    if (!process_) {
        throw std::logic_error("ParleydProcess::waitForExit: not running");
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process_->running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("ParleydProcess: still running after " +
                                     std::to_string(timeout.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int status = process_->terminate(std::chrono::milliseconds(0));  // the recorded one
    process_.reset();
    if (sanitizerReportExpected) {
        checkedLogBytes_ = log().size();
    } else {
        checkSanitizerReports(status);
    }
    return status;
}

void ParleydProcess::kill9() {
    if (process_) {
        process_->kill9();
        process_.reset();
    }
}

void ParleydProcess::signal(int number) {
    if (!running()) {
        throw std::logic_error("ParleydProcess::signal: not running");
    }
    ::kill(process_->pid(), number);
}

bool ParleydProcess::running() {
    return process_ && process_->running();
}

int ParleydProcess::httpPort() const {
    const std::string text = log();
    const std::string marker = "http: listening on ";
    const size_t at = text.find(marker, std::min(readySearchFrom_, text.size()));
    if (at == std::string::npos) {
        return -1;
    }
    const size_t lineEnd = text.find_first_of(" \n", at + marker.size());
    const std::string address = text.substr(at + marker.size(), lineEnd - at - marker.size());
    return std::stoi(address.substr(address.rfind(':') + 1));
}

std::string ParleydProcess::log() const {
    std::ifstream file(logFile_, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace parley::testing
