#include "lua/LuaPatterns.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <exception>

#include "lua/LuaBudget.h"
#include "lua/LuaLibraryLimits.h"
#include "lua/LuaPatternMatcher.h"
#include "lua/LuaSupport.h"

// These functions keep to the longjmp rule of LuaSupport.h: the matcher is trivially destructible
// (Lua may raise over it), it throws only inside attempt(), and Lua raises only outside it.
namespace parley::lua {

namespace {

constexpr char kSpecials[] = "^$*+?.([%-";
constexpr uint64_t kReplacementBatch = 256;
// A %n of a replacement string: a capture pushed, converted to text and added.
constexpr uint64_t kUnitsPerEscape = 2;

LuaBudget* budgetOf(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return static_cast<LuaBudget*>(ud);
}

// Runs matcher work; an exception (malformed pattern, spent budget) becomes text in `error`.
template <typename Fn>
bool attempt(char (&error)[kErrorBytes], Fn&& fn) noexcept {
    try {
        fn();
        return true;
    } catch (const std::exception& exception) {
        std::snprintf(error, kErrorBytes, "%s", exception.what());
    } catch (...) {
        std::snprintf(error, kErrorBytes, "pattern matching failed");
    }
    return false;
}

[[noreturn]] void raise(lua_State* L, const char (&error)[kErrorBytes]) {
    if (budgetOf(L)->stopped()) {
        // The budget is spent: this coroutine too must raise at its next instruction.
        lua_sethook(L, &LuaBudget::countHook, LUA_MASKCOUNT, 1);
    }
    luaL_error(L, "%s", error);
    __builtin_unreachable();  // luaL_error does not return (longjmp)
}

const char* matchAt(lua_State* L, LuaPatternMatcher& matcher, const char* position,
                    const char* pattern) {
    char error[kErrorBytes];
    const char* end = nullptr;
    if (!attempt(error, [&] {
            matcher.reset();
            end = matcher.match(position, pattern);
        })) {
        raise(L, error);
    }
    return end;
}

void settle(lua_State* L, LuaPatternMatcher& matcher) {
    char error[kErrorBytes];
    if (!attempt(error, [&] { matcher.flush(); })) {
        raise(L, error);
    }
}

// Lua's "relative initial position": negative counts from the end; out of range is clamped.
size_t startOffset(lua_Integer position, size_t length) {
    if (position > 0) {
        return static_cast<size_t>(position) - 1;
    }
    if (position == 0 || position < -static_cast<lua_Integer>(length)) {
        return 0;
    }
    return length + static_cast<size_t>(position);
}

bool hasSpecials(const char* pattern, size_t length) {
    for (size_t i = 0; i < length; ++i) {
        if (std::memchr(kSpecials, pattern[i], sizeof kSpecials - 1) != nullptr) {
            return true;
        }
    }
    return false;
}

void pushCapture(lua_State* L, const LuaPatternMatcher& matcher, int index, const char* start,
                 const char* end) {
    if (index >= matcher.captureCount()) {
        if (index != 0) {
            luaL_error(L, "invalid capture index %%%d", index + 1);
        }
        lua_pushlstring(L, start, static_cast<size_t>(end - start));  // the whole match
        return;
    }
    const auto& capture = matcher.capture(index);
    if (capture.length == LuaPatternMatcher::kUnfinished) {
        luaL_error(L, "unfinished capture");
    } else if (capture.length == LuaPatternMatcher::kPosition) {
        lua_pushinteger(L, capture.start - matcher.subjectBegin() + 1);
    } else {
        lua_pushlstring(L, capture.start, static_cast<size_t>(capture.length));
    }
}

// The captures, or the whole match when there are none and `start` is given.
int pushCaptures(lua_State* L, const LuaPatternMatcher& matcher, const char* start,
                 const char* end) {
    const int count =
        (matcher.captureCount() == 0 && start != nullptr) ? 1 : matcher.captureCount();
    luaL_checkstack(L, count, "too many captures");
    for (int i = 0; i < count; ++i) {
        pushCapture(L, matcher, i, start, end);
    }
    return count;
}

int findOrMatch(lua_State* L, bool find) {
    size_t subjectLength = 0;
    size_t patternLength = 0;
    const char* subject = luaL_checklstring(L, 1, &subjectLength);
    const char* pattern = luaL_checklstring(L, 2, &patternLength);
    chargeWork(L, 1 + patternLength / kBytesPerUnit);  // the pattern is read before matching
    const size_t init = startOffset(luaL_optinteger(L, 3, 1), subjectLength);
    if (init > subjectLength) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !hasSpecials(pattern, patternLength))) {
        LuaPatternMatcher matcher(subject, subjectLength, pattern, patternLength, budgetOf(L));
        char error[kErrorBytes];
        const char* found = nullptr;
        if (!attempt(error, [&] {
                found = matcher.find(subject + init);
                matcher.flush();
            })) {
            raise(L, error);
        }
        if (found != nullptr) {
            lua_pushinteger(L, found - subject + 1);
            lua_pushinteger(L, static_cast<lua_Integer>(found - subject + patternLength));
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    const bool anchored = patternLength > 0 && *pattern == '^';
    LuaPatternMatcher matcher(subject, subjectLength, pattern, patternLength, budgetOf(L));
    const char* body = anchored ? pattern + 1 : pattern;
    const char* start = subject + init;
    do {
        const char* end = matchAt(L, matcher, start, body);
        if (end != nullptr) {
            settle(L, matcher);
            if (find) {
                lua_pushinteger(L, start - subject + 1);
                lua_pushinteger(L, end - subject);
                return pushCaptures(L, matcher, nullptr, nullptr) + 2;
            }
            return pushCaptures(L, matcher, start, end);
        }
    } while (start++ < matcher.subjectEnd() && !anchored);
    settle(L, matcher);
    luaL_pushfail(L);
    return 1;
}

int patternFind(lua_State* L) {
    return findOrMatch(L, true);
}

int patternMatch(lua_State* L) {
    return findOrMatch(L, false);
}

// Where a gmatch iteration stands; a full userdata with no metatable (nothing to finalize).
struct GmatchState {
    size_t position;
    ptrdiff_t lastMatch;  // offset of the end of the last match, -1 before the first
};

int gmatchStep(lua_State* L) {
    size_t subjectLength = 0;
    size_t patternLength = 0;
    const char* subject = lua_tolstring(L, lua_upvalueindex(1), &subjectLength);
    const char* pattern = lua_tolstring(L, lua_upvalueindex(2), &patternLength);
    auto* state = static_cast<GmatchState*>(lua_touserdata(L, lua_upvalueindex(3)));
    LuaPatternMatcher matcher(subject, subjectLength, pattern, patternLength, budgetOf(L));
    for (const char* start = subject + state->position; start <= matcher.subjectEnd(); ++start) {
        const char* end = matchAt(L, matcher, start, pattern);
        if (end != nullptr && end - subject != state->lastMatch) {
            settle(L, matcher);
            state->position = static_cast<size_t>(end - subject);
            state->lastMatch = end - subject;
            return pushCaptures(L, matcher, start, end);
        }
    }
    settle(L, matcher);
    state->position = subjectLength + 1;
    return 0;
}

int patternGmatch(lua_State* L) {
    size_t subjectLength = 0;
    size_t patternLength = 0;
    luaL_checklstring(L, 1, &subjectLength);
    luaL_checklstring(L, 2, &patternLength);
    chargeWork(L, 1 + patternLength / kBytesPerUnit);
    size_t init = startOffset(luaL_optinteger(L, 3, 1), subjectLength);
    if (init > subjectLength) {
        init = subjectLength + 1;
    }
    lua_settop(L, 2);
    auto* state = static_cast<GmatchState*>(lua_newuserdatauv(L, sizeof(GmatchState), 0));
    state->position = init;
    state->lastMatch = -1;
    lua_pushcclosure(L, &gmatchStep, 3);
    return 1;
}

void addReplacementString(lua_State* L, const LuaPatternMatcher& matcher, luaL_Buffer* buffer,
                          const char* start, const char* end) {
    size_t length = 0;
    const char* replacement = lua_tolstring(L, 3, &length);
    const char* escape = nullptr;
    while ((escape = static_cast<const char*>(std::memchr(replacement, '%', length))) != nullptr) {
        luaL_addlstring(buffer, replacement, static_cast<size_t>(escape - replacement));
        ++escape;
        const char next = escape < replacement + length ? *escape : '\0';
        if (next == '%') {
            luaL_addchar(buffer, '%');
        } else if (next == '0') {
            luaL_addlstring(buffer, start, static_cast<size_t>(end - start));
        } else if (std::isdigit(static_cast<unsigned char>(next)) != 0) {
            pushCapture(L, matcher, next - '1', start, end);
            luaL_tolstring(L, -1, nullptr);
            lua_remove(L, -2);
            luaL_addvalue(buffer);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        length -= static_cast<size_t>(escape + 1 - replacement);
        replacement = escape + 1;
    }
    luaL_addlstring(buffer, replacement, length);
}

// Appends the replacement of one match; false if the match is kept as it was.
bool addReplacement(lua_State* L, const LuaPatternMatcher& matcher, luaL_Buffer* buffer,
                    const char* start, const char* end, int replacementType) {
    switch (replacementType) {
        case LUA_TFUNCTION: {
            lua_pushvalue(L, 3);
            const int count = pushCaptures(L, matcher, start, end);
            lua_call(L, count, 1);
            break;
        }
        case LUA_TTABLE:
            pushCapture(L, matcher, 0, start, end);
            lua_gettable(L, 3);
            break;
        default:
            addReplacementString(L, matcher, buffer, start, end);
            return true;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(buffer, start, static_cast<size_t>(end - start));
        return false;
    }
    if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(buffer);
    return true;
}

int patternGsub(lua_State* L) {
    size_t subjectLength = 0;
    size_t patternLength = 0;
    const char* subject = luaL_checklstring(L, 1, &subjectLength);
    const char* pattern = luaL_checklstring(L, 2, &patternLength);
    const int replacementType = lua_type(L, 3);
    const lua_Integer maxReplacements =
        luaL_optinteger(L, 4, static_cast<lua_Integer>(subjectLength) + 1);
    luaL_argexpected(L,
                     replacementType == LUA_TNUMBER || replacementType == LUA_TSTRING ||
                         replacementType == LUA_TFUNCTION || replacementType == LUA_TTABLE,
                     3, "string/function/table");
    chargeWork(L, 1 + patternLength / kBytesPerUnit);
    const bool anchored = patternLength > 0 && *pattern == '^';
    const char* body = anchored ? pattern + 1 : pattern;
    // What one replacement costs beyond the matching: a string replacement is read, and each of
    // its %n converted and copied, at every match, whatever it adds to the result.
    uint64_t replacementUnits = 1;
    if (replacementType == LUA_TSTRING || replacementType == LUA_TNUMBER) {
        size_t length = 0;
        const char* replacement = lua_tolstring(L, 3, &length);  // a number becomes its text
        const auto escapes =
            static_cast<uint64_t>(std::count(replacement, replacement + length, '%'));
        replacementUnits += length / kBytesPerUnit + escapes * kUnitsPerEscape;
    }
    LuaPatternMatcher matcher(subject, subjectLength, pattern, patternLength, budgetOf(L));
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    const char* position = subject;
    const char* lastMatch = nullptr;
    lua_Integer replacements = 0;
    bool changed = false;
    uint64_t pendingUnits = 0;
    while (replacements < maxReplacements) {
        const char* end = matchAt(L, matcher, position, body);
        if (end != nullptr && end != lastMatch) {
            ++replacements;
            pendingUnits += replacementUnits;
            if (pendingUnits >= kReplacementBatch) {
                chargeWork(L, pendingUnits);
                pendingUnits = 0;
            }
            changed =
                addReplacement(L, matcher, &buffer, position, end, replacementType) || changed;
            position = lastMatch = end;
        } else if (position < matcher.subjectEnd()) {
            luaL_addchar(&buffer, *position++);
        } else {
            break;
        }
        if (anchored) {
            break;
        }
    }
    settle(L, matcher);
    chargeWork(L, pendingUnits);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&buffer, position, static_cast<size_t>(matcher.subjectEnd() - position));
        luaL_pushresult(&buffer);
    }
    lua_pushinteger(L, replacements);
    return 2;
}

}  // namespace

void installPatternFunctions(lua_State* L, int stringTable) {
    stringTable = lua_absindex(L, stringTable);
    const luaL_Reg functions[] = {
        {"find", &patternFind},
        {"match", &patternMatch},
        {"gmatch", &patternGmatch},
        {"gsub", &patternGsub},
    };
    for (const auto& function : functions) {
        lua_pushcfunction(L, function.func);
        lua_setfield(L, stringTable, function.name);
    }
}

}  // namespace parley::lua
