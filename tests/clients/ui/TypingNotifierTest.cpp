#include "TypingNotifier.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

using namespace std::chrono_literals;
using Signals = std::vector<TypingNotifier::Signal>;

TEST(TypingNotifier, StartsOnceThenRepeatsEveryFewSeconds) {
    TypingNotifier typing;
    const auto t0 = TypingNotifier::Clock::time_point{} + 100s;
    EXPECT_EQ(typing.edited("c1", true, t0), (Signals{{"c1", "start"}}));
    EXPECT_TRUE(typing.edited("c1", true, t0 + 1s).empty());
    EXPECT_TRUE(typing.edited("c1", true, t0 + 3s).empty());
    EXPECT_EQ(typing.edited("c1", true, t0 + 4s), (Signals{{"c1", "start"}}));
}

TEST(TypingNotifier, StopsWhenClearedSentSwitchedOrIdle) {
    TypingNotifier typing;
    const auto t0 = TypingNotifier::Clock::time_point{} + 100s;
    typing.edited("c1", true, t0);
    EXPECT_EQ(typing.edited("c1", false, t0 + 1s), (Signals{{"c1", "stop"}}));
    EXPECT_TRUE(typing.edited("c1", false, t0 + 2s).empty()) << "stop only once";

    typing.edited("c1", true, t0 + 3s);
    EXPECT_EQ(typing.edited("c2", true, t0 + 3s), (Signals{{"c1", "stop"}, {"c2", "start"}}));
    EXPECT_EQ(typing.stop(), (Signals{{"c2", "stop"}}));
    EXPECT_TRUE(typing.stop().empty());

    typing.edited("c1", true, t0 + 10s);
    EXPECT_TRUE(typing.tick(t0 + 14s).empty());
    EXPECT_EQ(typing.tick(t0 + 15s), (Signals{{"c1", "stop"}}));
    EXPECT_TRUE(typing.tick(t0 + 20s).empty());
}

TEST(TypingNotifier, NothingWithoutAConversation) {
    TypingNotifier typing;
    EXPECT_TRUE(typing.edited("", true, TypingNotifier::Clock::now()).empty());
}

}  // namespace
}  // namespace parley::client::ui
