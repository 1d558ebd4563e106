#include "lua/LuaSandbox.h"

#include <cstring>

#include "lua/LuaBudget.h"
#include "lua/LuaJson.h"
#include "lua/LuaLibraryLimits.h"
#include "lua/LuaPatterns.h"
#include "lua/LuaSupport.h"

namespace parley::lua {

namespace {

// load() of a script compiles text only: larger chunks than this are refused, since compiling is
// C work the instruction hook does not see.
constexpr size_t kMaxLoadChunkBytes = 1024 * 1024;
const char* const kLocked = "locked";

// __newindex of the environment.
int environmentNewIndex(lua_State* L) {
    if (lua_type(L, 2) != LUA_TSTRING) {
        return luaL_error(L, "no new globals: (a %s key)", luaL_typename(L, 2));
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
        return luaL_error(L, "global '%s' is read-only", lua_tostring(L, 2));
    }
    return luaL_error(L, "no new globals: %s", lua_tostring(L, 2));
}

// __newindex of a read-only proxy; upvalue 1 is its name.
int readOnlyNewIndex(lua_State* L) {
    const char* name = lua_tostring(L, lua_upvalueindex(1));
    if (lua_type(L, 2) == LUA_TSTRING) {
        return luaL_error(L, "%s is read-only (cannot set '%s')", name, lua_tostring(L, 2));
    }
    return luaL_error(L, "%s is read-only", name);
}

// The iterator __pairs hands out; upvalue 1 is the real table, which the script never sees.
int readOnlyNext(lua_State* L) {
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)) != 0) {
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

int readOnlyPairs(lua_State* L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, &readOnlyNext, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

int readOnlyLength(lua_State* L) {
    lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, lua_upvalueindex(1))));
    return 1;
}

int sandboxLoad(lua_State* L) {
    if (lua_type(L, 1) != LUA_TSTRING) {
        return luaL_error(L, "load: only string chunks are allowed (got %s)", luaL_typename(L, 1));
    }
    size_t length = 0;
    const char* chunk = lua_tolstring(L, 1, &length);
    if (length > kMaxLoadChunkBytes) {
        return luaL_error(L, "load: chunks are limited to %d bytes",
                          static_cast<int>(kMaxLoadChunkBytes));
    }
    chargeWork(L, length);  // compiling is C work: a unit per byte of source
    const char* chunkName = luaL_optstring(L, 2, "=(load)");
    if (!lua_isnoneornil(L, 3) &&
        (lua_type(L, 3) != LUA_TSTRING || std::strcmp(lua_tostring(L, 3), "t") != 0)) {
        return luaL_error(L, "load: only text chunks (mode \"t\") are allowed");
    }
    const bool ownEnvironment = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, chunk, length, chunkName, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;  // nil, message: as the stock load
    }
    if (ownEnvironment) {
        lua_pushvalue(L, 4);
    } else {
        pushEnvironment(L);
    }
    if (lua_setupvalue(L, -2, 1) == nullptr) {
        lua_pop(L, 1);
    }
    return 1;
}

int sandboxCollectGarbage(lua_State* L) {
    const char* option = luaL_optstring(L, 1, "collect");
    if (std::strcmp(option, "count") != 0) {
        return luaL_error(L, "collectgarbage: only \"count\" is allowed in scripts");
    }
    const int kilobytes = lua_gc(L, LUA_GCCOUNT, 0);
    const int bytes = lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, static_cast<lua_Number>(kilobytes) + static_cast<lua_Number>(bytes) / 1024);
    return 1;
}

int sandboxSetMetatable(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const int type = lua_type(L, 2);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    if (type == LUA_TTABLE) {
        // Lua marks an object for finalization when its metatable has __gc at this moment (a
        // raw field); finalizers run with hooks off, so none may exist.
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in scripts");
        }
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

int sandboxRawSet(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kProtectedKey);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) != LUA_TNIL) {
        return luaL_error(L, "rawset: this table is read-only");
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

LuaBudget& budgetOf(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return *static_cast<LuaBudget*>(ud);
}

// Why xpcall, coroutine.wrap and coroutine.close are replaced: when the budget hook raises, Lua
// leaves hooks switched off on that thread until a pcall catches the error. Two things run Lua
// code in that window: the message handler of an xpcall (called before unwinding), and the
// __close handlers that coroutine.close and coroutine.wrap run on a coroutine the hook killed.
// Unwatched, either could loop forever.

// The message handler xpcall installs; upvalue 1 is the script's handler.
int guardedMessageHandler(lua_State* L) {
    if (budgetOf(L).stopped()) {
        return 1;  // the budget's error, as it is: the script's handler must not run unwatched
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

int finishXpcall(lua_State* L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;  // false, error
    }
    return lua_gettop(L) - static_cast<int>(extra);  // true, results
}

int sandboxXpcall(lua_State* L) {
    const int count = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, &guardedMessageHandler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);  // f, handler, true, f, args...
    const int status = lua_pcallk(L, count - 2, LUA_MULTRET, 2, 2, &finishXpcall);
    return finishXpcall(L, status, 2);
}

// A coroutine.wrap function; upvalue 1 is the coroutine. As the stock one, except that a
// coroutine that died from an error is not closed (its __close handlers do not run).
int wrappedResume(lua_State* L) {
    lua_State* coroutine = lua_tothread(L, lua_upvalueindex(1));
    const int count = lua_gettop(L);
    if (!lua_checkstack(coroutine, count)) {
        return luaL_error(L, "too many arguments to resume");
    }
    lua_xmove(L, coroutine, count);
    int results = 0;
    const int status = lua_resume(coroutine, L, count, &results);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, results + 1)) {
            lua_pop(coroutine, results);
            return luaL_error(L, "too many results to resume");
        }
        lua_xmove(coroutine, L, results);
        return results;
    }
    lua_xmove(coroutine, L, 1);
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

int sandboxWrap(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State* coroutine = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, coroutine, 1);
    lua_pushcclosure(L, &wrappedResume, 1);
    return 1;
}

// coroutine.close; upvalue 1 is the stock one, used for coroutines that did not die from an error.
int sandboxCoroutineClose(lua_State* L) {
    lua_State* coroutine = lua_tothread(L, 1);
    luaL_argexpected(L, coroutine != nullptr, 1, "coroutine");
    const int status = lua_status(coroutine);
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        if (lua_gettop(coroutine) > 0 && lua_checkstack(coroutine, 1)) {
            lua_pushvalue(coroutine, -1);
            lua_xmove(coroutine, L, 1);  // its error, as the stock close answers
        } else {
            lua_pushnil(L);
        }
        return 2;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

void protect(lua_State* L, int proxyIndex, int valueIndex) {
    proxyIndex = lua_absindex(L, proxyIndex);
    valueIndex = lua_absindex(L, valueIndex);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kProtectedKey);
    lua_pushvalue(L, proxyIndex);
    lua_pushvalue(L, valueIndex);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void pushReadOnlyValue(lua_State* L, const nlohmann::json& value, const char* name, int depth) {
    if (depth > kMaxJsonDepth) {
        luaL_error(L, "%s: nested deeper than %d", name, kMaxJsonDepth);
    }
    luaL_checkstack(L, 6, "config nested too deep");
    if (!value.is_object() && !value.is_array()) {
        pushJson(L, value);
        return;
    }
    lua_newtable(L);
    if (value.is_array()) {
        lua_Integer index = 0;
        for (auto element = value.begin(); element != value.end(); ++element) {
            ++index;
            if (!element->is_null()) {
                pushReadOnlyValue(L, *element, name, depth + 1);
                lua_rawseti(L, -2, index);
            }
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey);
        lua_setmetatable(L, -2);
    } else {
        for (auto field = value.begin(); field != value.end(); ++field) {
            if (field->is_null()) {
                continue;
            }
            lua_pushlstring(L, field.key().data(), field.key().size());
            pushReadOnlyValue(L, *field, name, depth + 1);
            lua_rawset(L, -3);
        }
    }
    pushReadOnly(L, -1, name);
    lua_remove(L, -2);
}

}  // namespace

void openSandbox(lua_State* L) {
    static const luaL_Reg kLibraries[] = {
        {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
    };
    for (const auto& library : kLibraries) {
        luaL_requiref(L, library.name, library.func, 1);
        lua_pop(L, 1);
    }
    installLibraryLimits(L);

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kProtectedKey);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kTimersKey);
    // The marker of JSON arrays; its __metatable keeps scripts from reaching or replacing it.
    lua_newtable(L);
    lua_pushstring(L, "json array");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey);

    lua_pushglobaltable(L);
    const int globals = lua_gettop(L);
    for (const char* removed : {"dofile", "loadfile", "require", "module"}) {
        lua_pushnil(L);
        lua_setfield(L, globals, removed);
    }
    lua_pushcfunction(L, &sandboxLoad);
    lua_setfield(L, globals, "load");
    lua_pushcfunction(L, &sandboxCollectGarbage);
    lua_setfield(L, globals, "collectgarbage");
    lua_pushcfunction(L, &sandboxSetMetatable);
    lua_setfield(L, globals, "setmetatable");
    lua_pushcfunction(L, &sandboxRawSet);
    lua_setfield(L, globals, "rawset");
    lua_pushcfunction(L, &sandboxXpcall);
    lua_setfield(L, globals, "xpcall");

    lua_getfield(L, globals, LUA_COLIBNAME);
    lua_pushcfunction(L, &sandboxWrap);
    lua_setfield(L, -2, "wrap");
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, &sandboxCoroutineClose, 1);
    lua_setfield(L, -2, "close");
    lua_pop(L, 1);

    lua_getfield(L, globals, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    installPatternFunctions(L, lua_gettop(L));
    lua_pop(L, 1);

    // The environment: always empty, so every write reaches __newindex.
    lua_newtable(L);
    const int environment = lua_gettop(L);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, globals);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, globals);
    lua_pushcclosure(L, &environmentNewIndex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushstring(L, kLocked);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, environment);
    lua_pushboolean(L, 1);
    protect(L, environment, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, environment);
    lua_setfield(L, globals, LUA_GNAME);  // _G is the environment, never the real globals
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kEnvironmentKey);
    lua_pop(L, 1);
}

void pushEnvironment(lua_State* L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kEnvironmentKey);
}

void pushReadOnly(lua_State* L, int index, const char* name) {
    index = lua_absindex(L, index);
    luaL_checkstack(L, 4, "read-only table");
    lua_newtable(L);
    const int proxy = lua_gettop(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, index);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_pushcclosure(L, &readOnlyNewIndex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, index);
    lua_pushcclosure(L, &readOnlyPairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, index);
    lua_pushcclosure(L, &readOnlyLength, 1);
    lua_setfield(L, -2, "__len");
    lua_pushstring(L, kLocked);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, proxy);
    protect(L, proxy, index);
}

void pushReadOnlyJson(lua_State* L, const nlohmann::json& value, const char* name) {
    pushReadOnlyValue(L, value, name, 0);
}

bool pushProxied(lua_State* L, int index) {
    index = lua_absindex(L, index);
    if (!lua_checkstack(L, 2)) {
        return false;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kProtectedKey);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushvalue(L, index);
    lua_rawget(L, -2);  // a table key: a lookup, no allocation
    if (lua_istable(L, -1)) {
        lua_remove(L, -2);
        return true;
    }
    lua_pop(L, 2);
    return false;
}

}  // namespace parley::lua
