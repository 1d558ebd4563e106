#include "log/Logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "log/JsonLogFormatter.h"

namespace parley::log {

void configureLogging(const LogConfig& config) {
    if (config.format == "json") {
        // No colour codes: a shipper parses every byte of the line.
        auto logger = spdlog::stderr_logger_mt("parleyd");
        logger->set_formatter(std::make_unique<JsonLogFormatter>());
        spdlog::set_default_logger(logger);
    } else {
        spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_level(spdlog::level::from_str(config.level));
}

}  // namespace parley::log
