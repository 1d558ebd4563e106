#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "plugins/CallGate.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

TEST(CallGateTest, NothingGoesThroughBeforeOpen) {
    CallGate gate;
    EXPECT_FALSE(CallGate::Pass(gate)) << "a hook during init must skip the plugin";
    gate.open();
    EXPECT_TRUE(CallGate::Pass(gate));
}

TEST(CallGateTest, AWaitingCallRunsOnceInitSucceeds) {
    CallGate gate;
    auto waited = std::async(std::launch::async, [&] {
        return static_cast<bool>(CallGate::Pass(gate, CallGate::WhileStarting::Wait));
    });
    EXPECT_EQ(waited.wait_for(50ms), std::future_status::timeout) << "it did not wait for init";
    gate.open();
    EXPECT_TRUE(waited.get());
}

TEST(CallGateTest, AWaitingCallIsDroppedWhenInitFails) {
    CallGate gate;
    auto waited = std::async(std::launch::async, [&] {
        return static_cast<bool>(CallGate::Pass(gate, CallGate::WhileStarting::Wait));
    });
    EXPECT_EQ(waited.wait_for(50ms), std::future_status::timeout);
    gate.close();
    EXPECT_FALSE(waited.get());
}

TEST(CallGateTest, CloseWaitsForCallsInFlightAndRefusesLaterOnes) {
    CallGate gate;
    gate.open();
    std::promise<void> entered;
    std::promise<void> release;
    std::atomic<bool> callFinished{false};
    std::thread call([&] {
        const CallGate::Pass pass(gate);
        EXPECT_TRUE(pass);
        entered.set_value();
        release.get_future().wait();
        callFinished = true;
    });
    entered.get_future().wait();

    std::atomic<bool> closed{false};
    std::thread closer([&] {
        gate.close();
        closed = true;
        EXPECT_TRUE(callFinished) << "close() returned while a call was still running";
    });
    // close() cannot return before the call leaves; give it the chance to do it wrong.
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(closed);
    release.set_value();
    call.join();
    closer.join();
    EXPECT_TRUE(closed);

    EXPECT_FALSE(CallGate::Pass(gate)) << "a call after close() must not reach the plugin";
    EXPECT_FALSE(CallGate::Pass(gate, CallGate::WhileStarting::Wait));
}

TEST(CallGateTest, NestedCallsKeepTheGateBusyUntilAllEnd) {
    CallGate gate;
    gate.open();
    {
        const CallGate::Pass outer(gate);
        const CallGate::Pass inner(gate);  // a hook of a message the plugin posted itself
        EXPECT_TRUE(outer);
        EXPECT_TRUE(inner);
    }
    gate.close();  // returns at once: nothing runs
    EXPECT_FALSE(CallGate::Pass(gate));
}

}  // namespace
}  // namespace parley::testing
