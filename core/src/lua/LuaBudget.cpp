#include "lua/LuaBudget.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace parley {

namespace {
constexpr int kCheckEvery = 1000;
constexpr size_t kClockCheckBytes = 4 * 1024 * 1024;
}  // namespace

LuaBudget::LuaBudget(size_t memoryLimitBytes, int64_t instructionLimit)
    : memoryLimit_(memoryLimitBytes),
      instructionLimit_(std::max<int64_t>(1, instructionLimit)),
      checkEvery_(static_cast<int>(std::min<int64_t>(kCheckEvery, instructionLimit_))) {}

void* LuaBudget::allocate(void* ud, void* block, size_t oldSize, size_t newSize) noexcept {
    auto* budget = static_cast<LuaBudget*>(ud);
    // With no block, oldSize is a type tag, not a size.
    const size_t previous = block != nullptr ? oldSize : 0;
    if (newSize == 0) {
        std::free(block);  // the lua_Alloc contract is realloc/free, not new/delete
        budget->memoryUsed_ -= previous;
        return nullptr;
    }
    const bool retry = budget->refusedPending_ && budget->refusedBlock_ == block &&
                       budget->refusedOldSize_ == oldSize && budget->refusedNewSize_ == newSize;
    budget->refusedPending_ = false;
    if (newSize > previous && budget->memoryUsed_ - previous + newSize > budget->memoryLimit_) {
        // A refusal ends the call (a script's pcall must not swallow it and go on allocating)...
        if (budget->running_ && !budget->stopped_) {
            budget->stopForMemory();
            budget->stoppedByRefusal_ = true;
        }
        budget->refusedPending_ = true;
        budget->refusedBlock_ = block;
        budget->refusedOldSize_ = oldSize;
        budget->refusedNewSize_ = newSize;
        return nullptr;
    }
    void* grown = std::realloc(block, newSize);
    if (grown == nullptr) {
        return nullptr;  // the process is out of memory: Lua raises its memory error
    }
    if (retry && budget->stoppedByRefusal_) {
        // ...unless Lua's emergency collection made room and its retry of the very same request
        // fits: then nothing was raised, and no Lua code ran in between (no finalizers exist).
        budget->resume();
    }
    budget->stoppedByRefusal_ = false;
    budget->memoryUsed_ = budget->memoryUsed_ - previous + newSize;
    if (newSize > previous) {
        budget->grownSinceClockCheck_ += newSize - previous;
        if (budget->grownSinceClockCheck_ >= kClockCheckBytes) {
            // checkLimits only stops (lua_sethook stores fields): nothing raises in here.
            budget->grownSinceClockCheck_ = 0;
            budget->checkLimits();
        }
    }
    return grown;
}

void LuaBudget::attach(lua_State* mainThread) {
    mainThread_ = mainThread;
    if (mainThread_ != nullptr) {
        lua_sethook(mainThread_, &LuaBudget::countHook, LUA_MASKCOUNT, checkEvery_);
    }
}

void LuaBudget::start(std::chrono::milliseconds timeBudget) {
    running_ = true;
    stopped_ = false;
    reason_[0] = '\0';
    instructionsUsed_ = 0;
    clockCheckedAt_ = 0;
    refusedPending_ = false;
    stoppedByRefusal_ = false;
    grownSinceClockCheck_ = 0;
    timeBudgetMs_ = timeBudget.count();
    deadline_ = std::chrono::steady_clock::now() + timeBudget;
    if (mainThread_ != nullptr) {
        // A previous call may have left the hook raising at every instruction.
        lua_sethook(mainThread_, &LuaBudget::countHook, LUA_MASKCOUNT, checkEvery_);
    }
}

void LuaBudget::stop(const char* reason) {
    if (!stopped_) {
        stopped_ = true;
        if (reason != reason_) {
            std::snprintf(reason_, sizeof reason_, "%s", reason);
        }
    }
    if (mainThread_ != nullptr) {
        // lua_sethook only stores fields (it is safe even inside the allocator): the main thread
        // now raises at its very next instruction; other coroutines at their next check.
        lua_sethook(mainThread_, &LuaBudget::countHook, LUA_MASKCOUNT, 1);
    }
}

void LuaBudget::stopForMemory() {
    if (!stopped_) {
        std::snprintf(reason_, sizeof reason_, "memory limit of %zu bytes exceeded", memoryLimit_);
        stop(reason_);
    }
}

void LuaBudget::resume() {
    stopped_ = false;
    reason_[0] = '\0';
    if (mainThread_ != nullptr) {
        lua_sethook(mainThread_, &LuaBudget::countHook, LUA_MASKCOUNT, checkEvery_);
    }
}

void LuaBudget::checkLimits() {
    if (abandoned()) {
        stop(kAbandonedReason);
        return;
    }
    if (stopped_ || !running_) {
        return;
    }
    if (instructionsUsed_ > static_cast<uint64_t>(instructionLimit_)) {
        std::snprintf(reason_, sizeof reason_, "instruction limit of %lld exceeded",
                      static_cast<long long>(instructionLimit_));
        stop(reason_);
    } else if (std::chrono::steady_clock::now() > deadline_) {
        std::snprintf(reason_, sizeof reason_, "time budget of %lld ms exceeded",
                      static_cast<long long>(timeBudgetMs_));
        stop(reason_);
    }
}

bool LuaBudget::charge(uint64_t instructions) {
    instructionsUsed_ += instructions;
    // The clock as often as the count hook reads it: every checkEvery_ instructions (a charge of
    // that much work or more reads it at once).
    if (instructionsUsed_ - clockCheckedAt_ >= static_cast<uint64_t>(checkEvery_) ||
        instructionsUsed_ > static_cast<uint64_t>(instructionLimit_) || abandoned()) {
        clockCheckedAt_ = instructionsUsed_;
        checkLimits();
    }
    return !stopped();
}

void LuaBudget::countHook(lua_State* L, lua_Debug*) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    auto* budget = static_cast<LuaBudget*>(ud);
    if (!budget->stopped_) {
        budget->instructionsUsed_ += static_cast<uint64_t>(lua_gethookcount(L));
        budget->checkLimits();
    }
    if (budget->stopped_ && (budget->running_ || budget->abandoned())) {
        lua_sethook(L, &LuaBudget::countHook, LUA_MASKCOUNT, 1);
        if (budget->mainThread_ != nullptr) {
            lua_sethook(budget->mainThread_, &LuaBudget::countHook, LUA_MASKCOUNT, 1);
        }
        luaL_error(L, "%s", budget->reason_);
        return;
    }
    if (lua_gethookcount(L) != budget->checkEvery_) {
        // A coroutine stopped in an earlier call still counts every instruction: back to normal.
        lua_sethook(L, &LuaBudget::countHook, LUA_MASKCOUNT, budget->checkEvery_);
    }
}

}  // namespace parley
