#include "EventInbox.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace parley::client::ui {

EventInbox::EventInbox() {
    if (::pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
}

EventInbox::~EventInbox() {
    ::close(pipe_[0]);
    ::close(pipe_[1]);
}

void EventInbox::push(Item item) {
    bool wasEmpty = false;
    {
        std::lock_guard lock(mutex_);
        wasEmpty = items_.empty();
        items_.push_back(std::move(item));
    }
    if (wasEmpty) {
        // One byte per batch is enough; a full pipe (EAGAIN) already means "wake up".
        const char byte = 1;
        [[maybe_unused]] const ssize_t written = ::write(pipe_[1], &byte, 1);
    }
}

std::deque<EventInbox::Item> EventInbox::takeAll() {
    char buffer[64];
    while (::read(pipe_[0], buffer, sizeof buffer) > 0) {
    }
    std::lock_guard lock(mutex_);
    return std::exchange(items_, {});
}

}  // namespace parley::client::ui
