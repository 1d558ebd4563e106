#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "store/Model.h"

namespace parley::store {

// Group commit for appendMessage. Each caller hands in one message and waits; whichever caller
// finds a free slot (at most `maxInFlight` batches run at once) takes every queued message, up to
// `maxBatch`, and stores them for everyone in one transaction. Under load many messages share
// one round of statements and one durable commit; alone, a message runs at once, with no delay.
//
// Two messages with the same (sender, cmid) never share a batch: the second waits for the next
// one, where the store finds the first and answers it as a resend.
class AppendBatcher {
  public:
    using Clock = std::chrono::steady_clock;
    // Stores a batch in one transaction and returns one result per message, in order. Throws if
    // the transaction failed as a whole (nothing of it was committed). `since` is when the
    // oldest message of the batch was handed in: a store that retries counts its time from
    // then, so a message that waited behind a failing batch does not get a whole wait again.
    using Runner = std::function<std::vector<AppendResult>(const std::vector<const NewMessage*>&,
                                                           Clock::time_point since)>;

    AppendBatcher(size_t maxInFlight, size_t maxBatch, Runner runner);
    AppendBatcher(const AppendBatcher&) = delete;
    AppendBatcher& operator=(const AppendBatcher&) = delete;

    AppendResult append(const NewMessage& message);

  private:
    struct Pending {
        const NewMessage* message = nullptr;
        Clock::time_point since;  // handed in
        std::optional<AppendResult> result;
        std::exception_ptr error;
        bool done = false;
        std::condition_variable wake;  // its batch ended, or it may lead the next one
    };

    std::vector<Pending*> takeBatch();  // under mutex_
    void wakeNextLeader();              // under mutex_: a free slot and messages waiting
    void run(const std::vector<Pending*>& batch);

    const size_t maxInFlight_;
    const size_t maxBatch_;
    Runner runner_;
    std::mutex mutex_;
    std::vector<Pending*> queue_;
    size_t inFlight_ = 0;
};

}  // namespace parley::store
