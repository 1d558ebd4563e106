#include "TypingNotifier.h"

namespace parley::client::ui {

std::vector<TypingNotifier::Signal> TypingNotifier::edited(const std::string& conv, bool composing,
                                                           Clock::time_point now) {
    std::vector<Signal> signals;
    if (!conv_.empty() && (conv_ != conv || !composing)) {
        signals = stop();
    }
    if (!composing || conv.empty()) {
        return signals;
    }
    lastEdit_ = now;
    if (conv_.empty() || now - lastStart_ >= kRepeatStart) {
        conv_ = conv;
        lastStart_ = now;
        signals.push_back({conv, "start"});
    }
    return signals;
}

std::vector<TypingNotifier::Signal> TypingNotifier::stop() {
    if (conv_.empty()) {
        return {};
    }
    std::vector<Signal> signals{{conv_, "stop"}};
    conv_.clear();
    return signals;
}

std::vector<TypingNotifier::Signal> TypingNotifier::tick(Clock::time_point now) {
    if (!conv_.empty() && now - lastEdit_ >= kIdleStop) {
        return stop();
    }
    return {};
}

}  // namespace parley::client::ui
