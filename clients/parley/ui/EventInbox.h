#pragma once

#include <deque>
#include <mutex>
#include <utility>
#include <variant>

#include "Session.h"

namespace parley::client::ui {

// Hands what Session's handlers see on the MQTT thread to the UI thread, which alone touches
// the model and the terminal. The handlers must return quickly (Session.h), so they only queue;
// a byte on a pipe wakes the UI thread's poll().
class EventInbox {
  public:
    struct ConnectionChange {
        bool connected = false;
        bool reconnect = false;
    };
    using Item = std::variant<Event, ConnectionChange>;

    EventInbox();
    ~EventInbox();
    EventInbox(const EventInbox&) = delete;
    EventInbox& operator=(const EventInbox&) = delete;

    // Any thread.
    void push(Item item);
    // The UI thread: everything queued, oldest first.
    std::deque<Item> takeAll();
    // Readable while something is queued (for poll()).
    int wakeFd() const { return pipe_[0]; }

  private:
    std::mutex mutex_;
    std::deque<Item> items_;
    int pipe_[2] = {-1, -1};
};

}  // namespace parley::client::ui
