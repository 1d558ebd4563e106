#pragma once

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include "lua/LuaRunner.h"

// Helpers every part of the Lua host shares. The rule they exist for: Debian's liblua5.4 is C, so
// a Lua error is a longjmp that must never skip a C++ destructor. A lua_CFunction therefore
//   1. reads its arguments with the check* helpers below (which raise) into plain C values,
//   2. does its C++ work inside guarded() (exceptions become text in a fixed buffer),
//   3. pushes C++ results through protectedPush() (a memory error is caught by lua_pcall),
//   4. raises only after the C++ objects are gone.
namespace parley::lua {

// Registry keys (light userdata: the addresses are the keys; not const, since
// lua_pushlightuserdata takes a void*).
inline char kEnvironmentKey = 'E';  // the script's environment proxy
inline char kProtectedKey = 'P';    // set of tables rawset must refuse
inline char kArrayMarkerKey = 'A';  // metatable of tables decoded from JSON arrays
inline char kTimersKey = 'T';       // timer id -> callback
inline char kDeferSentinel = 'D';   // parley.DEFER

constexpr size_t kErrorBytes = 512;

// An error object as text without calling any metamethod (a __tostring may loop or raise):
// strings as they are, anything else "(error object: <type>)". Cut to a loggable length.
std::string errorObjectText(lua_State* L, int index);

// "not_found: no conversation c1" for ProtocolError, "unavailable: ..." for an unreachable store,
// the text as it is for std::invalid_argument (the script's misuse, worded for it), "internal:
// ..." for anything else.
void formatException(char (&buffer)[kErrorBytes], const std::exception& error);

// Runs fn, parleyd's own work for the script (it marks the call as out of Lua for the watchdog,
// LuaRunner, which never abandons a call there); a std::exception (or anything else) becomes text
// in `error`. Returns false if fn threw, or if the call was abandoned (fn did not run).
template <typename Fn>
bool guarded(char (&error)[kErrorBytes], Fn&& fn) noexcept {
    try {
        const LuaRunner::HostSection host;
        fn();
        return true;
    } catch (const std::exception& exception) {
        formatException(error, exception);
    } catch (...) {
        std::snprintf(error, kErrorBytes, "internal: unknown exception");
    }
    return false;
}

// Pushes the values `push(L)` pushes (it may raise) under lua_pcall, so a memory error cannot
// unwind through the caller's C++ objects. Returns false with the error object on the stack
// instead; the caller raises it (lua_error) once its C++ objects are destroyed.
template <typename Push>
bool protectedPush(lua_State* L, int results, Push& push) {
    lua_pushcfunction(L, [](lua_State* state) -> int {
        auto* fn = static_cast<Push*>(lua_touserdata(state, 1));
        lua_remove(state, 1);
        (*fn)(state);
        return lua_gettop(state);
    });
    lua_pushlightuserdata(L, &push);
    return lua_pcall(L, 1, results, 0) == LUA_OK;
}

// Charges `units` of work done in C for the script (LuaLibraryLimits.h says what a unit is) to
// its budget, and raises the budget's stop reason once the budget is spent. Raises: only with no
// C++ object alive in the caller.
void chargeWork(lua_State* L, uint64_t units);

// Argument checks raising "<function>: <what> must be ... (got <type>)".
const char* checkString(lua_State* L, int index, const char* function, const char* what,
                        size_t* length = nullptr);
const char* optString(lua_State* L, int index, const char* function, const char* what,
                      size_t* length = nullptr);
lua_Integer checkInteger(lua_State* L, int index, const char* function, const char* what);
lua_Integer optInteger(lua_State* L, int index, const char* function, const char* what,
                       lua_Integer fallback);
void checkFunction(lua_State* L, int index, const char* function, const char* what);
void checkTable(lua_State* L, int index, const char* function, const char* what);

}  // namespace parley::lua
