#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ChatModel.h"
#include "Conversation.h"

namespace parley::client::ui {

// One screen line of the chat pane.
struct TranscriptLine {
    enum class Kind {
        Day,           // a date between messages of different days
        Message,       // a message's first line: time, sender, start of the body
        Continuation,  // the rest of a long or multi-line body
        Receipt,       // "✓ read by bob" under the last message someone has read
        Notice,        // the client's own remarks (older messages, not sent, ...)
    };

    Kind kind = Kind::Message;
    std::wstring time;    // Message: "HH:MM", or "  …  " while sending
    std::wstring sender;  // Message
    bool mine = false;
    bool failed = false;
    std::wstring text;
    int indent = 0;   // columns before `text` (the time and sender on a Message line)
    int64_t seq = 0;  // the stored message this line shows, else 0
};

// Lays out a conversation's messages for a pane `columns` wide: bodies wrapped under their
// sender, a day line where the date changes, read receipts, our unsent messages last.
class TranscriptLayout {
  public:
    struct Options {
        int columns = 80;
        bool loadingOlder = false;
    };

    static std::vector<TranscriptLine> build(const ChatModel& model,
                                             const Conversation& conversation,
                                             const Options& options);
    // "14:05" in local time.
    static std::wstring timeOfDay(int64_t ms);
    // "Tue 18 Nov 2025" in local time.
    static std::wstring dayOf(int64_t ms);
};

}  // namespace parley::client::ui
