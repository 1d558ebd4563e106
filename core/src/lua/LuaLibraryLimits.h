#pragma once

#include <lua.hpp>

#include <cstddef>

// Bounds on the C functions of Lua's standard libraries. The count hook that enforces a script's
// budget runs between VM instructions; a library function is one instruction, however long it
// works in C. `string.rep("", math.maxinteger)` loops 2^63 times without allocating a byte, and
// `table.move({}, 1, 1 << 50, 2)` moves 2^50 nils: no budget ever saw them. Each function below
// either refuses what cannot fit before it starts, or charges its work to the script's budget as
// it goes (and so stops, with the budget's error, at the budget's instruction or time limit).
// docs/extending.md ("The sandbox's limits") lists every library function and its bound.
namespace parley::lua {

// What a unit of C work is, charged as one instruction: one table element read, written, moved
// or pushed, one value converted, or kBytesPerUnit bytes of a string scanned, copied or
// compared. A unit costs about what a VM instruction does, so a library call weighs about what
// the Lua loop doing the same work would.
constexpr size_t kBytesPerUnit = 16;

// Replaces, in the opened libraries, the functions whose work an argument can make huge or that
// work longer than an instruction: string.rep, format, byte, char, sub, upper, lower, reverse,
// pack, packsize, unpack and the string arithmetic metamethods; table.concat, insert, remove,
// move, pack, unpack, sort; utf8.char, codepoint, len, offset, codes; tonumber. Call once after
// the libraries are open (raises: under lua_pcall).
void installLibraryLimits(lua_State* L);

}  // namespace parley::lua
