// The library functions a script can reach, each made to do as much work as an argument allows,
// in each place a script runs: a command, a message.before_store hook, a timer and the script's
// top level. Before LuaLibraryLimits, most of these ran in C where no budget looked (some for
// ever: string.rep("", math.maxinteger) loops 2^63 times); now each ends with the budget's
// error (or finishes at once), the call fails by its hook's policy, and nothing is frozen: the
// user's next command is answered, the conversation takes the next message, the other timers
// go on.

#include <regex>

#include "LuaServerTest.h"
#include "extensions/Extension.h"

namespace parley::testing {
namespace {

using nlohmann::json;

struct LimitCase {
    const char* name;
    // Lua statements; `big(n)` is a string of 2^n 'x' made by doubling (no library call).
    const char* code;
    // What ends the call (a regex over the log line or the load error).
    const char* reason;
    int64_t instructionLimit = 10'000'000;
};

// A call that ran for ever before ends at either limit of its budget, whichever comes first.
constexpr const char* kBudget =
    "instruction limit of [0-9]+ exceeded|time budget of [0-9]+ ms exceeded";
// A table whose JSON would not fit: refused once the copies pass the memory limit, or (slower
// builds) stopped by the budget its conversion is charged to before that.
constexpr const char* kJsonTooBig =
    "takes more than the script's memory limit|time budget of [0-9]+ ms exceeded";
// A call whose work went uncounted before (and so finished under the same instruction limit)
// now runs out of instructions.
constexpr const char* kInstructions = "instruction limit of [0-9]+ exceeded";
constexpr const char* kMemory = "memory limit of [0-9]+ bytes exceeded";

const LimitCase kCases[] = {
    // Each was a C loop that never ends (or ends in minutes), whatever the budget.
    {"RepOfTheEmptyStringIsEmptyAtOnce",
     "local s = string.rep('', math.maxinteger) assert(#s == 0) error('finished')", "finished"},
    {"RepWithASeparatorPastTheMemoryLimit", "string.rep('', math.maxinteger, ',')", kMemory},
    {"MoveOfAHugeRange", "table.move({}, 1, 1 << 50, 2)", kBudget},
    {"ConcatOfAHugeRange",
     "table.concat(setmetatable({}, {__index = table.concat}), '', 1, math.maxinteger)", kBudget},
    {"InsertUnderALyingLength",
     "table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1, 'x')",
     kBudget},
    {"RemoveUnderALyingLength",
     "table.remove(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1)",
     kBudget},
    {"GsubWithAHugeReplacementForEveryEmptyMatch",
     "local s, r = big(17), '%1' for i = 1, 16 do r = r .. r end s:gsub('(y?)', r)", kBudget},
    {"JsonEncodeOfATableThatHoldsItsHalvesTwice",
     "local t = {'x'} for i = 1, 26 do t = {t, t} end parley.json.encode(t)", kJsonTooBig},
    {"SendOfATableThatHoldsItsHalvesTwice",
     "local t = {'x'} for i = 1, 26 do t = {t, t} end parley.send('bob', {t = t})", kJsonTooBig},
    // Lua code that C runs (metamethods, comparators) is counted like any Lua code; a chain of
    // __index tables ends at Lua's own limit.
    {"TostringWithALoopingMetamethod",
     "tostring(setmetatable({}, {__tostring = function() while true do end end}))", kBudget},
    {"ConcatWithALoopingIndexFunction",
     "table.concat(setmetatable({}, {__index = function() while true do end end}), '', 1, 2)",
     kBudget},
    {"IndexChainThatLoops", "local t = {} setmetatable(t, {__index = t}) local _ = t.x",
     "'__index' chain too long"},
    {"SortWithAComparatorThatLies",
     "local t = {} for i = 1, 100000 do t[i] = i end table.sort(t, function() return true end)",
     "invalid order function for sorting|instruction limit of [0-9]+ exceeded|time budget of "
     "[0-9]+ ms exceeded"},
    // Each was bounded by its input, but did that work unseen: charged now, so the budget
    // counts it (before, these finished under the same instruction limit).
    {"SortOfHugeStrings",
     "local s, t = big(23), {} for i = 1, 300 do t[i] = s end table.sort(t) error('finished')",
     kInstructions},
    {"FormatReadingHugeArguments",
     "local s, t = big(23), {} for i = 1, 200 do t[i] = s end "
     "string.format(string.rep('%.0s', 200), table.unpack(t)) error('finished')",
     kInstructions},
    {"UnpackOfManyElements", "table.unpack({}, 1, 900000) error('finished')", kInstructions,
     500'000},
    {"ByteOfAWholeString", "string.byte(big(19), 1, -1) error('finished')", kInstructions, 300'000},
    {"UpperOfAHugeString", "local s = big(22) for i = 1, 8 do s:upper() end error('finished')",
     kInstructions, 1'000'000},
    {"SubOfAHugeString", "local s = big(22) for i = 1, 8 do s:sub(2) end error('finished')",
     kInstructions, 1'000'000},
    {"ReverseOfAHugeString", "local s = big(22) for i = 1, 8 do s:reverse() end error('finished')",
     kInstructions, 1'000'000},
    {"PlainFindThroughAHugeString",
     "local s = big(23) for i = 1, 200 do s:find('y', 1, true) end error('finished')",
     kInstructions},
    {"PackOfAHugeFormat",
     "local f = 'i4' for i = 1, 15 do f = f .. f end "
     "for i = 1, 100 do string.packsize(f) end error('finished')",
     kInstructions, 200'000},
    {"UnpackOfAHugeFormat",
     "local f, d = 'i1', 'x' for i = 1, 15 do f, d = f .. f, d .. d end "
     "for i = 1, 100 do string.unpack(f, d) end error('finished')",
     kInstructions, 1'000'000},
    {"TonumberOfAHugeString",
     "local s = ' ' for i = 1, 22 do s = s .. s end s = s .. '1' "
     "for i = 1, 100 do tonumber(s) end error('finished')",
     kInstructions},
    {"ArithmeticOnAHugeString",
     "local s = ' ' for i = 1, 22 do s = s .. s end s = s .. '1' "
     "for i = 1, 100 do local _ = s + 0 end error('finished')",
     kInstructions},
    {"Utf8CodesSkippingAHugeRun",
     "local s = '\\x80' for i = 1, 22 do s = s .. s end s = 'a' .. s "
     "local step = utf8.codes(s) for i = 1, 100 do step(s, 1) end error('finished')",
     kInstructions},
    {"Utf8LenOfAHugeString",
     "local s = big(22) for i = 1, 100 do utf8.len(s) end error('finished')", kInstructions},
    {"Utf8OffsetAcrossAHugeString",
     "local s = big(22) for i = 1, 100 do utf8.offset(s, #s) end error('finished')", kInstructions},
    {"Utf8CodepointOfAWholeString", "utf8.codepoint(big(19), 1, -1) error('finished')",
     kInstructions, 300'000},
    {"LoadOfAHugeChunk",
     "local c = 'x=1 ' for i = 1, 17 do c = c .. c end "
     "for i = 1, 30 do load(c) end error('finished')",
     kInstructions},
    {"PrintOfAHugeString", "local s = big(22) for i = 1, 100 do print(s) end error('finished')",
     kInstructions},
};

enum class Place { Command, BeforeStore, Timer, TopLevel };

const char* placeName(Place place) {
    switch (place) {
        case Place::Command:
            return "Command";
        case Place::BeforeStore:
            return "BeforeStore";
        case Place::Timer:
            return "Timer";
        case Place::TopLevel:
            return "TopLevel";
    }
    return "?";
}

constexpr const char* kBig =
    "local function big(n) local s = 'x' for i = 1, n do s = s .. s end return s end\n";

class LuaLimitsTest : public LuaServerTest,
                      public ::testing::WithParamInterface<std::tuple<LimitCase, Place>> {
  protected:
    LuaLimitsTest() {
        config_.hooks["command"] = HookPolicyConfig{2000, true};
        config_.hooks["timer"] = HookPolicyConfig{2000, false};
        config_.hooks["message.before_store"] = HookPolicyConfig{2000, false};
    }

    const LimitCase& limitCase() const { return std::get<0>(GetParam()); }

    // The script "t", running the case in `place`, and answering "t.alive" (so we see it lives).
    void addCaseScript(Place place) {
        const std::string code = limitCase().code;
        std::string script = kBig;
        switch (place) {
            case Place::Command:
                script += "parley.command('t.run', function()\n" + code + "\nend)\n";
                break;
            case Place::BeforeStore:
                script +=
                    "parley.hook('message.before_store', function(m)\n"
                    "  if m.body ~= 'run' then return end\n" +
                    code + "\nend)\n";
                break;
            case Place::Timer:
                script += "parley.timer.after(50, function()\n" + code + "\nend)\n";
                break;
            case Place::TopLevel:
                script += code + "\n";
                break;
        }
        script += "parley.command('t.alive', function() return {alive = true} end)\n";
        addScript("t", script).instructionLimit = limitCase().instructionLimit;
    }

    // The log shows the case's call failing with its reason.
    void expectFailureLogged(const std::string& point) {
        const std::regex line("extension 't' failed in " + point + ": [^\n]*(" +
                              limitCase().reason + ")");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!std::regex_search(logText(), line)) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "expected /" << limitCase().reason << "/ from " << point << " in:\n"
                << logText();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
};

TEST_P(LuaLimitsTest, EndsWithinTheBudgetAndFreezesNothing) {
    const Place place = std::get<1>(GetParam());
    addCaseScript(place);
    if (place == Place::Timer) {
        // Another script's timer, which must keep firing after the case's timer failed.
        addScript("tick",
                  "parley.timer.every(10, function() parley.kv.incr('ticks') end)\n"
                  "parley.command('tick.count', function()"
                  " return {n = tonumber(parley.kv.get('ticks') or '0')} end)\n");
    }
    if (place == Place::TopLevel) {
        try {
            server();
            FAIL() << "the script loaded";
        } catch (const ExtensionError& error) {
            EXPECT_TRUE(std::regex_search(error.what(), std::regex(limitCase().reason)))
                << error.what();
        }
        return;
    }

    server();
    switch (place) {
        case Place::Command: {
            auto reply = call("alice", {{"op", "t.run"}});
            EXPECT_EQ(codeOf(reply), "internal") << reply;
            expectFailureLogged("command t.run");
            break;
        }
        case Place::BeforeStore: {
            const std::string conv = openDirect("alice", "bob");
            auto reply = sendMessage("alice", conv, "m1", "run");
            EXPECT_EQ(codeOf(reply), "ok") << "fails open: " << reply;
            expectFailureLogged("message.before_store");
            auto next = sendMessage("bob", conv, "m2", "the conversation goes on");
            EXPECT_EQ(codeOf(next), "ok") << next;
            EXPECT_EQ(next["seq"], 2) << next;
            break;
        }
        case Place::Timer: {
            expectFailureLogged("timer");
            const auto before = call("alice", {{"op", "tick.count"}})["n"].get<int64_t>();
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (call("alice", {{"op", "tick.count"}})["n"].get<int64_t>() <= before) {
                ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timers stopped";
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            break;
        }
        case Place::TopLevel:
            break;
    }
    // The same user is answered, and the script itself still runs.
    EXPECT_EQ(codeOf(call("alice", {{"op", "ping"}})), "ok");
    EXPECT_EQ(call("alice", {{"op", "t.alive"}})["alive"], true);
}

INSTANTIATE_TEST_SUITE_P(EveryFunction, LuaLimitsTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(Place::Command, Place::BeforeStore,
                                                              Place::Timer, Place::TopLevel)),
                         [](const ::testing::TestParamInfo<std::tuple<LimitCase, Place>>& info) {
                             return std::string(std::get<0>(info.param).name) + "In" +
                                    placeName(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace parley::testing
