#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace parley::client::ui {

// Decides when to tell the server "typing start" / "stop" (docs/protocol.md#typing): the server
// allows a burst of 5 and then 1 per second, so a start goes out when writing begins and again
// only every few seconds while it goes on (receivers expire a start after ~6 s), and a stop when
// the text is sent, cleared, left for another conversation, or not touched for a while.
class TypingNotifier {
  public:
    using Clock = std::chrono::steady_clock;

    struct Signal {
        std::string conv;
        std::string state;  // "start" or "stop"
        bool operator==(const Signal&) const = default;
    };

    static constexpr std::chrono::seconds kRepeatStart{4};
    static constexpr std::chrono::seconds kIdleStop{5};

    // After an edit of the input: `composing` is true while it holds a message being written
    // (not empty, not a /command) for `conv`.
    std::vector<Signal> edited(const std::string& conv, bool composing, Clock::time_point now);
    // The message was sent, or the conversation left.
    std::vector<Signal> stop();
    // Called now and then: a stop once the input has not been touched for kIdleStop.
    std::vector<Signal> tick(Clock::time_point now);

  private:
    std::string conv_;  // where a start was sent and no stop yet; empty: none
    Clock::time_point lastStart_{};
    Clock::time_point lastEdit_{};
};

}  // namespace parley::client::ui
