#include "store/AppendBatcher.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "store/Store.h"

namespace parley::store {

AppendBatcher::AppendBatcher(size_t maxInFlight, size_t maxBatch, Runner runner)
    : maxInFlight_(std::max<size_t>(1, maxInFlight)),
      maxBatch_(std::max<size_t>(1, maxBatch)),
      runner_(std::move(runner)) {}

AppendResult AppendBatcher::append(const NewMessage& message) {
    Pending mine;
    mine.message = &message;
    mine.since = Clock::now();
    std::unique_lock lock(mutex_);
    queue_.push_back(&mine);
    while (!mine.done) {
        if (inFlight_ < maxInFlight_ && !queue_.empty()) {
            auto batch = takeBatch();
            ++inFlight_;
            wakeNextLeader();  // what is left may start in another free slot
            lock.unlock();
            run(batch);
            lock.lock();
            --inFlight_;
            for (Pending* pending : batch) {
                pending->done = true;
                if (pending != &mine) {
                    pending->wake.notify_one();
                }
            }
            wakeNextLeader();
        } else {
            // Woken only when this message is stored, or to lead the next batch: not by every
            // batch that ends (with many workers waiting, that cost a context switch each).
            mine.wake.wait(lock);
        }
    }
    if (mine.error) {
        std::rethrow_exception(mine.error);
    }
    return std::move(*mine.result);
}

void AppendBatcher::wakeNextLeader() {
    if (inFlight_ < maxInFlight_ && !queue_.empty()) {
        queue_.front()->wake.notify_one();
    }
}

std::vector<AppendBatcher::Pending*> AppendBatcher::takeBatch() {
    std::vector<Pending*> batch;
    std::vector<Pending*> rest;
    std::set<std::pair<std::string, std::string>> keys;
    for (Pending* pending : queue_) {
        const auto key = std::make_pair(pending->message->sender, pending->message->cmid);
        if (batch.size() < maxBatch_ && keys.insert(key).second) {
            batch.push_back(pending);
        } else {
            rest.push_back(pending);
        }
    }
    queue_ = std::move(rest);
    return batch;
}

void AppendBatcher::run(const std::vector<Pending*>& batch) {
    std::vector<const NewMessage*> messages;
    messages.reserve(batch.size());
    Clock::time_point since = batch.front()->since;
    for (const Pending* pending : batch) {
        messages.push_back(pending->message);
        since = std::min(since, pending->since);
    }
    try {
        auto results = runner_(messages, since);
        for (size_t i = 0; i < batch.size(); ++i) {
            batch[i]->result = std::move(results.at(i));
        }
        return;
    } catch (const StoreUnavailable&) {
        // The database is gone for everyone: one answer for all, not one long wait each.
        for (Pending* pending : batch) {
            pending->error = std::current_exception();
        }
        return;
    } catch (...) {
        if (batch.size() == 1) {
            batch[0]->error = std::current_exception();
            return;
        }
    }
    // One message made the whole batch fail: store each alone, so only that one is refused.
    for (Pending* pending : batch) {
        try {
            pending->result = std::move(runner_({pending->message}, pending->since).at(0));
        } catch (...) {
            pending->error = std::current_exception();
        }
    }
}

}  // namespace parley::store
