#pragma once

#include "log/LogConfig.h"

namespace parley::log {

// Makes parleyd's logger (named "parleyd", to stderr) the default, in the configured level and
// format: "text" (a human's line, coloured on a terminal) or "json" (JsonLogFormatter).
void configureLogging(const LogConfig& config);

}  // namespace parley::log
