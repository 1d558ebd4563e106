#pragma once

#include <string>

namespace parley {

struct LogConfig {
    std::string level = "info";
    // "text": one line for a human; "json": one JSON object per line for log shippers.
    std::string format = "text";
};

}  // namespace parley
