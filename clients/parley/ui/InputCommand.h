#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client::ui {

// What a submitted input line asks for: a message to the open conversation, or one of the
// slash commands (/help lists them).
struct InputCommand {
    enum class Kind {
        Empty,    // nothing to do
        Message,  // `text` to the open conversation ("//x" sends "/x")
        Open,     // /open <user> [<context type> <context id> [title...]]
        Group,    // /group <user,user,...> [title...]
        Name,     // /name <display name>: profile.set ("" clears it)
        Help,     // /help
        Quit,     // /quit
        Invalid,  // `error` says why
    };

    Kind kind = Kind::Empty;
    std::string text;
    std::string peer;
    std::string contextType;  // empty: no context
    std::string contextId;
    std::string title;
    std::vector<std::string> members;
    std::string error;

    static InputCommand parse(std::string_view line);
};

}  // namespace parley::client::ui
