#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ChatModel.h"
#include "Composer.h"
#include "Key.h"

// From curses.h, which only ChatScreen.cpp includes.
struct screen;

namespace parley::client::ui {

// The terminal: draws the model with ncursesw and reads keys. Layout:
//
//   Parley · alice      | bob · Blue bike                      online    <- header
//   ● bob           (2) | ── Tue 18 Nov 2025 ──
//     bob: still there?  | 14:02 bob: Is it still available?
//   # Climbing Saturday  | 14:03 you: Yes!
//     carol: 7am?        |            ✓ read by bob
//                        | bob is typing…
//   ● connected as alice · unread 2                   Tab list/chat · F1 help   <- status
//   › message_                                                                   <- input
//
// Owns the curses screen: one per process, on the thread that reads the keys.
class ChatScreen {
  public:
    // What to draw besides the model.
    struct Frame {
        std::string selected;  // conversation shown in the chat pane, or empty
        bool listFocus = true;
        const Composer* composer = nullptr;
        int scrollOffset = 0;  // lines up from the newest
        bool loadingOlder = false;
        bool connected = false;
        std::string notice;
        bool noticeIsError = false;
        const std::vector<std::string>* help = nullptr;  // shown over everything when set
        ChatModel::Clock::time_point now;
    };

    // What the drawing found out, for the caller to act on.
    struct Drawn {
        int64_t lastVisibleSeq = 0;  // of the selected conversation: what may be marked read
        int scrollOffset = 0;        // the frame's, kept within the transcript
        int maxScroll = 0;
        int pageLines = 1;  // lines of transcript on screen
    };

    // Takes over the terminal; throws std::runtime_error if it cannot (unknown TERM, no tty).
    ChatScreen();
    // Gives the terminal back as it was.
    ~ChatScreen();
    ChatScreen(const ChatScreen&) = delete;
    ChatScreen& operator=(const ChatScreen&) = delete;

    // A key if one is waiting (never blocks; poll() stdin to wait).
    std::optional<Key> readKey();
    Drawn draw(const ChatModel& model, const Frame& frame);
    // Repaints every cell on the next draw (Ctrl-L).
    void invalidate();

  private:
    void drawList(const ChatModel& model, const Frame& frame, int top, int rows, int width);
    void drawChat(const ChatModel& model, const Frame& frame, int left, int top, int rows,
                  int width, Drawn& drawn);
    void drawHelp(const std::vector<std::string>& help, int rows, int columns);

    ::screen* screen_ = nullptr;
    bool colors_ = false;
};

}  // namespace parley::client::ui
