#include "ParleydProcess.h"

#include <gtest/gtest.h>

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

}  // namespace

ParleydProcess::ParleydProcess(std::string yamlText, std::map<std::string, std::string> extraEnv)
    : dir_("parley-parleyd"),
      extraEnv_(std::move(extraEnv)),
      configFile_(dir_.file("parleyd.yaml")),
      logFile_(dir_.file("parleyd.log")) {
    std::ofstream config(configFile_, std::ios::binary | std::ios::trunc);
    config << yamlText;
    config.close();
    if (!config) {
        throw std::runtime_error("ParleydProcess: cannot write " + configFile_);
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
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{parleydPath(), "--config", configFile_}, logFile_, extraEnv_,
        dir_.path());
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
