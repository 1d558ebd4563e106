#include "lua/LuaSupport.h"

#include <cstdio>
#include <stdexcept>

#include "lua/LuaBudget.h"
#include "protocol/ErrorCode.h"
#include "store/Store.h"

namespace parley::lua {

namespace {
constexpr size_t kMaxErrorText = 2000;

[[noreturn]] void typeError(lua_State* L, int index, const char* function, const char* what,
                            const char* expected) {
    luaL_error(L, "%s: %s must be %s (got %s)", function, what, expected, luaL_typename(L, index));
    __builtin_unreachable();  // luaL_error does not return (longjmp)
}
}  // namespace

void chargeWork(lua_State* L, uint64_t units) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    auto* budget = static_cast<LuaBudget*>(ud);
    if (!budget->charge(units)) {
        // This coroutine too must raise at its next instruction, should the error be caught.
        lua_sethook(L, &LuaBudget::countHook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", budget->stopReason());
    }
}

std::string errorObjectText(lua_State* L, int index) {
    if (lua_type(L, index) != LUA_TSTRING) {
        return std::string("(error object: ") + lua_typename(L, lua_type(L, index)) + ")";
    }
    size_t length = 0;
    const char* text = lua_tolstring(L, index, &length);  // a string: no conversion, no allocation
    if (length > kMaxErrorText) {
        return std::string(text, kMaxErrorText) + "...";
    }
    return std::string(text, length);
}

void formatException(char (&buffer)[kErrorBytes], const std::exception& error) {
    if (const auto* protocol = dynamic_cast<const ProtocolError*>(&error)) {
        const std::string_view code = errorCodeName(protocol->code());
        std::snprintf(buffer, kErrorBytes, "%.*s: %s", static_cast<int>(code.size()), code.data(),
                      protocol->what());
    } else if (dynamic_cast<const std::invalid_argument*>(&error) != nullptr) {
        // The script's own mistake, already worded for it ("parley.send: event: ...").
        std::snprintf(buffer, kErrorBytes, "%s", error.what());
    } else if (dynamic_cast<const store::StoreUnavailable*>(&error) != nullptr) {
        std::snprintf(buffer, kErrorBytes, "unavailable: %s", error.what());
    } else {
        std::snprintf(buffer, kErrorBytes, "internal: %s", error.what());
    }
}

const char* checkString(lua_State* L, int index, const char* function, const char* what,
                        size_t* length) {
    if (lua_type(L, index) != LUA_TSTRING) {
        typeError(L, index, function, what, "a string");
    }
    return lua_tolstring(L, index, length);
}

const char* optString(lua_State* L, int index, const char* function, const char* what,
                      size_t* length) {
    if (lua_isnoneornil(L, index)) {
        if (length != nullptr) {
            *length = 0;
        }
        return nullptr;
    }
    return checkString(L, index, function, what, length);
}

lua_Integer checkInteger(lua_State* L, int index, const char* function, const char* what) {
    int isInteger = 0;
    const lua_Integer value = lua_tointegerx(L, index, &isInteger);
    if (lua_type(L, index) != LUA_TNUMBER || !isInteger) {
        typeError(L, index, function, what, "an integer");
    }
    return value;
}

lua_Integer optInteger(lua_State* L, int index, const char* function, const char* what,
                       lua_Integer fallback) {
    return lua_isnoneornil(L, index) ? fallback : checkInteger(L, index, function, what);
}

void checkFunction(lua_State* L, int index, const char* function, const char* what) {
    if (lua_type(L, index) != LUA_TFUNCTION) {
        typeError(L, index, function, what, "a function");
    }
}

void checkTable(lua_State* L, int index, const char* function, const char* what) {
    if (lua_type(L, index) != LUA_TTABLE) {
        typeError(L, index, function, what, "a table");
    }
}

}  // namespace parley::lua
