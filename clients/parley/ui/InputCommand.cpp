#include "InputCommand.h"

#include <sstream>

namespace parley::client::ui {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    while (!text.empty() && text.back() == ' ') {
        text.remove_suffix(1);
    }
    return text;
}

// Splits off the first word; `rest` keeps the remainder untouched (titles keep their spacing).
std::string nextWord(std::string_view& rest) {
    rest = trim(rest);
    const size_t space = rest.find(' ');
    std::string word(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view() : trim(rest.substr(space));
    return word;
}

InputCommand invalid(std::string error) {
    InputCommand command;
    command.kind = InputCommand::Kind::Invalid;
    command.error = std::move(error);
    return command;
}

}  // namespace

InputCommand InputCommand::parse(std::string_view line) {
    InputCommand command;
    if (trim(line).empty()) {
        return command;
    }
    if (line.front() != '/' || line.rfind("//", 0) == 0) {
        command.kind = Kind::Message;
        command.text = std::string(line.front() == '/' ? line.substr(1) : line);
        return command;
    }
    std::string_view rest = line.substr(1);
    const std::string name = nextWord(rest);
    if (name == "help" || name == "h" || name == "?") {
        command.kind = Kind::Help;
    } else if (name == "quit" || name == "q" || name == "exit") {
        command.kind = Kind::Quit;
    } else if (name == "open" || name == "o") {
        command.peer = nextWord(rest);
        if (command.peer.empty()) {
            return invalid("usage: /open <user> [<context type> <context id> [title]]");
        }
        if (!rest.empty()) {
            command.contextType = nextWord(rest);
            command.contextId = nextWord(rest);
            if (command.contextId.empty()) {
                return invalid("usage: /open " + command.peer + " " + command.contextType +
                               " <id> [title]");
            }
            command.title = std::string(rest);
        }
        command.kind = Kind::Open;
    } else if (name == "group" || name == "g") {
        std::string list = nextWord(rest);
        std::stringstream members(list);
        for (std::string member; std::getline(members, member, ',');) {
            if (!member.empty()) {
                command.members.push_back(member);
            }
        }
        if (command.members.empty()) {
            return invalid("usage: /group <user,user,...> [title]");
        }
        command.title = std::string(rest);
        command.kind = Kind::Group;
    } else if (name == "name") {
        command.title = std::string(rest);
        command.kind = Kind::Name;
    } else {
        return invalid("unknown command /" + name + " (/help lists them; //text sends \"/text\")");
    }
    return command;
}

}  // namespace parley::client::ui
