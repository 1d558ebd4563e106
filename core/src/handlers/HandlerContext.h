#pragma once

#include "chat/ChatRules.h"
#include "hooks/HookBus.h"
#include "protocol/Outbox.h"
#include "store/Store.h"
#include "util/Clock.h"

namespace parley {

// What every handler works with. Handlers depend on these interfaces only, so unit tests run them
// with an in-memory transport and an in-memory SQLite store.
struct HandlerContext {
    const ChatRules& rules;
    store::Store& store;
    Outbox& outbox;
    const HookBus& hooks;
    const Clock& clock;
};

}  // namespace parley
