// The record of the extension call a thread is running, and the line parleyd writes when a fatal
// signal arrives (tests/integration/PluginCrashTest.cpp crashes a real parleyd).

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "extensions/ExtensionCallScope.h"
#include "extensions/FatalSignalReport.h"

namespace parley {
namespace {

// Recurses until the stack runs out (the bottom is never reached; the compiler cannot tell).
struct Recurse {
    static inline volatile int bottom = -1;
    static int down(int depth) {
        volatile char frame[4096];
        frame[0] = static_cast<char>(depth);
        if (depth == bottom) {
            return frame[0];
        }
        return down(depth + 1) + frame[0];
    }
};

std::string report(int signal) {
    char buffer[1024];
    const size_t length =
        formatFatalSignalReport(signal, ExtensionCallScope::current(), buffer, sizeof buffer);
    return std::string(buffer, length);
}

TEST(ExtensionCallScope, NestsAndUnwindsPerThread) {
    EXPECT_EQ(ExtensionCallScope::current(), nullptr);
    {
        const std::string plugin = "mailer";
        const ExtensionCallScope outer("plugin", plugin, "hook", "message.after_store");
        {
            const std::string script = "moderation";
            const ExtensionCallScope inner("script", script, "command", "mod.ban");
            ASSERT_NE(ExtensionCallScope::current(), nullptr);
            EXPECT_STREQ(ExtensionCallScope::current()->extension, "moderation");
            EXPECT_EQ(report(SIGSEGV),
                      "parleyd: FATAL: signal SIGSEGV (11) in script 'moderation' during command "
                      "mod.ban, called from plugin 'mailer' during hook message.after_store (an "
                      "extension runs with parleyd's privileges: its crash is parleyd's)\n");
            std::thread other([] { EXPECT_EQ(ExtensionCallScope::current(), nullptr); });
            other.join();
        }
        EXPECT_STREQ(ExtensionCallScope::current()->extension, "mailer");
        EXPECT_EQ(ExtensionCallScope::current()->outer, nullptr);
    }
    EXPECT_EQ(ExtensionCallScope::current(), nullptr);
    EXPECT_EQ(report(SIGBUS),
              "parleyd: FATAL: signal SIGBUS (7) while no plugin or script was running on this "
              "thread\n");
}

TEST(FatalSignalReport, ALongReportIsCutAndStillEndsTheLine) {
    const std::string name(2000, 'x');
    const ExtensionCallScope scope("plugin", name, "timer");
    char buffer[64];
    const size_t length =
        formatFatalSignalReport(SIGILL, ExtensionCallScope::current(), buffer, sizeof buffer);
    ASSERT_EQ(length, sizeof buffer);
    EXPECT_EQ(buffer[length - 1], '\n');
    EXPECT_EQ(std::string(buffer, 24), "parleyd: FATAL: signal S");
}

// SIGABRT, which AddressSanitizer leaves alone by default: the same in every build.
TEST(FatalSignalReportDeathTest, AbortInAPluginIsReportedThenKillsBySignal) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            installFatalSignalReport();
            const std::string plugin = "crashy";
            const ExtensionCallScope scope("plugin", plugin, "command", "crashy.go");
            std::abort();
        },
        ::testing::KilledBySignal(SIGABRT),
        "parleyd: FATAL: signal SIGABRT \\(6\\) in plugin 'crashy' during command crashy.go");
}

TEST(FatalSignalReportDeathTest, StackOverflowIsReportedFromTheAlternateStack) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
#ifdef __SANITIZE_ADDRESS__
    GTEST_SKIP() << "AddressSanitizer reports a stack overflow itself";
#endif
    EXPECT_EXIT(
        {
            installFatalSignalReport();
            std::thread worker([] {
                const std::string plugin = "deep";
                const ExtensionCallScope scope("plugin", plugin, "hook", "read.after");
                Recurse::down(0);
            });
            worker.join();
        },
        ::testing::KilledBySignal(SIGSEGV),
        "parleyd: FATAL: signal SIGSEGV \\(11\\) in plugin 'deep' during hook read.after");
}

}  // namespace
}  // namespace parley
