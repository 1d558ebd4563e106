#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace parley::log {

// log.format: json. One JSON object per line, for log shippers:
//   {"ts":"2026-11-21T08:33:10.120Z","level":"info","logger":"parleyd","component":"command",
//    "msg":"command refused: ...","thread":1234,"uid":"alice","op":"msg.send","id":"7",
//    "conv":"c...","code":"forbidden"}
// ts is UTC with milliseconds; the fields after "thread" come from LogFields (present when the
// line is about a command). docs/operations.md lists the components.
class JsonLogFormatter : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;

    // Formats one line (with its '\n') as format() does, with these fields instead of the
    // thread's; for tests.
    static std::string line(const spdlog::details::log_msg& message);
};

// The area a message is about, from the prefix parleyd's messages start with by convention
// ("store: ...", "transport: ...", "plugin 'x': ...", "[x] ..." from an extension): "store",
// "transport", "http", "extension", ...; "command" for other lines written while a command runs;
// "parleyd" for the rest (start, stop, signals). `extension` is set to the extension's name when
// the line is about one.
std::string componentOf(const std::string& message, bool inCommand, std::string& extension);

}  // namespace parley::log
