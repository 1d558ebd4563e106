#pragma once

#include <lua.hpp>

namespace parley::lua {

// Replaces find, match, gmatch and gsub of the string table at `stringTable` with versions that
// behave as Lua 5.4's but run on LuaPatternMatcher, which charges its work to the script's
// budget. Raises (call it under lua_pcall).
void installPatternFunctions(lua_State* L, int stringTable);

}  // namespace parley::lua
