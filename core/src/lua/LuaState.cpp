#include "lua/LuaState.h"

#include <stdexcept>

namespace parley {

namespace {
// What lua_close may take (to-be-closed variables of the main thread) when the caller gives none.
constexpr std::chrono::milliseconds kDefaultCloseBudget{1000};
}  // namespace

LuaState::LuaState(size_t memoryLimitBytes, int64_t instructionLimit)
    : budget_(memoryLimitBytes, instructionLimit),
      state_(lua_newstate(&LuaBudget::allocate, &budget_)) {
    if (!state_) {
        throw std::runtime_error("cannot create a Lua state within the memory limit");
    }
    budget_.attach(state_.get());
}

LuaState::~LuaState() {
    close(kDefaultCloseBudget);
}

void LuaState::close(std::chrono::milliseconds timeBudget) {
    if (!state_) {
        return;
    }
    budget_.start(timeBudget);
    state_.reset();
    budget_.finish();
    budget_.attach(nullptr);
}

}  // namespace parley
