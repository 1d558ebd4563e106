#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "extensions/TimerService.h"
#include "hooks/HookBus.h"

namespace parley {
namespace {

using namespace std::chrono_literals;

HookFunction recordingHandler(std::vector<std::string>& calls, std::string name) {
    return [&calls, name](const HookPayload&, std::chrono::milliseconds) {
        calls.push_back(name);
        return Verdict::proceed();
    };
}

TEST(HookBus, EmptyHooksCostOnlyAMaskCheck) {
    HookBus bus;
    for (Hook hook : kAllHooks) {
        EXPECT_FALSE(bus.has(hook)) << hookName(hook);
    }
    MessageDraft draft;
    bus.beforeMessageStore(draft);  // nothing registered: nothing happens
    auto token =
        bus.add(Hook::ReadAfter, "x", [](const HookPayload&, auto) { return Verdict::proceed(); });
    EXPECT_TRUE(bus.has(Hook::ReadAfter));
    EXPECT_FALSE(bus.has(Hook::MessageBeforeStore));
    EXPECT_TRUE(bus.remove(token));
    EXPECT_FALSE(bus.has(Hook::ReadAfter));
    EXPECT_FALSE(bus.remove(token));
}

TEST(HookBus, HandlersRunInConfiguredExtensionOrderThenRegistrationOrder) {
    HookBus bus;
    bus.setExtensionOrder({"first", "second"});
    std::vector<std::string> calls;
    bus.add(Hook::ReadAfter, "unlisted", recordingHandler(calls, "unlisted"));
    bus.add(Hook::ReadAfter, "second", recordingHandler(calls, "second-a"));
    bus.add(Hook::ReadAfter, "first", recordingHandler(calls, "first"));
    bus.add(Hook::ReadAfter, "second", recordingHandler(calls, "second-b"));
    bus.afterRead("c1", "u1", 3);
    EXPECT_EQ(calls, (std::vector<std::string>{"first", "second-a", "second-b", "unlisted"}));
}

TEST(HookBus, RejectStopsTheChainOnlyWhereRejectingIsAllowed) {
    HookBus bus;
    std::vector<std::string> calls;
    bus.add(Hook::MessageBeforeStore, "a", [&](const HookPayload&, auto) {
        calls.push_back("a");
        return Verdict::reject(ErrorCode::RateLimited, "slow down");
    });
    bus.add(Hook::MessageBeforeStore, "b", recordingHandler(calls, "b"));
    MessageDraft draft;
    try {
        bus.beforeMessageStore(draft);
        FAIL() << "expected a rejection";
    } catch (const ProtocolError& error) {
        EXPECT_EQ(error.code(), ErrorCode::RateLimited);
        EXPECT_STREQ(error.what(), "slow down");
    }
    EXPECT_EQ(calls, std::vector<std::string>{"a"});

    bus.add(Hook::MessageAfterStore, "late", [&](const HookPayload&, auto) {
        return Verdict::reject(ErrorCode::Forbidden, "too late");
    });
    bus.add(Hook::MessageAfterStore, "after", recordingHandler(calls, "after"));
    const store::MessageRecord record;
    EXPECT_NO_THROW(bus.afterMessageStore(record, {}));
    EXPECT_EQ(calls.back(), "after") << "an after hook cannot reject; the chain goes on";
}

TEST(HookBus, FailuresAreCountedAndFollowThePolicy) {
    HookBus bus;
    bus.add(Hook::MessageBeforeStore, "buggy", [](const HookPayload& payload, auto) -> Verdict {
        std::get<MessageDraft*>(payload)->body = "half-done rewrite";
        throw std::runtime_error("bug");
    });
    MessageDraft draft;
    draft.body = "original";
    EXPECT_NO_THROW(bus.beforeMessageStore(draft)) << "fail open by default";
    EXPECT_EQ(draft.body, "original") << "a failed handler's rewrite is undone";

    bus.setPolicy(Hook::MessageBeforeStore, HookPolicy{50ms, true});
    try {
        bus.beforeMessageStore(draft);
        FAIL() << "fail closed refuses the message";
    } catch (const ProtocolError& error) {
        EXPECT_EQ(error.code(), ErrorCode::Internal);
        EXPECT_NE(std::string(error.what()).find("buggy"), std::string::npos);
    }
    auto stats = bus.stats();
    ASSERT_EQ(stats.size(), 1U);
    EXPECT_EQ(stats[0]["extension"], "buggy");
    EXPECT_EQ(stats[0]["point"], "message.before_store");
    EXPECT_EQ(stats[0]["calls"], 2);
    EXPECT_EQ(stats[0]["failures"], 2);
}

TEST(HookBus, DeliveryHandlersDropRecipientsAndAFailureUndoesOnlyItsOwnDrops) {
    HookBus bus;
    bus.setExtensionOrder({"blocks", "buggy"});
    bus.add(Hook::EventBeforeDeliver, "blocks", [](const HookPayload& payload, auto) {
        std::erase(std::get<DeliveryDraft*>(payload)->recipients, "carol");
        return Verdict::proceed();
    });
    bus.add(Hook::EventBeforeDeliver, "buggy", [](const HookPayload& payload, auto) -> Verdict {
        std::get<DeliveryDraft*>(payload)->recipients.clear();
        throw std::runtime_error("bug");
    });
    DeliveryDraft draft{"typing", "c1", "dave", {{"ev", "typing"}}, {"carol", "erin"}};
    EXPECT_NO_THROW(bus.beforeDeliver(draft)) << "a delivery hook never refuses the command";
    EXPECT_EQ(draft.recipients, std::vector<std::string>{"erin"})
        << "fail open: the failed handler's drops are undone, the others' stay";

    bus.setPolicy(Hook::EventBeforeDeliver, HookPolicy{50ms, true});
    DeliveryDraft closed{"read", "c1", "dave", {{"ev", "read"}}, {"carol", "dave", "erin"}};
    EXPECT_NO_THROW(bus.beforeDeliver(closed));
    EXPECT_TRUE(closed.recipients.empty()) << "fail closed: nobody gets it";
}

TEST(HookBus, BeforeOpenMayReject) {
    HookBus bus;
    bus.add(Hook::ConversationBeforeOpen, "blocks", [](const HookPayload& payload, auto) {
        const auto* draft = std::get<const ConversationDraft*>(payload);
        return draft->conv ? Verdict::reject(ErrorCode::Forbidden, "not allowed")
                           : Verdict::proceed();
    });
    ConversationDraft draft;
    EXPECT_NO_THROW(bus.beforeConversationOpen(draft));
    draft.conv = "c1";
    EXPECT_THROW(bus.beforeConversationOpen(draft), ProtocolError);
    EXPECT_EQ(hookByName("conversation.before_open"), Hook::ConversationBeforeOpen);
    EXPECT_EQ(hookByName("event.before_deliver"), Hook::EventBeforeDeliver);
    EXPECT_FALSE(hookMayReject(Hook::EventBeforeDeliver));
}

TEST(HookBus, OverrunningTheBudgetIsAFailure) {
    HookBus bus;
    bus.setPolicy(Hook::MessageBeforeStore, HookPolicy{20ms, true});
    std::chrono::milliseconds seenBudget{0};
    bus.add(Hook::MessageBeforeStore, "slow", [&](const HookPayload& payload, auto budget) {
        seenBudget = budget;
        std::get<MessageDraft*>(payload)->body = "slow rewrite";
        std::this_thread::sleep_for(60ms);
        return Verdict::proceed();
    });
    MessageDraft draft;
    draft.body = "original";
    EXPECT_THROW(bus.beforeMessageStore(draft), ProtocolError);
    EXPECT_EQ(seenBudget, 20ms) << "the handler learns its budget";
    EXPECT_EQ(draft.body, "original");
    EXPECT_EQ(bus.stats()[0]["overruns"], 1);
}

TEST(HookBus, CommandsDeferToTheNextHandlerAndRefuseReservedOps) {
    HookBus bus;
    bus.setReservedOps({"msg.send"});
    bus.addCommand("shop.price", "a", [](const CommandCall&, auto) { return Verdict::defer(); });
    bus.addCommand("shop.price", "b", [](const CommandCall& call, auto) {
        return Verdict::replyWith({{"price", 3}, {"for", call.command.uid}});
    });
    Command command;
    command.uid = "alice";
    command.op = "shop.price";
    auto reply = bus.runCommand(CommandCall{command, false});
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->fields["price"], 3);
    EXPECT_EQ(reply->fields["for"], "alice");
    EXPECT_FALSE(reply->bytes.has_value());
    command.op = "shop.none";
    EXPECT_FALSE(bus.runCommand(CommandCall{command, false}).has_value());
    EXPECT_THROW(bus.addCommand("msg.send", "a", {}), std::invalid_argument);
    EXPECT_THROW(bus.addCommand("Shop.Upper", "a", {}), std::invalid_argument);
    EXPECT_THROW(bus.addCommand(std::string(65, 'a') + ".x", "a", {}), std::invalid_argument);

    bus.addCommand("shop.fail", "a",
                   [](const CommandCall&, auto) -> Verdict { throw std::runtime_error("oops"); });
    command.op = "shop.fail";
    EXPECT_THROW(bus.runCommand(CommandCall{command, false}), ProtocolError);
}

TEST(HookBus, ACommandWithBytesReachesOnlyHandlersThatTakeBytes) {
    HookBus bus;
    std::vector<std::string> calls;
    bus.addCommand("file.put", "plain", [&](const CommandCall&, auto) {
        calls.push_back("plain");
        return Verdict::replyWith({{"by", "plain"}});
    });
    bus.addCommand(
        "file.put", "bytes",
        [&](const CommandCall& call, auto) {
            calls.push_back("bytes");
            Verdict verdict = Verdict::replyWith({{"got", call.command.bytes.value_or("-")}});
            verdict.replyBytes = "back";
            return verdict;
        },
        true);
    EXPECT_TRUE(bus.commandTakesBytes("file.put"));
    bus.addCommand("file.get", "plain",
                   [](const CommandCall&, auto) { return Verdict::proceed(); });
    EXPECT_FALSE(bus.commandTakesBytes("file.get"));
    EXPECT_FALSE(bus.commandTakesBytes("file.none"));

    Command command;
    command.uid = "alice";
    command.op = "file.put";
    command.bytes = std::string("\0raw", 4);
    auto reply = bus.runCommand(CommandCall{command, false});
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->fields["got"], std::string("\0raw", 4));
    EXPECT_EQ(reply->bytes, "back");
    EXPECT_EQ(calls, (std::vector<std::string>{"bytes"}));  // the plain handler was passed by
    // Without bytes, the chain is as ever: the first handler answers.
    command.bytes.reset();
    EXPECT_EQ(bus.runCommand(CommandCall{command, false})->fields["by"], "plain");
    // No handler of file.get takes bytes: nobody answers.
    command.op = "file.get";
    command.bytes = "x";
    EXPECT_FALSE(bus.runCommand(CommandCall{command, false}).has_value());
}

TEST(HookBus, ReplacingAnExtensionSwapsAllItsRegistrationsAtOnce) {
    HookBus bus;
    bus.setExtensionOrder({"script", "other"});  // a reload keeps the configured position
    std::vector<std::string> calls;
    bus.add(Hook::ReadAfter, "script", recordingHandler(calls, "v1"));
    bus.addCommand("script.v1", "script",
                   [](const CommandCall&, auto) { return Verdict::proceed(); });
    bus.add(Hook::ReadAfter, "other", recordingHandler(calls, "other"));
    std::vector<HookBus::Registration> next;
    next.push_back({Hook::ReadAfter, "", recordingHandler(calls, "v2"), {}});
    next.push_back({std::nullopt, "script.v2", {}, [](const CommandCall&, auto) {
                        return Verdict::proceed();
                    }});
    bus.replaceExtension("script", std::move(next));
    bus.afterRead("c", "u", 1);
    EXPECT_EQ(calls, (std::vector<std::string>{"v2", "other"}));
    EXPECT_FALSE(bus.hasCommand("script.v1"));
    EXPECT_TRUE(bus.hasCommand("script.v2"));
    bus.removeExtension("script");
    EXPECT_FALSE(bus.hasCommand("script.v2"));
    calls.clear();
    bus.afterRead("c", "u", 1);
    EXPECT_EQ(calls, std::vector<std::string>{"other"});
}

TEST(HookBus, PresenceTransitionsRaiseConnectedAndDisconnected) {
    HookBus bus;
    std::vector<std::string> calls;
    bus.add(Hook::PresenceChanged, "x", recordingHandler(calls, "changed"));
    bus.add(Hook::UserConnected, "x", recordingHandler(calls, "connected"));
    bus.add(Hook::UserDisconnected, "x", recordingHandler(calls, "disconnected"));
    using store::PresenceState;
    store::PresenceRecord record{"u", PresenceState::Online, false, 1};
    bus.presenceChanged(record, PresenceState::Offline);
    record.state = PresenceState::Away;
    bus.presenceChanged(record, PresenceState::Online);
    record.state = PresenceState::Offline;
    bus.presenceChanged(record, PresenceState::Away);
    EXPECT_EQ(calls, (std::vector<std::string>{"changed", "connected", "changed", "changed",
                                               "disconnected"}));
}

TEST(HookBus, ReadersAreSafeWhileExtensionsAreReplaced) {
    HookBus bus;
    std::atomic<bool> stop{false};
    std::atomic<int> runs{0};
    std::thread reader([&] {
        while (!stop) {
            bus.afterRead("c", "u", 1);
            ++runs;
        }
    });
    // Swap at least 200 times, and until the reader has run through many snapshots.
    for (int i = 0; i < 200 || runs < 1000; ++i) {
        std::vector<HookBus::Registration> next;
        next.push_back(
            {Hook::ReadAfter, "", [](const HookPayload&, auto) { return Verdict::proceed(); }, {}});
        bus.replaceExtension("swapped", std::move(next));
    }
    stop = true;
    reader.join();
    EXPECT_GT(runs.load(), 0);
}

TEST(TimerService, RunsOnceAndPeriodicallyAndCancels) {
    TimerService timers;
    std::atomic<int> once{0};
    std::atomic<int> periodic{0};
    std::atomic<int> cancelled{0};
    timers.schedule("a", 10, 0, [&] { ++once; });
    const auto every = timers.schedule("a", 0, 20, [&] { ++periodic; });
    const auto never = timers.schedule("a", 200, 0, [&] { ++cancelled; });
    EXPECT_FALSE(timers.cancel("b", never)) << "only the owner cancels";
    EXPECT_TRUE(timers.cancel("a", never));
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(once, 1);
    EXPECT_GE(periodic, 3);
    EXPECT_TRUE(timers.cancel("a", every));
    const int after = periodic;
    std::this_thread::sleep_for(80ms);
    EXPECT_EQ(periodic, after);
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(cancelled, 0);
}

TEST(TimerService, CancelOwnerWaitsForARunningCallback) {
    TimerService timers;
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    timers.schedule("slow", 0, 0, [&] {
        started = true;
        std::this_thread::sleep_for(100ms);
        finished = true;
    });
    while (!started) {
        std::this_thread::sleep_for(1ms);
    }
    timers.cancelOwner("slow");
    EXPECT_TRUE(finished) << "cancelOwner returns only after the owner's callback ended";
}

}  // namespace
}  // namespace parley
