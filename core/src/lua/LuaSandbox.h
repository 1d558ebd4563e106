#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

// The sandbox of a script's lua_State. Everything here raises Lua errors: call it under lua_pcall
// (a protected call body) with no C++ object of the caller in between.
namespace parley::lua {

// Opens base, table, string, math, utf8 and coroutine into the globals and nothing else; removes
// dofile, loadfile, string.dump; replaces load (text chunks only, the script's environment by
// default), collectgarbage ("count" only), setmetatable (no __gc: finalizers run with hooks
// disabled, so a looping one could not be stopped), rawset (refuses protected tables), xpcall
// (its handler does not run once the budget is spent), coroutine.wrap and coroutine.close (a
// coroutine that died from an error is not closed), and the pattern functions of string (their
// matching is charged to the budget); bounds the library functions whose work an argument can
// make huge (LuaLibraryLimits.h). Builds the script's
// environment: an empty proxy whose __index is the globals and whose __newindex raises.
void openSandbox(lua_State* L);

// Pushes the script's environment (what the chunk and load() see as _ENV).
void pushEnvironment(lua_State* L);

// Pushes a read-only proxy of the table at `index`: reads, pairs and # go to the table; writes
// raise "<name> is read-only"; its metatable is protected and rawset refuses it.
void pushReadOnly(lua_State* L, int index, const char* name);

// Pushes `value` as nested read-only tables (parley.config).
void pushReadOnlyJson(lua_State* L, const nlohmann::json& value, const char* name);

// If the table at `index` is a read-only proxy, pushes the table it shows and returns true;
// else pushes nothing. Never raises (json encoding reads through proxies with it).
bool pushProxied(lua_State* L, int index);

}  // namespace parley::lua
