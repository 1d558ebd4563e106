#pragma once

#include "Session.h"

namespace parley::client {

// The interactive terminal client: runs until the user quits; returns the process exit code.
int runChatUi(const ConnectionOptions& options);

}  // namespace parley::client
