#pragma once

#include <cstddef>
#include <cstdint>

namespace parley {

class LuaBudget;

// Lua 5.4 pattern matching (the language of string.find/match/gmatch/gsub), with every step
// charged to the script's budget. The stock matcher is C code the instruction hook never sees:
// a pattern like ("a*"):rep(30) .. "b" backtracks for longer than the universe exists, and no
// budget could stop it. This one counts its steps and throws when the budget is spent.
//
// Errors (a malformed pattern, the budget) are std::runtime_error with Lua's message. It calls no
// Lua function and is trivially destructible, so it may live in a lua_CFunction's frame while
// Lua raises around it.
class LuaPatternMatcher {
  public:
    static constexpr int kMaxCaptures = 32;  // LUA_MAXCAPTURES
    static constexpr ptrdiff_t kUnfinished = -1;
    static constexpr ptrdiff_t kPosition = -2;

    struct Capture {
        const char* start;
        ptrdiff_t length;  // or kUnfinished, kPosition
    };

    LuaPatternMatcher(const char* subject, size_t subjectLength, const char* pattern,
                      size_t patternLength, LuaBudget* budget);

    // Forgets the captures of the previous attempt.
    void reset();
    // Matches the pattern from `patternPosition` against the subject at `position`: the end of
    // the match, or nullptr.
    const char* match(const char* position, const char* patternPosition);
    // Plain substring search from `from`, charged like matching: the start, or nullptr.
    const char* find(const char* from);
    // Charges the steps not charged yet (call once the matching is over).
    void flush();

    int captureCount() const { return level_; }
    const Capture& capture(int index) const { return captures_[index]; }
    const char* subjectBegin() const { return subjectBegin_; }
    const char* subjectEnd() const { return subjectEnd_; }
    const char* patternBegin() const { return patternBegin_; }

  private:
    [[noreturn]] static void fail(const char* message);
    void step(uint64_t cost = 1);
    const char* classEnd(const char* p) const;
    bool singleMatch(const char* s, const char* p, const char* ep) const;
    bool bracketMatches(int c, const char* p, const char* ec) const;
    const char* maxExpand(const char* s, const char* p, const char* ep);
    const char* minExpand(const char* s, const char* p, const char* ep);
    const char* startCapture(const char* s, const char* p, ptrdiff_t what);
    const char* endCapture(const char* s, const char* p);
    const char* matchBalance(const char* s, const char* p);
    const char* matchCapture(const char* s, int which);

    const char* subjectBegin_;
    const char* subjectEnd_;
    const char* patternBegin_;
    const char* patternEnd_;
    LuaBudget* budget_;
    int depthLeft_ = 0;
    int level_ = 0;
    uint64_t pendingSteps_ = 0;
    Capture captures_[kMaxCaptures];
};

}  // namespace parley
