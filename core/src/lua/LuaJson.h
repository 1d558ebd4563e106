#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>

// JSON <-> Lua. Objects are tables with string keys, arrays are sequences 1..n, null is nil (a
// null field is absent; a null array element leaves a hole), integers stay integers. Tables made
// from JSON arrays carry a marker metatable, so an empty one encodes back as [] (and
// parley.json.array() marks a table of the script's); any other empty table encodes as {}.
// Nesting deeper than 32 and cycles are refused, and so is a value whose JSON would take more
// than the script's memory limit (a table holding the same big table many times over); the
// conversion is charged to the script's budget.
namespace parley::lua {

constexpr int kMaxJsonDepth = 32;

// A Lua value that has no JSON form (a function, a cycle, mixed keys...): the script's mistake,
// hence an invalid_argument (whose text the API raises as it is).
class JsonConversionError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Pushes `value` as a Lua value. Raises (memory, depth): call it only under lua_pcall with no
// C++ object of the caller in between (protectedPush, or a protected call body).
void pushJson(lua_State* L, const nlohmann::json& value);

// The value at `index` as JSON. Reads only, never raises a Lua error (no allocation in Lua):
// safe in C++ scopes. Throws JsonConversionError.
nlohmann::json toJson(lua_State* L, int index);

}  // namespace parley::lua
