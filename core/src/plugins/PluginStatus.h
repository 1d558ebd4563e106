#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "parley/plugin.h"
#include "protocol/ErrorCode.h"

namespace parley {

// What a host function returns for a ProtocolError the services threw.
parley_status statusOf(ErrorCode code);

// "status -6 (PARLEY_ERR_FORBIDDEN)", for logs and failure reasons.
std::string describeStatus(int status);

// The codes host->reject accepts (plugin.h lists them), by their wire name.
std::optional<ErrorCode> rejectCodeByName(std::string_view name);

}  // namespace parley
