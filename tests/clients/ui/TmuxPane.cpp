#include "TmuxPane.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ChildProcess.h"

namespace parley::testing {

namespace {

constexpr const char* kSession = "parley";

std::string shellQuote(const std::string& text) {
    std::string quoted = "'";
    for (const char c : text) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace

TmuxPane::TmuxPane(const std::vector<std::string>& argv, int columns, int rows)
    : dir_("parley-tmux"),
      socket_(dir_.file("tmux.sock")),
      tmuxLog_(dir_.file("tmux.log")),
      programLog_(dir_.file("program.log")),
      exitFile_(dir_.file("exit-status")) {
    // The pane's shell writes the program's exit status to a file (128 + N for a signal) and
    // ends, ending the pane; remain-on-exit keeps its last screen for the failure message. Not
    // tmux's #{pane_dead_status}: tmux 3.3a sometimes marks the pane dead and never fills it in
    // (1 time in 5 to 8 for a program that ends within a second, seen under load).
    std::string command = "env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8";
    for (const auto& argument : argv) {
        command += " " + shellQuote(argument);
    }
    command += " 2>>" + shellQuote(programLog_) + "; echo $? >" + shellQuote(exitFile_ + ".new") +
               " && mv " + shellQuote(exitFile_ + ".new") + " " + shellQuote(exitFile_);
    const int status = tmux({"new-session", "-d", "-s", kSession, "-x", std::to_string(columns),
                             "-y", std::to_string(rows), command, ";", "set-option", "-w", "-t",
                             kSession, "remain-on-exit", "on"},
                            tmuxLog_);
    if (status != 0) {
        throw std::runtime_error("tmux new-session failed (" + std::to_string(status) + "):\n" +
                                 readFile(tmuxLog_));
    }
}

TmuxPane::~TmuxPane() {
    try {
        tmux({"kill-server"}, tmuxLog_);
    } catch (const std::exception&) {
        // Already gone.
    }
}

int TmuxPane::tmux(std::vector<std::string> arguments, const std::string& outputFile) {
    // -f /dev/null: no user configuration; env -u TMUX: works from inside a tmux too.
    std::vector<std::string> argv = {"env",  "-u", "TMUX",  "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
                                     "tmux", "-S", socket_, "-f",           "/dev/null"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return runToCompletion(std::move(argv), outputFile, std::chrono::seconds(10));
}

void TmuxPane::type(const std::string& text) {
    if (tmux({"send-keys", "-t", kSession, "-l", text}, tmuxLog_) != 0) {
        throw std::runtime_error("tmux send-keys failed:\n" + readFile(tmuxLog_));
    }
}

void TmuxPane::press(const std::string& key) {
    if (tmux({"send-keys", "-t", kSession, key}, tmuxLog_) != 0) {
        throw std::runtime_error("tmux send-keys " + key + " failed:\n" + readFile(tmuxLog_));
    }
}

void TmuxPane::resize(int columns, int rows) {
    if (tmux({"resize-window", "-t", kSession, "-x", std::to_string(columns), "-y",
              std::to_string(rows)},
             tmuxLog_) != 0) {
        throw std::runtime_error("tmux resize-window failed:\n" + readFile(tmuxLog_));
    }
}

std::string TmuxPane::screen() {
    const std::string capture = dir_.file("capture.txt");
    std::ofstream(capture, std::ios::trunc).close();
    if (tmux({"capture-pane", "-p", "-t", kSession}, capture) != 0) {
        throw std::runtime_error("tmux capture-pane failed:\n" + readFile(capture));
    }
    lastScreen_ = readFile(capture);
    return lastScreen_;
}

bool TmuxPane::waitUntil(const std::function<bool(const std::string&)>& accept,
                         std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (accept(screen())) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

bool TmuxPane::waitFor(const std::string& text, std::chrono::milliseconds timeout) {
    return waitUntil(
        [&](const std::string& screen) { return screen.find(text) != std::string::npos; }, timeout);
}

std::optional<int> TmuxPane::waitForExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        std::istringstream fields(readFile(exitFile_));  // empty until the program ended
        int exitStatus = -1;
        if (fields >> exitStatus) {
            return exitStatus;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

std::string TmuxPane::programLog() const {
    return readFile(programLog_);
}

std::string TmuxPane::describe() const {
    return "---- screen ----\n" + lastScreen_ + "---- program stderr ----\n" + programLog() +
           "----\n";
}

}  // namespace parley::testing
