#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/AppendBatcher.h"
#include "store/Store.h"

namespace parley::store {
namespace {

NewMessage messageOf(const std::string& sender, const std::string& cmid) {
    NewMessage message;
    message.conv = "c-" + sender;
    message.sender = sender;
    message.cmid = cmid;
    message.body = "hi";
    return message;
}

// A runner that answers each message with its cmid as body and records the batches it saw.
struct RecordingRunner {
    std::mutex mutex;
    std::vector<std::vector<std::string>> batches;  // cmids per batch
    std::chrono::milliseconds delay{0};
    std::string poison;  // a batch holding this cmid fails as a whole

    std::vector<AppendResult> operator()(const std::vector<const NewMessage*>& batch,
                                         AppendBatcher::Clock::time_point /*since*/) {
        std::this_thread::sleep_for(delay);
        std::vector<std::string> cmids;
        for (const NewMessage* message : batch) {
            cmids.push_back(message->cmid);
        }
        {
            std::lock_guard lock(mutex);
            batches.push_back(cmids);
        }
        for (const auto& cmid : cmids) {
            if (!poison.empty() && cmid == poison) {
                throw std::runtime_error("poisoned batch");
            }
        }
        std::vector<AppendResult> results;
        for (const NewMessage* message : batch) {
            AppendResult result;
            result.access = Access::Member;
            result.message.sender = message->sender;
            result.message.cmid = message->cmid;
            result.message.body = message->cmid;
            results.push_back(result);
        }
        return results;
    }
};

AppendBatcher batcherOver(RecordingRunner& runner, size_t inFlight, size_t maxBatch) {
    return AppendBatcher(inFlight, maxBatch,
                         [&runner](const auto& batch, auto since) { return runner(batch, since); });
}

TEST(AppendBatcherTest, AloneAMessageIsStoredAtOnceInABatchOfItsOwn) {
    RecordingRunner runner;
    auto batcher = batcherOver(runner, 1, 32);
    const auto result = batcher.append(messageOf("ann", "m1"));
    EXPECT_EQ(result.message.body, "m1");
    ASSERT_EQ(runner.batches.size(), 1u);
    EXPECT_EQ(runner.batches[0], std::vector<std::string>{"m1"});
}

TEST(AppendBatcherTest, ConcurrentMessagesShareBatchesAndEachGetsItsOwnResult) {
    RecordingRunner runner;
    runner.delay = std::chrono::milliseconds(20);
    auto batcher = batcherOver(runner, 1, 32);
    constexpr int kThreads = 8;
    constexpr int kEach = 5;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                const std::string cmid = "t" + std::to_string(t) + "-" + std::to_string(i);
                if (batcher.append(messageOf("u" + std::to_string(t), cmid)).message.body != cmid) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(wrong.load(), 0);
    size_t total = 0;
    size_t largest = 0;
    for (const auto& batch : runner.batches) {
        total += batch.size();
        largest = std::max(largest, batch.size());
    }
    EXPECT_EQ(total, size_t{kThreads * kEach});
    // While one batch runs (20 ms) the other seven threads queue up behind it.
    EXPECT_GT(largest, 1u);
    EXPECT_LT(runner.batches.size(), size_t{kThreads * kEach});
}

TEST(AppendBatcherTest, BatchesNeverExceedTheirLimit) {
    RecordingRunner runner;
    runner.delay = std::chrono::milliseconds(10);
    auto batcher = batcherOver(runner, 1, 3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 4; ++i) {
                batcher.append(messageOf("u" + std::to_string(t), std::to_string(i)));
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    size_t total = 0;
    for (const auto& batch : runner.batches) {
        EXPECT_LE(batch.size(), 3u);
        total += batch.size();
    }
    EXPECT_EQ(total, 40u);
}

TEST(AppendBatcherTest, TheSameSenderAndCmidNeverShareABatch) {
    RecordingRunner runner;
    runner.delay = std::chrono::milliseconds(20);
    auto batcher = batcherOver(runner, 1, 32);
    std::vector<std::thread> threads;
    // Six resends of one message, racing: each must land in a different batch.
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] { batcher.append(messageOf("ann", "same")); });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    size_t seen = 0;
    for (const auto& batch : runner.batches) {
        EXPECT_EQ(std::count(batch.begin(), batch.end(), "same"), batch.empty() ? 0 : 1);
        seen += batch.size();
    }
    EXPECT_EQ(seen, 6u);
}

TEST(AppendBatcherTest, AFailingMessageIsRetriedAloneSoOnlyItFails) {
    RecordingRunner runner;
    runner.delay = std::chrono::milliseconds(20);
    runner.poison = "bad";
    auto batcher = batcherOver(runner, 1, 32);
    std::atomic<int> failed{0};
    std::atomic<int> stored{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            const std::string cmid = t == 3 ? "bad" : "ok" + std::to_string(t);
            try {
                batcher.append(messageOf("u" + std::to_string(t), cmid));
                ++stored;
            } catch (const std::runtime_error&) {
                ++failed;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failed.load(), 1);
    EXPECT_EQ(stored.load(), 5);
}

TEST(AppendBatcherTest, AnUnavailableStoreFailsTheWholeBatchOnce) {
    std::atomic<size_t> attempts{0};  // messages handed to the store, summed over calls
    AppendBatcher batcher(
        1, 32,
        [&](const std::vector<const NewMessage*>& batch,
            AppendBatcher::Clock::time_point /*since*/) -> std::vector<AppendResult> {
            attempts += batch.size();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            throw StoreUnavailable("database down");
        });
    std::atomic<int> unavailable{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 5; ++t) {
        threads.emplace_back([&, t] {
            try {
                batcher.append(messageOf("u" + std::to_string(t), "m"));
            } catch (const StoreUnavailable&) {
                ++unavailable;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(unavailable.load(), 5);
    // Each message was tried once: a batch failed as unavailable is not retried message by message.
    EXPECT_EQ(attempts.load(), 5u);
}

// A store that retries (the database is down) counts retry_for from when the oldest message of
// the batch was handed in, not from when the batch started: a message that waited behind a
// batch failing for retry_for must not wait a whole retry_for again.
TEST(AppendBatcherTest, ABatchIsTimedFromWhenItsOldestMessageWasHandedIn) {
    using Clock = AppendBatcher::Clock;
    std::mutex mutex;
    std::condition_variable changed;
    bool release = false;
    int calls = 0;
    Clock::time_point secondSince;
    Clock::time_point secondStarted;
    AppendBatcher batcher(1, 32,
                          [&](const std::vector<const NewMessage*>& batch,
                              Clock::time_point since) -> std::vector<AppendResult> {
                              std::unique_lock lock(mutex);
                              if (++calls == 1) {
                                  changed.notify_all();
                                  changed.wait(lock,
                                               [&] { return release; });  // the first batch is slow
                              } else {
                                  secondSince = since;
                                  secondStarted = Clock::now();
                              }
                              return std::vector<AppendResult>(batch.size());
                          });
    std::thread first([&] { batcher.append(messageOf("ann", "m1")); });
    {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return calls == 1; });
    }
    const auto beforeSecond = Clock::now();
    std::thread second([&] { batcher.append(messageOf("bob", "m2")); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // bob's message waits
    {
        std::lock_guard lock(mutex);
        release = true;
    }
    changed.notify_all();
    first.join();
    second.join();
    ASSERT_EQ(calls, 2);
    EXPECT_GE(secondSince, beforeSecond);
    EXPECT_GE(secondStarted - secondSince, std::chrono::milliseconds(150))
        << "the second batch was timed from its start, not from when its message was handed in";
}

}  // namespace
}  // namespace parley::store
