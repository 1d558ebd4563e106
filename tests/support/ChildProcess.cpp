#include "ChildProcess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace parley::testing {

namespace {

std::string resolveExecutable(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return name;
    }
    const char* path = std::getenv("PATH");
    std::stringstream directories(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string directory;
    while (std::getline(directories, directory, ':')) {
        const std::string candidate = (directory.empty() ? "." : directory) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    // The sbin folders are often not in a test user's PATH, but mosquitto and mariadbd live there.
    for (const char* sbin : {"/usr/local/sbin", "/usr/sbin", "/sbin"}) {
        const std::string candidate = std::string(sbin) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    throw std::runtime_error("ChildProcess: '" + name + "' not found in PATH");
}

std::vector<std::string> mergedEnvironment(const std::map<std::string, std::string>& extraEnv) {
    std::vector<std::string> environment;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view variable(*entry);
        const std::string key(variable.substr(0, variable.find('=')));
        if (!extraEnv.contains(key)) {
            environment.emplace_back(variable);
        }
    }
    for (const auto& [key, value] : extraEnv) {
        environment.push_back(key + "=" + value);
    }
    return environment;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> result;
    for (auto& text : strings) {
        result.push_back(text.data());
    }
    result.push_back(nullptr);
    return result;
}

// Only async-signal-safe calls from here on: the test may have threads (Paho) when it forks.
void writeAll(int fd, const char* text) {
    size_t length = 0;
    while (text[length] != '\0') {
        ++length;
    }
    while (length > 0) {
        const ssize_t written = ::write(fd, text, length);
        if (written <= 0) {
            return;
        }
        text += written;
        length -= static_cast<size_t>(written);
    }
}

[[noreturn]] void failInChild(const char* what, const char* subject) {
    const int error = errno;
    char digits[16];
    int position = sizeof digits - 1;
    digits[position] = '\0';
    int value = error;
    do {
        digits[--position] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value > 0 && position > 0);
    writeAll(STDERR_FILENO, "ChildProcess: ");
    writeAll(STDERR_FILENO, what);
    writeAll(STDERR_FILENO, " ");
    writeAll(STDERR_FILENO, subject);
    writeAll(STDERR_FILENO, " failed, errno ");
    writeAll(STDERR_FILENO, digits + position);
    writeAll(STDERR_FILENO, "\n");
    ::_exit(127);
}

[[noreturn]] void runChild(pid_t parent, int logFd, const char* executable, char** argv,
                           char** envp, const char* workDir) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signal : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) {
        ::signal(signal, SIG_DFL);
    }
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
        ::_exit(127);  // the test died before prctl took effect
    }
    const int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull >= 0) {
        ::dup2(devNull, STDIN_FILENO);
    }
    ::dup2(logFd, STDOUT_FILENO);
    ::dup2(logFd, STDERR_FILENO);
    // A socket inherited by a server would keep the test's connections open after it closes them.
    ::close_range(3, std::numeric_limits<unsigned>::max(), 0);
    if (*workDir != '\0' && ::chdir(workDir) != 0) {
        failInChild("chdir", workDir);
    }
    ::execve(executable, argv, envp);
    failInChild("exec", executable);
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string logFile,
                           std::map<std::string, std::string> extraEnv, std::string workDir)
    : argv_(std::move(argv)), logFile_(std::move(logFile)) {
    if (argv_.empty()) {
        throw std::invalid_argument("ChildProcess: empty argv");
    }
    // Everything the child needs is prepared before fork: it must not allocate.
    const std::string executable = resolveExecutable(argv_.front());
    std::vector<std::string> environment = mergedEnvironment(extraEnv);
    std::vector<char*> argvPointers = pointers(argv_);
    std::vector<char*> envPointers = pointers(environment);

    const int logFd = ::open(logFile_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logFd < 0) {
        throw std::runtime_error("ChildProcess: cannot open log " + logFile_ + ": " +
                                 std::strerror(errno));
    }
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
        runChild(parent, logFd, executable.c_str(), argvPointers.data(), envPointers.data(),
                 workDir.c_str());
    }
    const int forkError = errno;
    ::close(logFd);
    if (pid_ < 0) {
        throw std::runtime_error(std::string("ChildProcess: fork failed: ") +
                                 std::strerror(forkError));
    }
    // Also here, so that signalling the group works even before the child ran setpgid itself.
    ::setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() {
    try {
        terminate(std::chrono::seconds(5));
    } catch (...) {
        // Nothing sensible to do in a destructor; terminate() does not throw in practice.
    }
}

bool ChildProcess::running() {
    return !reapIfExited();
}

int ChildProcess::terminate(std::chrono::milliseconds grace) {
    if (reapIfExited()) {
        return *exitStatus_;
    }
    signalGroup(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    auto pause = std::chrono::milliseconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
        if (reapIfExited()) {
            return *exitStatus_;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    signalGroup(SIGKILL);
    reapBlocking();
    return *exitStatus_;
}

void ChildProcess::kill9() {
    if (reapIfExited()) {
        return;
    }
    signalGroup(SIGKILL);
    reapBlocking();
}

bool ChildProcess::reapIfExited() {
    if (exitStatus_) {
        return true;
    }
    // WNOWAIT: the exited leader stays a zombie, so its process group id cannot be reused while
    // the rest of the group is killed.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno == ECHILD) {
            exitStatus_ = std::numeric_limits<int>::min();  // reaped by someone else: unknown
            return true;
        }
        return false;
    }
    if (info.si_pid == 0) {
        return false;
    }
    reapBlocking();
    return true;
}

void ChildProcess::reapBlocking() {
    ::kill(-pid_, SIGKILL);  // leftovers of the group; the leader has exited or is being killed
    int status = 0;
    pid_t result;
    do {
        result = ::waitpid(pid_, &status, 0);
    } while (result < 0 && errno == EINTR);
    if (result == pid_) {
        record(status);
    } else {
        exitStatus_ = std::numeric_limits<int>::min();
    }
}

void ChildProcess::record(int waitStatus) {
    if (WIFEXITED(waitStatus)) {
        exitStatus_ = WEXITSTATUS(waitStatus);
    } else if (WIFSIGNALED(waitStatus)) {
        exitStatus_ = -WTERMSIG(waitStatus);
    } else {
        exitStatus_ = std::numeric_limits<int>::min();
    }
}

void ChildProcess::signalGroup(int signal) const {
    if (::kill(-pid_, signal) != 0) {
        ::kill(pid_, signal);
    }
}

std::string ChildProcess::log() const {
    std::ifstream file(logFile_, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

size_t ChildProcess::logSize() const {
    std::error_code error;
    const auto size = std::filesystem::file_size(logFile_, error);
    return error ? 0 : static_cast<size_t>(size);
}

bool ChildProcess::waitForLog(const std::string& needle, std::chrono::milliseconds timeout,
                              size_t fromOffset) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t position = fromOffset;  // next byte of the file to read
    std::string window;            // unread tail that could still hold the start of `needle`
    const auto scan = [&] {
        std::ifstream file(logFile_, std::ios::binary);
        file.seekg(static_cast<std::streamoff>(position));
        if (!file) {
            return false;
        }
        std::ostringstream fresh;
        fresh << file.rdbuf();
        const std::string added = fresh.str();
        position += added.size();
        window += added;
        if (window.find(needle) != std::string::npos) {
            return true;
        }
        if (window.size() >= needle.size()) {
            window.erase(0, window.size() - needle.size() + 1);
        }
        return false;
    };
    while (true) {
        if (scan()) {
            return true;
        }
        if (!running()) {
            return scan();  // it may have written the line just before exiting
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int runToCompletion(std::vector<std::string> argv, const std::string& logFile,
                    std::chrono::milliseconds timeout) {
    const std::string command = argv.front();
    ChildProcess process(std::move(argv), logFile);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    while (process.running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            process.kill9();
            throw std::runtime_error(command + " did not finish within " +
                                     std::to_string(timeout.count()) + " ms:\n" + process.log());
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
    return process.terminate(std::chrono::milliseconds(0));
}

}  // namespace parley::testing
