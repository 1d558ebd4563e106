#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/WorkerPool.h"
#include "util/Ids.h"
#include "util/RateLimiter.h"
#include "util/Utf8.h"

namespace parley {
namespace {

TEST(Utf8, LengthAndPrefixNeverSplitACharacter) {
    const std::string text = "h\xC3\xA9llo \xF0\x9F\x91\x8B!";  // "héllo 👋!"
    EXPECT_EQ(utf8Length(text), 8U);
    EXPECT_EQ(utf8Prefix(text, 2), "h\xC3\xA9");
    EXPECT_EQ(utf8Prefix(text, 7), "h\xC3\xA9llo \xF0\x9F\x91\x8B");
    EXPECT_EQ(utf8Prefix(text, 100), text);
    EXPECT_EQ(utf8Prefix("", 3), "");
}

TEST(Utf8, ControlCharacters) {
    EXPECT_FALSE(hasControlCharacter("plain text \xC3\xA9"));
    EXPECT_TRUE(hasControlCharacter("a\nb"));
    EXPECT_TRUE(hasControlCharacter(std::string("a\0b", 3)));
    EXPECT_TRUE(hasControlCharacter("\x7F"));
}

TEST(Ids, ConversationIdsAreTopicSafeAndUnique) {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        const std::string id = newConversationId();
        ASSERT_EQ(id.size(), 21U);
        ASSERT_EQ(id[0], 'c');
        ASSERT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
        ASSERT_TRUE(seen.insert(id).second) << "repeated id " << id;
    }
}

TEST(RateLimiter, AllowsABurstThenRefillsAtTheRate) {
    RateLimiter limiter(2.0, 3);  // 3 at once, then one every 500 ms
    EXPECT_EQ(limiter.acquire("u", 1000), 0);
    EXPECT_EQ(limiter.acquire("u", 1000), 0);
    EXPECT_EQ(limiter.acquire("u", 1000), 0);
    EXPECT_EQ(limiter.acquire("u", 1000), 500);
    EXPECT_EQ(limiter.acquire("u", 1200), 300);
    EXPECT_EQ(limiter.acquire("u", 1500), 0);
    EXPECT_EQ(limiter.acquire("other", 1500), 0) << "keys are independent";
    EXPECT_EQ(limiter.acquire("u", 100000), 0);
    EXPECT_EQ(limiter.acquire("u", 100000), 0);
    EXPECT_EQ(limiter.acquire("u", 100000), 0);
    EXPECT_GT(limiter.acquire("u", 100000), 0) << "refill is capped at the burst";
}

// Blocks the worker that runs it until `open` is set (a command waiting on something).
void waitUntil(const std::atomic<bool>& open) {
    while (!open) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

TEST(WorkerPool, TasksOfOneKeyRunInOrder) {
    WorkerPool pool(4, 16);
    std::mutex mutex;
    std::map<std::string, std::vector<int>> seen;
    for (int i = 0; i < 500; ++i) {
        for (const char* key : {"a", "b", "c"}) {
            ASSERT_TRUE(pool.submit(key, "u", [&, key, i] {
                std::lock_guard lock(mutex);
                seen[key].push_back(i);
            }));
        }
    }
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(10)), 0U);
    for (const char* key : {"a", "b", "c"}) {
        ASSERT_EQ(seen[key].size(), 500U);
        for (int i = 0; i < 500; ++i) {
            ASSERT_EQ(seen[key][static_cast<size_t>(i)], i) << key;
        }
    }
}

TEST(WorkerPool, KeysTakeTurnsSoABacklogDoesNotDelayOthers) {
    WorkerPool pool(1, 100);
    std::atomic<bool> open{false};
    std::mutex mutex;
    std::vector<std::string> order;
    ASSERT_TRUE(pool.submit("gate", "gatekeeper", [&] { waitUntil(open); }));
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(pool.submit("flood", "flooder", [&, i] {
            std::lock_guard lock(mutex);
            order.push_back("flood" + std::to_string(i));
        }));
    }
    ASSERT_TRUE(pool.submit("other", "other", [&] {
        std::lock_guard lock(mutex);
        order.push_back("other");
    }));
    open = true;
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(10)), 0U);
    ASSERT_EQ(order.size(), 51U);
    // "other" came after one task of the backlog, not after all 50; the backlog kept its order.
    EXPECT_EQ(order[0], "flood0");
    EXPECT_EQ(order[1], "other");
    for (int i = 1; i < 50; ++i) {
        EXPECT_EQ(order[static_cast<size_t>(i) + 1], "flood" + std::to_string(i));
    }
}

// The order in which a one-worker pool ran its tasks, each named when submitted.
class RunOrder {
  public:
    WorkerPool::Task task(std::string name) {
        return [this, name = std::move(name)] {
            std::lock_guard lock(mutex_);
            order_.push_back(name);
        };
    }
    std::vector<std::string> order() const {
        std::lock_guard lock(mutex_);
        return order_;
    }
    // Where `name` ran (its index), or -1.
    long indexOf(const std::string& name) const {
        const auto all = order();
        const auto found = std::find(all.begin(), all.end(), name);
        return found == all.end() ? -1 : static_cast<long>(found - all.begin());
    }

  private:
    mutable std::mutex mutex_;
    std::vector<std::string> order_;
};

TEST(WorkerPool, OneUsersThousandCommandsInManyConversationsDelayAnotherUserByOneSlot) {
    // alice has 1,000 commands queued, each to another conversation (or her uid's key): keys
    // taking turns alone would run all of hers before bob's one command.
    WorkerPool pool(1, 2000);
    std::atomic<bool> open{false};
    RunOrder run;
    ASSERT_TRUE(pool.submit("gate", "gatekeeper", [&] { waitUntil(open); }));
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(pool.submit("conv" + std::to_string(i), "alice",
                                run.task("alice" + std::to_string(i))));
    }
    ASSERT_TRUE(pool.submit("conv-bob", "bob", run.task("bob")));
    open = true;
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(30)), 0U);
    const auto order = run.order();
    ASSERT_EQ(order.size(), 1001U);
    EXPECT_LE(run.indexOf("bob"), 1)
        << "bob's command waited behind " << run.indexOf("bob") << " of alice's";
    // alice's own commands still ran in the order she sent them.
    std::vector<std::string> alices;
    std::copy_if(order.begin(), order.end(), std::back_inserter(alices),
                 [](const std::string& name) { return name != "bob"; });
    for (size_t i = 0; i < alices.size(); ++i) {
        ASSERT_EQ(alices[i], "alice" + std::to_string(i));
    }
}

TEST(WorkerPool, UsersTakeTurnsOneCommandEach) {
    WorkerPool pool(1, 100);
    std::atomic<bool> open{false};
    RunOrder run;
    ASSERT_TRUE(pool.submit("gate", "gatekeeper", [&] { waitUntil(open); }));
    for (int i = 0; i < 3; ++i) {
        for (const char* user : {"a", "b", "c"}) {
            // Each user spreads its commands over keys of its own.
            ASSERT_TRUE(pool.submit(std::string(user) + std::to_string(i), user,
                                    run.task(user + std::to_string(i))));
        }
    }
    // A latecomer goes after one command of each user already waiting, not after all of them.
    ASSERT_TRUE(pool.submit("d-conv", "d", run.task("d0")));
    open = true;
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(10)), 0U);
    EXPECT_EQ(run.order(), (std::vector<std::string>{"a0", "b0", "c0", "d0", "a1", "b1", "c1", "a2",
                                                     "b2", "c2"}));
}

TEST(WorkerPool, AConversationOfTwoUsersKeepsItsOrderAcrossTheirTurns) {
    // One key, tasks of two users interleaved: the key's order holds whoever's turn it is, and
    // the key waits in the turns of the user whose task is next in it.
    WorkerPool pool(1, 100);
    std::atomic<bool> open{false};
    RunOrder run;
    ASSERT_TRUE(pool.submit("gate", "gatekeeper", [&] { waitUntil(open); }));
    ASSERT_TRUE(pool.submit("shared", "alice", run.task("shared-alice1")));
    ASSERT_TRUE(pool.submit("shared", "alice", run.task("shared-alice2")));
    ASSERT_TRUE(pool.submit("shared", "bob", run.task("shared-bob1")));
    ASSERT_TRUE(pool.submit("shared", "alice", run.task("shared-alice3")));
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(pool.submit("alice-own" + std::to_string(i), "alice",
                                run.task("alice-own" + std::to_string(i))));
        ASSERT_TRUE(pool.submit("bob-own" + std::to_string(i), "bob",
                                run.task("bob-own" + std::to_string(i))));
    }
    open = true;
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(10)), 0U);
    const auto order = run.order();
    ASSERT_EQ(order.size(), 10U);
    EXPECT_LT(run.indexOf("shared-alice1"), run.indexOf("shared-alice2"));
    EXPECT_LT(run.indexOf("shared-alice2"), run.indexOf("shared-bob1"));
    EXPECT_LT(run.indexOf("shared-bob1"), run.indexOf("shared-alice3"));
    // Turns alternate between the two users as long as both have something ready.
    EXPECT_EQ(order[0], "shared-alice1");
    EXPECT_EQ(order[1], "bob-own0");
}

TEST(WorkerPool, AKeyWaitingOnSomethingHoldsUpNoOtherKey) {
    // Two workers, one stuck on key "slow" (a command waiting for its commit): every other key
    // still runs on the other worker, whatever worker "slow" would have hashed to.
    WorkerPool pool(2, 1000);
    std::atomic<bool> release{false};
    ASSERT_TRUE(pool.submit("slow", "u", [&] { waitUntil(release); }));
    ASSERT_TRUE(pool.submit("slow", "u", [] {}));  // waits its turn behind the first
    std::atomic<int> done{0};
    constexpr int kKeys = 50;
    for (int i = 0; i < kKeys; ++i) {
        ASSERT_TRUE(
            pool.submit("key" + std::to_string(i), "u" + std::to_string(i), [&] { ++done; }));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done < kKeys && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(done, kKeys) << "tasks of other keys waited behind the stuck one";
    EXPECT_EQ(pool.queued(), 1U) << "only slow's second task waits";
    release = true;
    EXPECT_EQ(pool.shutdown(std::chrono::seconds(10)), 0U);
}

TEST(WorkerPool, FullQueueBlocksTheSubmitter) {
    WorkerPool pool(1, 2);
    std::atomic<bool> release{false};
    std::atomic<int> done{0};
    ASSERT_TRUE(pool.submit("k", "u", [&] {
        waitUntil(release);
        ++done;
    }));
    ASSERT_TRUE(pool.submit("k", "u", [&] { ++done; }));
    ASSERT_TRUE(pool.submit("k", "u", [&] { ++done; }));
    std::atomic<bool> fourthSubmitted{false};
    std::thread producer([&] {
        pool.submit("k", "u", [&] { ++done; });
        fourthSubmitted = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(fourthSubmitted) << "the queue holds two; the fourth task must wait";
    release = true;
    producer.join();
    EXPECT_TRUE(fourthSubmitted);
    pool.shutdown(std::chrono::seconds(5));
    EXPECT_EQ(done, 4);
}

TEST(WorkerPool, ShutdownDropsWhatItCannotFinishAndRefusesNewTasks) {
    WorkerPool pool(1, 100);
    std::atomic<bool> release{false};
    ASSERT_TRUE(pool.submit("k", "u", [&] { waitUntil(release); }));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(pool.submit("k", "u", [] {}));
    }
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        release = true;
    });
    EXPECT_EQ(pool.shutdown(std::chrono::milliseconds(50)), 5U);
    releaser.join();
    EXPECT_FALSE(pool.submit("k", "u", [] {}));
}

}  // namespace
}  // namespace parley
