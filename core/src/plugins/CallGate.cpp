#include "plugins/CallGate.h"

namespace parley {

CallGate::Pass::Pass(CallGate& gate, WhileStarting whileStarting)
    : gate_(gate), entered_(gate.enter(whileStarting)) {}

CallGate::Pass::~Pass() {
    if (entered_) {
        gate_.leave();
    }
}

bool CallGate::enter(WhileStarting whileStarting) {
    std::unique_lock lock(mutex_);
    if (whileStarting == WhileStarting::Wait) {
        changed_.wait(lock, [this] { return state_ != State::Starting; });
    }
    if (state_ != State::Open) {
        return false;
    }
    ++running_;
    return true;
}

void CallGate::leave() {
    std::lock_guard lock(mutex_);
    if (--running_ == 0) {
        changed_.notify_all();
    }
}

void CallGate::open() {
    std::lock_guard lock(mutex_);
    if (state_ == State::Starting) {
        state_ = State::Open;
        changed_.notify_all();
    }
}

void CallGate::close() {
    std::unique_lock lock(mutex_);
    state_ = State::Closed;
    changed_.notify_all();
    changed_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace parley
