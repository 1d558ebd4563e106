#include "Rendering.h"

#include <algorithm>

#include "Table.h"

namespace parley::ctl {

using nlohmann::json;

namespace {

std::string time(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_number() ? client::formatTime(found->get<long long>())
                                                       : "-";
}

std::string presence(const json& user) {
    const json& state = user.value("presence", json::object());
    std::string text = cell(state, "state");
    if (state.contains("last_seen") && state["last_seen"].is_number()) {
        text += ", last seen " + time(state, "last_seen");
    }
    return text;
}

// "listing:42" for a conversation's context, "-" without one.
std::string contextOf(const json& object) {
    const auto found = object.find("context");
    if (found == object.end() || !found->is_object()) {
        return "-";
    }
    return cell(*found, "type") + ":" + cell(*found, "id");
}

// Every field but the ones a table shows in its own columns, as key=value.
std::string otherFields(const json& entry, const std::vector<std::string>& shown) {
    std::string text;
    for (const auto& [key, value] : entry.items()) {
        if (std::find(shown.begin(), shown.end(), key) != shown.end()) {
            continue;
        }
        const bool isTime =
            value.is_number_integer() &&
            (key == "until" || key == "ts" || key.ends_with("_at") || key.ends_with("_until"));
        text += (text.empty() ? "" : " ") + key + "=" +
                (isTime              ? client::formatTime(value.get<long long>())
                 : value.is_string() ? value.get<std::string>()
                                     : value.dump());
    }
    return text;
}

}  // namespace

std::string cell(const json& object, const char* key) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) {
        return "-";
    }
    if (found->is_string()) {
        const auto& text = found->get_ref<const std::string&>();
        return text.empty() ? "-" : text;
    }
    return found->dump();
}

void printFields(std::ostream& out,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
    size_t width = 0;
    for (const auto& field : fields) {
        width = std::max(width, field.first.size());
    }
    for (const auto& [label, value] : fields) {
        out << label << std::string(width - label.size() + 2, ' ') << value << '\n';
    }
}

void printUser(const json& reply, std::ostream& out) {
    printFields(out, {{"user", cell(reply, "user")},
                      {"name", cell(reply, "name")},
                      {"email", cell(reply, "email")},
                      {"presence", presence(reply)},
                      {"first seen", reply.value("known", false)
                                         ? time(reply, "created_at")
                                         : "never (Parley has not seen this user)"}});
}

void printUsers(const json& reply, std::ostream& out) {
    const json& users = reply.value("users", json::array());
    if (users.empty()) {
        out << "no users\n";
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& user : users) {
        const json& state = user.value("presence", json::object());
        rows.push_back({cell(user, "user"), cell(user, "name"), cell(user, "email"),
                        cell(state, "state"), time(state, "last_seen"), time(user, "created_at")});
    }
    client::printTable(out, {"USER", "NAME", "EMAIL", "PRESENCE", "LAST SEEN", "FIRST SEEN"}, rows);
    if (reply.value("has_more", false)) {
        out << "more: --after " << cell(reply, "next_after") << " (or --all)\n";
    }
}

void printListing(const json& reply, std::ostream& out) {
    const json& listing = reply.value("listing", json::object());
    std::vector<std::pair<std::string, std::string>> fields{
        {"listing", cell(listing, "id")},        {"owner", cell(listing, "owner")},
        {"title", cell(listing, "title")},       {"status", cell(listing, "status")},
        {"price", cell(listing, "price")},       {"url", cell(listing, "url")},
        {"updated", time(listing, "updated_at")}};
    if (reply.contains("threads")) {
        fields.emplace_back("threads", cell(reply, "threads"));
    }
    printFields(out, fields);
}

void printNotifyPreferences(const json& reply, std::ostream& out) {
    const json& prefs = reply.value("prefs", json::object());
    const json& muted = prefs.value("muted", json::array());
    std::string mutedList;
    for (const auto& conv : muted) {
        mutedList += (mutedList.empty() ? "" : ", ") + conv.get<std::string>();
    }
    const int64_t delayMs = prefs.value("delay_ms", int64_t{0});
    // Minutes, as --delay-minutes takes them; the milliseconds too when they are not whole.
    std::string delay = std::to_string(delayMs / 60000) + " min";
    if (delayMs % 60000 != 0) {
        delay += " (" + std::to_string(delayMs) + " ms)";
    }
    printFields(out, {{"user", cell(reply, "user")},
                      {"email", prefs.value("email", true) ? "on" : "off"},
                      {"delay", delay},
                      {"muted", mutedList.empty() ? "none" : mutedList}});
}

void printReports(const json& reply, std::ostream& out) {
    const json& reports = reply.value("reports", json::array());
    if (reports.empty()) {
        out << "no reports\n";
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& report : reports) {
        rows.push_back({cell(report, "report"), cell(report, "status"), time(report, "created_at"),
                        cell(report, "reporter"), cell(report, "user"), cell(report, "conv"),
                        cell(report, "seq"), cell(report, "reason")});
    }
    client::printTable(
        out, {"REPORT", "STATUS", "CREATED", "REPORTER", "USER", "CONV", "SEQ", "REASON"}, rows);
}

void printReport(const json& reply, std::ostream& out) {
    const json& report = reply.value("report", json::object());
    std::vector<std::pair<std::string, std::string>> fields{
        {"report", cell(report, "report")},      {"status", cell(report, "status")},
        {"created", time(report, "created_at")}, {"reporter", cell(report, "reporter")},
        {"user", cell(report, "user")},          {"conversation", cell(report, "conv")},
        {"context", contextOf(report)},          {"message", cell(report, "seq")},
        {"reason", cell(report, "reason")}};
    if (report.value("status", "") == "resolved") {
        fields.insert(fields.end(), {{"resolution", cell(report, "resolution")},
                                     {"note", cell(report, "note")},
                                     {"resolved by", cell(report, "resolved_by")},
                                     {"resolved", time(report, "resolved_at")}});
    }
    printFields(out, fields);
    const json& evidence = report.value("evidence", json::array());
    if (evidence.empty()) {
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& message : evidence) {
        rows.push_back({cell(message, "seq"), time(message, "ts"), cell(message, "sender"),
                        cell(message, "body")});
    }
    out << "\nevidence (the messages when it was reported):\n";
    client::printTable(out, {"SEQ", "TIME", "SENDER", "BODY"}, rows, 100);
}

void printSanction(const json& reply, std::ostream& out) {
    std::vector<std::pair<std::string, std::string>> fields{{"user", cell(reply, "user")}};
    for (const char* key : {"muted_until", "suspended_until"}) {
        if (reply.contains(key)) {
            std::string label = key;
            label.replace(label.find('_'), 1, " ");
            fields.emplace_back(label, time(reply, key));
        }
    }
    printFields(out, fields);
}

void printLift(const json& reply, std::ostream& out) {
    printFields(
        out, {{"user", cell(reply, "user")},
              {"lifted",
               reply.value("lifted", false) ? "yes" : "no (no mute or suspension was in force)"}});
}

void printAudit(const json& reply, std::ostream& out) {
    const json& entries = reply.value("entries", json::array());
    if (entries.empty()) {
        out << "no entries\n";
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& entry : entries) {
        rows.push_back({time(entry, "ts"), cell(entry, "action"), cell(entry, "actor"),
                        otherFields(entry, {"ts", "action", "actor"})});
    }
    client::printTable(out, {"TIME", "ACTION", "ACTOR", "DETAILS"}, rows, 100);
}

void printExtensions(const json& reply, std::ostream& out) {
    const json& extensions = reply.value("extensions", json::array());
    if (extensions.empty()) {
        out << "no extensions loaded\n";
    } else {
        std::vector<std::vector<std::string>> rows;
        std::vector<std::string> disabled;
        for (const auto& extension : extensions) {
            const std::string state = extension.value("state", "running");
            rows.push_back(
                {cell(extension, "name"), cell(extension, "kind"), cell(extension, "path"), state});
            if (state == "disabled") {
                disabled.push_back(cell(extension, "name") +
                                   " is disabled: " + cell(extension, "reason"));
            }
        }
        client::printTable(out, {"NAME", "KIND", "PATH", "STATE"}, rows, 100);
        for (const auto& line : disabled) {
            out << line << '\n';
        }
    }
    const json& stats = reply.value("stats", json::array());
    if (stats.empty()) {
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& entry : stats) {
        rows.push_back({cell(entry, "extension"), cell(entry, "point"), cell(entry, "calls"),
                        cell(entry, "failures"), cell(entry, "overruns"),
                        cell(entry, "rejections")});
    }
    out << '\n';
    client::printTable(out, {"EXTENSION", "POINT", "CALLS", "FAILURES", "OVERRUNS", "REJECTIONS"},
                       rows);
}

void printReload(const json& reply, std::ostream& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& name : reply.value("reloaded", json::array())) {
        rows.push_back({name.is_string() ? name.get<std::string>() : name.dump(), "reloaded"});
    }
    for (const auto& failure : reply.value("failed", json::array())) {
        rows.push_back({cell(failure, "name"),
                        "FAILED, still running the old version: " + cell(failure, "error")});
    }
    if (rows.empty()) {
        out << "no scripts loaded\n";
        return;
    }
    client::printTable(out, {"SCRIPT", "RESULT"}, rows, 200);
}

void printErasure(const json& reply, std::ostream& out) {
    printFields(out, {{"user", cell(reply, "user")},
                      {"profile", reply.value("known", false) ? "deleted" : "none was stored"},
                      {"messages erased", cell(reply, "messages")},
                      {"conversations left", cell(reply, "conversations")},
                      {"of them deleted", cell(reply, "deleted_conversations")}});
}

}  // namespace parley::ctl
