#include "Commands.h"

#include "Table.h"

namespace parley::client {

namespace {

std::string describeError(const nlohmann::json& reply) {
    const auto& error = reply.value("error", nlohmann::json::object());
    return error.value("code", "error") + ": " + error.value("message", "");
}

std::string text(const nlohmann::json& value) {
    if (value.is_null()) {
        return "";
    }
    return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

CommandRefused::CommandRefused(nlohmann::json reply)
    : std::runtime_error(describeError(reply)), reply_(std::move(reply)) {}

Commands::Commands(Session& session, Output output, std::chrono::milliseconds timeout)
    : session_(session), output_(output), timeout_(timeout) {}

nlohmann::json Commands::request(nlohmann::json command) {
    nlohmann::json reply = session_.call(std::move(command), timeout_);
    if (!reply.value("ok", false)) {
        throw CommandRefused(std::move(reply));
    }
    return reply;
}

std::string Commands::openDirect(const Target& target) {
    nlohmann::json command = {{"op", "conv.open"}, {"peer", target.peer}};
    if (!target.listing.empty()) {
        command["context"] = {{"type", "listing"}, {"id", target.listing}};
        if (!target.title.empty()) {
            command["context"]["title"] = target.title;
        }
    }
    return request(std::move(command)).value("conv", "");
}

void Commands::send(const Target& target, const std::string& body, const std::string& metaText,
                    const std::string& cmid) {
    const std::string conv = target.conv.empty() ? openDirect(target) : target.conv;
    nlohmann::json command = {{"op", "msg.send"},
                              {"conv", conv},
                              {"cmid", cmid.empty() ? session_.newCmid() : cmid},
                              {"body", body}};
    if (!metaText.empty()) {
        command["meta"] = nlohmann::json::parse(metaText);  // checked by the caller
    }
    const nlohmann::json reply = request(std::move(command));
    if (output_.json) {
        output_.out << reply.dump() << '\n';
    } else {
        output_.out << "sent to " << conv << ": seq " << reply.value("seq", 0LL) << '\n';
    }
}

void Commands::printMessage(const nlohmann::json& message) {
    if (output_.json) {
        output_.out << message.dump() << '\n';
        return;
    }
    output_.out << '#' << message.value("seq", 0LL) << "  " << formatTime(message.value("ts", 0LL))
                << "  " << message.value("sender", "") << ": " << message.value("body", "") << '\n';
}

void Commands::history(const std::string& conv, std::optional<long long> before,
                       std::optional<long long> after, int limit, bool all) {
    if (all && !after && !before) {
        after = 0;  // from the first message, page after page
    }
    while (true) {
        nlohmann::json command = {{"op", "msg.history"}, {"conv", conv}, {"limit", limit}};
        if (before) {
            command["before"] = *before;
        }
        if (after) {
            command["after"] = *after;
        }
        const nlohmann::json reply = request(std::move(command));
        const auto& messages = reply.at("msgs");
        for (const auto& message : messages) {
            printMessage(message);
        }
        if (!all || !reply.value("has_more", false) || messages.empty()) {
            return;
        }
        if (before && !after) {
            before = messages.front().value("seq", 0LL);  // paging back: printed newest page first
        } else {
            after = messages.back().value("seq", 0LL);
        }
    }
}

void Commands::list(int limit, const std::string& listing) {
    nlohmann::json command = {{"op", "conv.list"}, {"limit", limit}};
    if (!listing.empty()) {
        command["context"] = {{"type", "listing"}, {"id", listing}};
    }
    const nlohmann::json reply = request(std::move(command));
    if (output_.json) {
        output_.out << reply.dump() << '\n';
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& conv : reply.at("convs")) {
        std::string with;
        for (const auto& member : conv.value("members", nlohmann::json::array())) {
            const std::string uid = member.value("user", "");
            if (uid != session_.user()) {
                with += (with.empty() ? "" : ",") + uid;
            }
        }
        std::string about;
        if (conv.contains("context") && conv["context"].is_object()) {
            const auto& context = conv["context"];
            about = context.value("type", "") + " " + context.value("id", "");
            if (!text(context.value("title", nlohmann::json())).empty()) {
                about += " \"" + text(context["title"]) + "\"";
            }
            if (!text(context.value("status", nlohmann::json())).empty()) {
                about += " (" + text(context["status"]) + ")";
            }
        }
        std::string last;
        if (conv.contains("preview") && conv["preview"].is_object()) {
            last = conv["preview"].value("sender", "") + ": " + conv["preview"].value("body", "");
        }
        rows.push_back({conv.value("conv", ""), conv.value("kind", ""),
                        text(conv.value("title", nlohmann::json())), with, about,
                        std::to_string(conv.value("unread", 0LL)), last});
    }
    printTable(output_.out, {"CONV", "KIND", "TITLE", "WITH", "ABOUT", "UNREAD", "LAST"}, rows);
    output_.out << "unread total: " << reply.value("unread_total", 0LL) << '\n';
}

void Commands::open(const Target& target) {
    nlohmann::json command = {{"op", "conv.open"}, {"peer", target.peer}};
    if (!target.listing.empty()) {
        command["context"] = {{"type", "listing"}, {"id", target.listing}};
        if (!target.title.empty()) {
            command["context"]["title"] = target.title;
        }
    }
    const nlohmann::json reply = request(std::move(command));
    output_.out << (output_.json ? reply.dump() : reply.value("conv", "")) << '\n';
}

void Commands::create(const std::vector<std::string>& members, const std::string& title) {
    nlohmann::json command = {{"op", "conv.create"}, {"members", members}};
    if (!title.empty()) {
        command["title"] = title;
    }
    const nlohmann::json reply = request(std::move(command));
    output_.out << (output_.json ? reply.dump() : reply.value("conv", "")) << '\n';
}

void Commands::read(const std::string& conv, std::optional<long long> seq) {
    if (!seq) {
        const nlohmann::json summary = request({{"op", "conv.get"}, {"conv", conv}});
        seq = summary.value("last_seq", 0LL);
    }
    const nlohmann::json reply = request({{"op", "msg.read"}, {"conv", conv}, {"seq", *seq}});
    if (output_.json) {
        output_.out << reply.dump() << '\n';
    } else {
        output_.out << "read " << conv << " up to seq " << reply.value("read_seq", *seq) << '\n';
    }
}

void Commands::call(const std::string& commandText) {
    nlohmann::json command = nlohmann::json::parse(commandText);  // checked by the caller
    const nlohmann::json reply = session_.call(std::move(command), timeout_);
    output_.out << reply.dump() << '\n';
    if (!reply.value("ok", false)) {
        throw CommandRefused(reply);
    }
}

}  // namespace parley::client
