#pragma once

#include <string>

#include "parley/plugin.h"
#include "protocol/ErrorCode.h"

namespace parley {

// What a host function returns for a ProtocolError the services threw.
parley_status statusOf(ErrorCode code);

// "status -6 (PARLEY_ERR_FORBIDDEN)", for logs and failure reasons.
std::string describeStatus(int status);

}  // namespace parley
