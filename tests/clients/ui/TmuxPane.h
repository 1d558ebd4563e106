#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "TempDir.h"

namespace parley::testing {

// A program running in a real terminal: a pane of a private tmux server (its own socket in a
// TempDir, no user configuration), driven with send-keys and read with capture-pane, the way a
// person at a terminal would use it. The server is killed when the pane goes away.
class TmuxPane {
  public:
    // Starts `argv` in a detached session `columns` x `rows`, with TERM=xterm-256color and
    // LANG=C.UTF-8; its stderr goes to programLog().
    TmuxPane(const std::vector<std::string>& argv, int columns, int rows);
    ~TmuxPane();
    TmuxPane(const TmuxPane&) = delete;
    TmuxPane& operator=(const TmuxPane&) = delete;

    // Types `text` literally (no key names).
    void type(const std::string& text);
    // Presses one key by tmux's name for it: Enter, Tab, BTab, Escape, Up, PPage, C-c, ...
    void press(const std::string& key);
    // Resizes the window (the program gets SIGWINCH).
    void resize(int columns, int rows);
    // What the pane shows now, one line per row.
    std::string screen();
    // Polls screen() until `accept` says yes (true) or `timeout` passes (false).
    bool waitUntil(const std::function<bool(const std::string&)>& accept,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool waitFor(const std::string& text,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // The program's exit status once it has ended (the pane stays, dead), waiting up to
    // `timeout`; nullopt if it still runs then.
    std::optional<int> waitForExit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // The last screen read, and the program's stderr: for failure messages.
    const std::string& lastScreen() const { return lastScreen_; }
    std::string programLog() const;
    // Both, framed, for a failure message.
    std::string describe() const;

  private:
    int tmux(std::vector<std::string> arguments, const std::string& outputFile);

    TempDir dir_;
    std::string socket_;
    std::string tmuxLog_;
    std::string programLog_;
    std::string exitFile_;
    std::string lastScreen_;
};

}  // namespace parley::testing
