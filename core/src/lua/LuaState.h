#pragma once

#include <lua.hpp>

#include <chrono>
#include <memory>

#include "lua/LuaBudget.h"

namespace parley {

// Owns one lua_State and the budget its allocator charges. Not movable: the allocator and the
// count hook find the budget by address.
class LuaState {
  public:
    // Throws std::runtime_error if Lua cannot create the state within the memory limit.
    LuaState(size_t memoryLimitBytes, int64_t instructionLimit);
    ~LuaState();
    LuaState(const LuaState&) = delete;
    LuaState& operator=(const LuaState&) = delete;

    lua_State* get() const { return state_.get(); }
    LuaBudget& budget() { return budget_; }
    bool isOpen() const { return state_ != nullptr; }

    // Closes the state now. Whatever Lua runs while closing (to-be-closed variables) runs under
    // a fresh budget of `timeBudget`, so closing is bounded like any other call.
    void close(std::chrono::milliseconds timeBudget);

  private:
    struct Closer {
        void operator()(lua_State* state) const { lua_close(state); }
    };

    LuaBudget budget_;  // declared first: destroyed after the state that allocates through it
    std::unique_ptr<lua_State, Closer> state_;
};

}  // namespace parley
