#include "lua/LuaLibraryLimits.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "lua/LuaBudget.h"
#include "lua/LuaSupport.h"

// Every function here is a lua_CFunction that raises: only trivially destructible locals (the
// longjmp rule of LuaSupport.h). Wrappers keep the stock function as upvalue 1 and call it on
// their own stack frame (none of the wrapped functions reads an upvalue of its own).
namespace parley::lua {

namespace {

// How much work a loop does between two charges: rare enough to cost nothing, often enough that
// the clock is read every few microseconds of work.
constexpr uint64_t kChargeBatch = 256;
// Short copies (a byte or two) per unit, for string.rep's loop.
constexpr uint64_t kCopiesPerUnit = 4;

uint64_t unitsOfBytes(size_t bytes) {
    return bytes / kBytesPerUnit;
}

LuaBudget& budgetOf(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return *static_cast<LuaBudget*>(ud);
}

// Work counted as a loop goes, charged every kChargeBatch units.
struct WorkMeter {
    lua_State* L;
    uint64_t pending = 0;

    void tick(uint64_t units = 1) {
        pending += units;
        if (pending >= kChargeBatch) {
            flush();
        }
    }
    void flush() {
        if (pending > 0) {
            const uint64_t units = pending;
            pending = 0;
            chargeWork(L, units);
        }
    }
};
static_assert(std::is_trivially_destructible_v<WorkMeter>, "Lua may longjmp over a WorkMeter");

int callStock(lua_State* L) {
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

size_t stringLength(lua_State* L, int index) {
    return lua_type(L, index) == LUA_TSTRING ? lua_rawlen(L, index) : 0;
}

// Lua's relative string position: negative counts from the end (-1 is the last byte).
lua_Integer relativePosition(lua_Integer position, size_t length) {
    if (position >= 0) {
        return position;
    }
    if (0U - static_cast<size_t>(position) > length) {
        return 0;
    }
    return static_cast<lua_Integer>(length) + position + 1;
}

// ---- string -------------------------------------------------------------------------------

// string.rep(s, n [, sep]): refused at once if the result cannot fit the memory the script has
// left; "" without looping when the result is empty (the stock loop would run n times anyway).
int limitedRep(lua_State* L) {
    size_t length = 0;
    size_t separatorLength = 0;
    luaL_checklstring(L, 1, &length);
    const lua_Integer count = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &separatorLength);
    if (count <= 0 || (length == 0 && separatorLength == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    const auto total =
        static_cast<unsigned __int128>(count) * (length + separatorLength) - separatorLength;
    LuaBudget& budget = budgetOf(L);
    if (total > budget.memoryLimit()) {
        // What allocating it would end in, without the 2^63 turns of a loop first. (Below the
        // limit the allocation itself decides, after a collection if need be.)
        budget.stopForMemory();
        chargeWork(L, 0);  // raises the stop
    }
    // The bytes written, and the loop: one copy of s and sep per repetition, cheaper than an
    // instruction when they are short.
    chargeWork(L, static_cast<uint64_t>(count) / kCopiesPerUnit +
                      unitsOfBytes(static_cast<size_t>(total)));
    return callStock(L);
}

// string.format(fmt, ...): each argument is read once (a %s may scan all of it, even with a
// precision), and the result is written once.
int limitedFormat(lua_State* L) {
    const int arguments = lua_gettop(L);
    size_t read = 0;
    for (int i = 1; i <= arguments; ++i) {
        read += stringLength(L, i);
    }
    chargeWork(L, static_cast<uint64_t>(arguments) + unitsOfBytes(read));
    const int results = callStock(L);
    chargeWork(L, unitsOfBytes(stringLength(L, -1)));
    return results;
}

// Functions whose work is their result's (sub, and the results of byte and char).
int limitedByResult(lua_State* L) {
    const int arguments = lua_gettop(L);
    const int results = callStock(L);
    uint64_t units = 1 + static_cast<uint64_t>(arguments) + static_cast<uint64_t>(results);
    for (int i = 0; i < results; ++i) {
        units += unitsOfBytes(stringLength(L, -1 - i));
    }
    chargeWork(L, units);
    return results;
}

// Functions that read their first argument whole (upper, lower, reverse, packsize, tonumber).
int limitedByFirstArgument(lua_State* L) {
    chargeWork(L, 1 + unitsOfBytes(stringLength(L, 1)));
    return callStock(L);
}

// string.pack(fmt, ...): the format is read once, each value once, the result written once.
int limitedPack(lua_State* L) {
    const int arguments = lua_gettop(L);
    chargeWork(L, static_cast<uint64_t>(arguments) + unitsOfBytes(stringLength(L, 1)));
    const int results = callStock(L);
    chargeWork(L, unitsOfBytes(stringLength(L, -1)));
    return results;
}

// string.unpack(fmt, s [, pos]): the format is read once and the data from pos to where it
// stopped (its last result), each value pushed once.
int limitedStringUnpack(lua_State* L) {
    const size_t dataLength = stringLength(L, 2);
    const lua_Integer start =
        relativePosition(lua_type(L, 3) == LUA_TNUMBER ? lua_tointeger(L, 3) : 1, dataLength);
    chargeWork(L, 1 + unitsOfBytes(stringLength(L, 1)));
    const int results = callStock(L);
    const lua_Integer next = results > 0 ? lua_tointeger(L, -1) : start;
    chargeWork(L, static_cast<uint64_t>(results) +
                      unitsOfBytes(static_cast<size_t>(std::max<lua_Integer>(0, next - start))));
    return results;
}

// The string metatable's arithmetic (s + 1 converts s to a number: a scan of all of it).
int limitedStringArithmetic(lua_State* L) {
    chargeWork(L, 1 + unitsOfBytes(stringLength(L, 1) + stringLength(L, 2)));
    return callStock(L);
}

// ---- utf8 ---------------------------------------------------------------------------------

// utf8.len(s [, i [, j]]): reads bytes i..j.
int limitedUtf8Len(lua_State* L) {
    const size_t length = stringLength(L, 1);
    const lua_Integer first =
        relativePosition(lua_type(L, 2) == LUA_TNUMBER ? lua_tointeger(L, 2) : 1, length);
    const lua_Integer last =
        relativePosition(lua_type(L, 3) == LUA_TNUMBER ? lua_tointeger(L, 3) : -1, length);
    const lua_Integer span =
        std::clamp<lua_Integer>(last - first + 1, 0, static_cast<lua_Integer>(length));
    chargeWork(L, 1 + unitsOfBytes(static_cast<size_t>(span)));
    return callStock(L);
}

// utf8.offset(s, n [, i]): walks from i to the answer (or to an end of s).
int limitedUtf8Offset(lua_State* L) {
    const size_t length = stringLength(L, 1);
    const lua_Integer n = lua_type(L, 2) == LUA_TNUMBER ? lua_tointeger(L, 2) : 0;
    const lua_Integer from = relativePosition(
        lua_type(L, 3) == LUA_TNUMBER ? lua_tointeger(L, 3)
                                      : (n >= 0 ? 1 : static_cast<lua_Integer>(length) + 1),
        length);
    const int results = callStock(L);  // the position (and in later 5.4 its end), or fail
    lua_Integer walked = static_cast<lua_Integer>(length);
    if (results >= 1 && lua_isinteger(L, -results)) {
        walked = lua_tointeger(L, -results) - from;
        walked = walked < 0 ? -walked : walked;
    }
    chargeWork(L, 1 + unitsOfBytes(static_cast<size_t>(walked)));
    return results;
}

// The iterator utf8.codes hands out; upvalue 1 is the stock one. Each step skips to the next
// character: charged by the bytes it passed.
int limitedCodesStep(lua_State* L) {
    const size_t length = stringLength(L, 1);
    const lua_Integer from = lua_type(L, 2) == LUA_TNUMBER ? lua_tointeger(L, 2) : 0;
    const int results = callStock(L);
    const lua_Integer to =
        results > 0 ? lua_tointeger(L, -results) : static_cast<lua_Integer>(length);
    chargeWork(L, 1 + unitsOfBytes(static_cast<size_t>(std::max<lua_Integer>(0, to - from))));
    return results;
}

int limitedCodes(lua_State* L) {
    const int results = callStock(L);  // iterator, s, 0
    if (results >= 1 && lua_iscfunction(L, -results)) {
        lua_pushvalue(L, -results);
        lua_pushcclosure(L, &limitedCodesStep, 1);
        lua_replace(L, -results - 1);
    }
    return results;
}

// ---- table ----------------------------------------------------------------------------------

// Like the stock check: a table, or a value whose metatable has the fields the operation needs.
void checkTableLike(lua_State* L, int index, bool reads, bool writes, bool length) {
    if (lua_type(L, index) == LUA_TTABLE) {
        return;
    }
    bool ok = lua_getmetatable(L, index) != 0;
    if (ok) {
        const int metatable = lua_gettop(L);
        for (const auto& [needed, field] :
             {std::pair{reads, "__index"}, std::pair{writes, "__newindex"},
              std::pair{length, "__len"}}) {
            if (needed && ok) {
                lua_pushstring(L, field);
                ok = lua_rawget(L, metatable) != LUA_TNIL;
                lua_pop(L, 1);
            }
        }
        lua_settop(L, metatable - 1);
    }
    if (!ok) {
        luaL_typeerror(L, index, "table");
    }
}

// table.concat(t [, sep [, i [, j]]])
int limitedConcat(lua_State* L) {
    checkTableLike(L, 1, true, false, lua_isnoneornil(L, 4));
    size_t separatorLength = 0;
    const char* separator = luaL_optlstring(L, 2, "", &separatorLength);
    lua_Integer index = luaL_optinteger(L, 3, 1);
    const lua_Integer last = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
    WorkMeter meter{L};
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    for (; index <= last; ++index) {
        lua_geti(L, 1, index);
        if (!lua_isstring(L, -1)) {
            return luaL_error(L, "invalid value (at index %I) in table for 'concat'", index);
        }
        size_t length = 0;
        lua_tolstring(L, -1, &length);
        meter.tick(1 + unitsOfBytes(length + separatorLength));
        luaL_addvalue(&buffer);
        if (index == last) {
            break;  // also keeps index from overflowing when last is math.maxinteger
        }
        luaL_addlstring(&buffer, separator, separatorLength);
    }
    meter.flush();
    luaL_pushresult(&buffer);
    return 1;
}

// table.insert(t, [pos,] value)
int limitedInsert(lua_State* L) {
    checkTableLike(L, 1, true, true, true);
    // The first empty slot (wrapping as the stock one does, should __len say math.maxinteger).
    const auto end = static_cast<lua_Integer>(static_cast<lua_Unsigned>(luaL_len(L, 1)) + 1U);
    lua_Integer position = end;
    switch (lua_gettop(L)) {
        case 2:
            break;
        case 3: {
            position = luaL_checkinteger(L, 2);
            // As the stock one: 1 <= position <= end, as unsigned so that 0 fails too.
            luaL_argcheck(L,
                          static_cast<lua_Unsigned>(position) - 1U < static_cast<lua_Unsigned>(end),
                          2, "position out of bounds");
            WorkMeter meter{L};
            for (lua_Integer i = end; i > position; --i) {
                lua_geti(L, 1, i - 1);
                lua_seti(L, 1, i);
                meter.tick();
            }
            meter.flush();
            break;
        }
        default:
            return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, position);
    return 0;
}

// table.remove(t [, pos])
int limitedRemove(lua_State* L) {
    checkTableLike(L, 1, true, true, true);
    const lua_Integer size = luaL_len(L, 1);
    lua_Integer position = luaL_optinteger(L, 2, size);
    if (position != size) {
        luaL_argcheck(L,
                      static_cast<lua_Unsigned>(position) - 1U <= static_cast<lua_Unsigned>(size),
                      2, "position out of bounds");
    }
    lua_geti(L, 1, position);  // the result
    WorkMeter meter{L};
    for (; position < size; ++position) {
        lua_geti(L, 1, position + 1);
        lua_seti(L, 1, position);
        meter.tick();
    }
    meter.flush();
    lua_pushnil(L);
    lua_seti(L, 1, position);
    return 1;
}

// table.move(a1, f, e, t [, a2])
int limitedMove(lua_State* L) {
    const lua_Integer first = luaL_checkinteger(L, 2);
    const lua_Integer last = luaL_checkinteger(L, 3);
    const lua_Integer target = luaL_checkinteger(L, 4);
    const int destination = lua_isnoneornil(L, 5) ? 1 : 5;
    checkTableLike(L, 1, true, false, false);
    checkTableLike(L, destination, false, true, false);
    if (last >= first) {
        luaL_argcheck(L, first > 0 || last < LUA_MAXINTEGER + first, 3,
                      "too many elements to move");
        const lua_Integer count = last - first + 1;
        luaL_argcheck(L, target <= LUA_MAXINTEGER - count + 1, 4, "destination wrap around");
        WorkMeter meter{L};
        const bool forward = target > last || target <= first ||
                             (destination != 1 && lua_compare(L, 1, destination, LUA_OPEQ) == 0);
        for (lua_Integer i = 0; i < count; ++i) {
            const lua_Integer offset = forward ? i : count - 1 - i;
            lua_geti(L, 1, first + offset);
            lua_seti(L, destination, target + offset);
            meter.tick();
        }
        meter.flush();
    }
    lua_pushvalue(L, destination);
    return 1;
}

// table.unpack(t [, i [, j]])
int limitedTableUnpack(lua_State* L) {
    lua_Integer index = luaL_optinteger(L, 2, 1);
    const lua_Integer last = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
    if (index > last) {
        return 0;
    }
    const lua_Unsigned count = static_cast<lua_Unsigned>(last) - static_cast<lua_Unsigned>(index);
    if (count >= static_cast<lua_Unsigned>(INT32_MAX) ||
        !lua_checkstack(L, static_cast<int>(count + 1))) {
        return luaL_error(L, "too many results to unpack");
    }
    WorkMeter meter{L};
    for (; index < last; ++index) {
        lua_geti(L, 1, index);
        meter.tick();
    }
    lua_geti(L, 1, last);
    meter.flush();
    return static_cast<int>(count + 1);
}

// table.pack(...)
int limitedTablePack(lua_State* L) {
    chargeWork(L, 1 + static_cast<uint64_t>(lua_gettop(L)));
    return callStock(L);
}

// The comparator table.sort calls; upvalue 1 is the script's comparator (or nil for <). Each
// comparison is charged, with what comparing two strings reads.
int chargedComparison(lua_State* L) {
    uint64_t units = 1;
    if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
        units += unitsOfBytes(std::min(lua_rawlen(L, 1), lua_rawlen(L, 2)));
    }
    chargeWork(L, units);
    if (lua_isnil(L, lua_upvalueindex(1))) {
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

// table.sort(t [, comp]): every comparison of the stock sort goes through chargedComparison,
// so its work (n log n comparisons, or whatever a bad comparator makes of it) is charged.
int limitedSort(lua_State* L) {
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
    }
    lua_settop(L, 2);
    lua_pushcclosure(L, &chargedComparison, 1);  // takes the comparator: t, closure
    return callStock(L);
}

// ---- installing -----------------------------------------------------------------------------

void wrap(lua_State* L, int table, const char* name, lua_CFunction limited) {
    lua_getfield(L, table, name);
    if (!lua_iscfunction(L, -1)) {
        lua_pop(L, 1);
        luaL_error(L, "sandbox: %s is not the stock C function", name);
    }
    lua_pushcclosure(L, limited, 1);
    lua_setfield(L, table, name);
}

void replace(lua_State* L, int table, const char* name, lua_CFunction limited) {
    lua_pushcfunction(L, limited);
    lua_setfield(L, table, name);
}

}  // namespace

void installLibraryLimits(lua_State* L) {
    lua_pushglobaltable(L);
    const int globals = lua_gettop(L);

    lua_getfield(L, globals, LUA_STRLIBNAME);
    const int string = lua_gettop(L);
    wrap(L, string, "rep", &limitedRep);
    wrap(L, string, "format", &limitedFormat);
    wrap(L, string, "byte", &limitedByResult);
    wrap(L, string, "char", &limitedByResult);
    wrap(L, string, "sub", &limitedByResult);
    wrap(L, string, "upper", &limitedByFirstArgument);
    wrap(L, string, "lower", &limitedByFirstArgument);
    wrap(L, string, "reverse", &limitedByFirstArgument);
    wrap(L, string, "packsize", &limitedByFirstArgument);
    wrap(L, string, "pack", &limitedPack);
    wrap(L, string, "unpack", &limitedStringUnpack);

    // The metatable of strings: s + 1 and friends convert s in C.
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1) != 0) {
        const int metatable = lua_gettop(L);
        for (const char* event :
             {"__add", "__sub", "__mul", "__mod", "__pow", "__div", "__idiv", "__unm"}) {
            lua_getfield(L, metatable, event);
            const bool stock = lua_iscfunction(L, -1) != 0;
            lua_pop(L, 1);
            if (stock) {
                wrap(L, metatable, event, &limitedStringArithmetic);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);  // "", the string table

    lua_getfield(L, globals, LUA_TABLIBNAME);
    const int table = lua_gettop(L);
    replace(L, table, "concat", &limitedConcat);
    replace(L, table, "insert", &limitedInsert);
    replace(L, table, "remove", &limitedRemove);
    replace(L, table, "move", &limitedMove);
    replace(L, table, "unpack", &limitedTableUnpack);
    wrap(L, table, "pack", &limitedTablePack);
    wrap(L, table, "sort", &limitedSort);
    lua_pop(L, 1);

    lua_getfield(L, globals, LUA_UTF8LIBNAME);
    const int utf8 = lua_gettop(L);
    wrap(L, utf8, "char", &limitedByResult);
    wrap(L, utf8, "codepoint", &limitedByResult);
    wrap(L, utf8, "len", &limitedUtf8Len);
    wrap(L, utf8, "offset", &limitedUtf8Offset);
    wrap(L, utf8, "codes", &limitedCodes);
    lua_pop(L, 1);

    wrap(L, globals, "tonumber", &limitedByFirstArgument);
    lua_pop(L, 1);
}

}  // namespace parley::lua
