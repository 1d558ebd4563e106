// parleyctl end to end: the built binary run as a child process, as an operator runs it, against a
// real Mosquitto and parleyd with scripts/moderation.lua and scripts/listings.lua loaded (admin
// "ops"), on SQLite and on MariaDB. Each subcommand's table and --json output, refusals, usage
// errors and connection failures with their exit codes (docs/clients.md).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "CommandRun.h"
#include "MosquittoServer.h"
#include "ParleydProcess.h"
#include "Ports.h"
#include "Stack.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;

const std::regex kLocalTime(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) {
        result.push_back(line);
    }
    return result;
}

// The value of a "label   value" line of a `show` output, or a note that there is none.
std::string fieldOf(const std::string& out, const std::string& label) {
    for (const auto& line : lines(out)) {
        if (line.rfind(label + "  ", 0) == 0) {
            const size_t start = line.find_first_not_of(' ', label.size());
            return start == std::string::npos ? "" : line.substr(start);
        }
    }
    return "<no line '" + label + "' in:\n" + out + ">";
}

// A table's cells: columns are apart by at least two spaces.
std::vector<std::string> cellsOf(const std::string& line) {
    std::vector<std::string> cells;
    size_t at = 0;
    while (at < line.size()) {
        size_t gap = line.find("  ", at);
        if (gap == std::string::npos) {
            cells.push_back(line.substr(at));
            break;
        }
        cells.push_back(line.substr(at, gap - at));
        at = line.find_first_not_of(' ', gap);
    }
    return cells;
}

// The table row whose first cell is `key` (empty if none).
std::vector<std::string> rowOf(const std::string& out, const std::string& key) {
    for (const auto& line : lines(out)) {
        auto cells = cellsOf(line);
        if (!cells.empty() && cells[0] == key) {
            return cells;
        }
    }
    return {};
}

// --json prints exactly one object on one line.
json onlyJson(const CommandResult& result) {
    EXPECT_EQ(lines(result.out).size(), 1U) << result.out << result.err;
    json parsed = json::parse(result.out, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << result.out;
    return parsed.is_object() ? parsed : json::object();
}

json findBy(const json& array, const std::string& key, const json& value) {
    for (const auto& entry : array) {
        if (entry.value(key, json()) == value) {
            return entry;
        }
    }
    return json();
}

CommandResult parleyctl(std::vector<std::string> args,
                        std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), PARLEYCTL_PATH);
    // No config file of the developer's: an empty config folder.
    static TempDir noConfig("parleyctl-config");
    env.emplace("XDG_CONFIG_HOME", noConfig.path());
    return runCommand(args, env);
}

// --- Against the marketplace stack, per backend -----------------------------------------------

class Parleyctl : public ::testing::TestWithParam<std::string> {
  protected:
    Stack& stack() { return Stack::forBackend(GetParam(), Stack::Flavour::Marketplace); }

    CommandResult as(const std::string& uid, std::vector<std::string> args) {
        std::vector<std::string> full{"--uri", stack().broker().uri(), "--user",
                                      uid,     "--password",           Stack::passwordOf(uid)};
        full.insert(full.end(), args.begin(), args.end());
        return parleyctl(full);
    }
    // As the admin; fails the test unless the command succeeds.
    CommandResult ctl(std::vector<std::string> args) {
        auto result = as("ops", args);
        EXPECT_EQ(result.exitCode, kOk) << "parleyctl " << describe(args) << "\n" << result.err;
        EXPECT_TRUE(result.err.empty()) << result.err;
        return result;
    }
    json ctlJson(std::vector<std::string> args) {
        args.push_back("--json");
        json reply = onlyJson(ctl(args));
        EXPECT_EQ(reply.value("ok", false), true) << reply;
        EXPECT_FALSE(reply.contains("id")) << "parleyctl's request id is no business of scripts";
        return reply;
    }
    // As the admin, expecting exit code `code` and `message` on stderr.
    CommandResult fails(int code, std::vector<std::string> args, const std::string& message) {
        auto result = as("ops", args);
        EXPECT_EQ(result.exitCode, code) << "parleyctl " << describe(args) << "\n" << result.err;
        EXPECT_TRUE(contains(result.err, message)) << result.err;
        return result;
    }

    static std::string describe(const std::vector<std::string>& args) {
        std::string text;
        for (const auto& arg : args) {
            text += arg + " ";
        }
        return text;
    }
};

TEST_P(Parleyctl, UserShowAndSetNameAndEmail) {
    const std::string uid = stack().newUser();
    auto unknown = ctl({"user", "show", uid});
    EXPECT_EQ(fieldOf(unknown.out, "user"), uid);
    EXPECT_EQ(fieldOf(unknown.out, "email"), "-");
    EXPECT_EQ(fieldOf(unknown.out, "first seen"), "never (Parley has not seen this user)");
    auto unknownJson = ctlJson({"user", "show", uid});
    EXPECT_EQ(unknownJson["known"], false);
    EXPECT_TRUE(unknownJson["email"].is_null());

    auto set = ctl({"user", "set", uid, "--name", "Ann Lee", "--email", "ann@example.org"});
    EXPECT_EQ(fieldOf(set.out, "name"), "Ann Lee");
    EXPECT_EQ(fieldOf(set.out, "email"), "ann@example.org");
    EXPECT_EQ(fieldOf(set.out, "presence"), "offline");
    EXPECT_TRUE(std::regex_match(fieldOf(set.out, "first seen"), kLocalTime)) << set.out;

    auto shown = ctlJson({"user", "show", uid});
    EXPECT_EQ(shown["user"], uid);
    EXPECT_EQ(shown["name"], "Ann Lee");
    EXPECT_EQ(shown["email"], "ann@example.org");
    EXPECT_EQ(shown["known"], true);
    EXPECT_TRUE(shown["created_at"].is_number_integer()) << shown;
    EXPECT_EQ(shown["presence"]["state"], "offline");

    // The user sees the name an admin set, never the address; their own name change keeps it.
    auto user = stack().connect(uid);
    auto profile = user->request({{"op", "profile.get"}});
    EXPECT_EQ(profile["name"], "Ann Lee");
    EXPECT_FALSE(profile.contains("email")) << profile;
    EXPECT_TRUE(user->request({{"op", "profile.set"}, {"name", "Ann"}})["ok"]);
    auto renamed = ctlJson({"user", "show", uid});
    EXPECT_EQ(renamed["name"], "Ann");
    EXPECT_EQ(renamed["email"], "ann@example.org");
    EXPECT_EQ(renamed["presence"]["state"], "online");
    EXPECT_TRUE(renamed["presence"]["last_seen"].is_number_integer());

    // Loose checks, but these are surely mistakes; a refusal changes nothing.
    for (const std::string& bad :
         std::vector<std::string>{"no-at-sign", "two@@example.org", "a@b@example.org",
                                  "ann lee@example.org", "@example.org", "ann@", "a@",
                                  std::string(250, 'a') + "@x.io", std::string("ann\t@x.io")}) {
        auto refused = fails(kRefused, {"user", "set", uid, "--email", bad}, "bad_request: ");
        EXPECT_TRUE(contains(refused.err, "\"email\"")) << refused.err;
        EXPECT_TRUE(refused.out.empty()) << refused.out;
    }
    EXPECT_EQ(ctlJson({"user", "set", uid, "--email", "a@b"})["email"], "a@b") << "3 is enough";
    EXPECT_EQ(ctlJson({"user", "set", uid, "--email", std::string(247, 'e') + "@x.io"})["email"]
                  .get<std::string>()
                  .size(),
              252U);
    EXPECT_EQ(ctlJson({"user", "show", uid})["name"], "Ann") << "an email change keeps the name";

    // --email "" and --clear-email both clear it.
    EXPECT_TRUE(ctlJson({"user", "set", uid, "--email", ""})["email"].is_null());
    ctl({"user", "set", uid, "--email", "ann@example.org"});
    auto cleared = ctl({"user", "set", uid, "--clear-email"});
    EXPECT_EQ(fieldOf(cleared.out, "email"), "-");
    EXPECT_EQ(fieldOf(cleared.out, "name"), "Ann");
    EXPECT_TRUE(ctlJson({"user", "show", uid})["email"].is_null());

    fails(kUsage, {"user", "set", uid}, "give --name, --email or --clear-email");
    fails(kUsage, {"user", "set", uid, "--email", "a@b.c", "--clear-email"}, "excludes");
    fails(kRefused, {"user", "set", uid, "--name", std::string(65, 'n')}, "bad_request: ");
    fails(kRefused, {"user", "show", "system"}, "bad_request: ");
}

TEST_P(Parleyctl, UserListPages) {
    const std::string first = stack().newUser();
    const std::string second = stack().newUser();
    ctl({"user", "set", first, "--name", "First", "--email", "first@example.org"});
    ctl({"user", "set", second, "--name", "Second"});

    auto all = ctlJson({"user", "list", "--all"});
    EXPECT_EQ(all["has_more"], false);
    EXPECT_EQ(findBy(all["users"], "user", first)["email"], "first@example.org") << all;
    EXPECT_EQ(findBy(all["users"], "user", second)["name"], "Second") << all;
    std::vector<std::string> uids;
    for (const auto& user : all["users"]) {
        uids.push_back(user["user"]);
    }
    EXPECT_TRUE(std::is_sorted(uids.begin(), uids.end()));

    auto table = ctl({"user", "list", "--all"});
    EXPECT_EQ(
        cellsOf(lines(table.out).at(0)),
        (std::vector<std::string>{"USER", "NAME", "EMAIL", "PRESENCE", "LAST SEEN", "FIRST SEEN"}));
    auto row = rowOf(table.out, first);
    ASSERT_EQ(row.size(), 6U) << table.out;
    EXPECT_EQ(row[1], "First");
    EXPECT_EQ(row[2], "first@example.org");
    EXPECT_EQ(row[3], "offline");
    EXPECT_EQ(row[4], "-") << "never seen online";
    EXPECT_TRUE(std::regex_match(row[5], kLocalTime)) << row[5];
    EXPECT_EQ(rowOf(table.out, second).at(2), "-");

    // Pages of one, by uid.
    auto page = ctlJson({"user", "list", "--limit", "1"});
    ASSERT_EQ(page["users"].size(), 1U);
    EXPECT_EQ(page["has_more"], true);
    EXPECT_EQ(page["next_after"], uids.at(0));
    auto next = ctl({"user", "list", "--limit", "1", "--after", uids.at(0)});
    auto nextLines = lines(next.out);
    ASSERT_EQ(nextLines.size(), 3U) << next.out;  // header, one user, where to go on
    EXPECT_EQ(cellsOf(nextLines[1]).at(0), uids.at(1));
    EXPECT_EQ(nextLines[2], "more: --after " + uids.at(1) + " (or --all)");
    fails(kUsage, {"user", "list", "--limit", "0"}, "--limit");
}

// A user's data (privacy law): the whole export as one JSON document, to stdout or a private
// file, and the erasure, which leaves tombstones for the other member.
TEST_P(Parleyctl, UserExportAndErase) {
    auto writer = stack().connect(stack().newUser());
    auto other = stack().connect(stack().newUser());
    const std::string uid = writer->uid();
    ctl({"user", "set", uid, "--name", "Wren", "--email", "wren@example.org"});
    auto opened = writer->request({{"op", "conv.open"}, {"peer", other->uid()}});
    ASSERT_TRUE(opened["ok"]) << opened;
    const std::string conv = opened["conv"];
    const std::string emoji = "\xF0\x9F\x8E\x89";
    ASSERT_TRUE(writer->request({{"op", "msg.send"},
                                 {"conv", conv},
                                 {"cmid", "w1"},
                                 {"body", "first " + emoji},
                                 {"meta", {{"n", 1}}}})["ok"]);
    ASSERT_TRUE(other->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "o1"}, {"body", "the other's words"}})["ok"]);
    ASSERT_TRUE(writer->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "w2"}, {"body", "second"}})["ok"]);

    // To stdout: one document, the writer's words only.
    auto exported = ctl({"user", "export", uid});
    ASSERT_EQ(lines(exported.out).size(), 1U) << exported.out;
    const json document = json::parse(exported.out, nullptr, false);
    ASSERT_TRUE(document.is_object()) << exported.out;
    EXPECT_EQ(document["format"], "parley.user-export.v1");
    EXPECT_EQ(document["user"], uid);
    EXPECT_TRUE(document["exported_at"].is_number_integer());
    EXPECT_EQ(document["profile"]["email"], "wren@example.org");
    EXPECT_EQ(document["profile"]["name"], "Wren");
    ASSERT_EQ(document["conversations"].size(), 1U) << document;
    EXPECT_EQ(document["conversations"][0]["conv"], conv);
    EXPECT_EQ(document["conversations"][0]["members"], json::array({uid, other->uid()}));
    ASSERT_EQ(document["messages"].size(), 2U) << document;
    EXPECT_EQ(document["messages"][0]["cmid"], "w1");
    EXPECT_EQ(document["messages"][0]["body"], "first " + emoji);
    EXPECT_EQ(document["messages"][0]["meta"]["n"], 1);
    EXPECT_EQ(document["messages"][1]["body"], "second");

    // To a file: the same document, readable by its owner only.
    TempDir dir("parleyctl-export");
    const std::string file = dir.file(uid + ".json");
    auto written = ctl({"user", "export", uid, "--output", file});
    EXPECT_EQ(lines(written.out), std::vector<std::string>{"user " + uid + " exported to " + file +
                                                           ": 1 conversation(s), 2 message(s)"});
    std::ifstream input(file);
    const json fromFile = json::parse(input, nullptr, false);
    ASSERT_TRUE(fromFile.is_object());
    EXPECT_EQ(fromFile["messages"], document["messages"]);
    struct stat info {};
    ASSERT_EQ(::stat(file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600U);
    fails(kUsage, {"user", "export", uid, "--output", file}, "exists already");
    auto summary = ctlJson({"user", "export", uid, "--output", dir.file("again.json")});
    EXPECT_EQ(summary["messages"], 2);
    EXPECT_EQ(summary["conversations"], 1);

    // Refusals change nothing: a non-admin, and an erase without --yes (nothing is sent).
    auto notAdmin = as(uid, {"user", "export", uid});
    EXPECT_EQ(notAdmin.exitCode, kRefused) << notAdmin.err;
    EXPECT_TRUE(contains(notAdmin.err, "forbidden: ")) << notAdmin.err;
    EXPECT_TRUE(notAdmin.out.empty()) << "no half document: " << notAdmin.out;
    auto notAdminToFile = as(uid, {"user", "export", uid, "--output", dir.file("refused.json")});
    EXPECT_EQ(notAdminToFile.exitCode, kRefused) << notAdminToFile.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("refused.json")));
    EXPECT_FALSE(std::filesystem::exists(dir.file("refused.json.partial")));
    fails(kUsage, {"user", "erase", uid}, "cannot be undone: add --yes");
    EXPECT_EQ(ctlJson({"user", "show", uid})["email"], "wren@example.org");

    auto erased = ctl({"user", "erase", uid, "--yes"});
    EXPECT_EQ(fieldOf(erased.out, "user"), uid);
    EXPECT_EQ(fieldOf(erased.out, "profile"), "deleted");
    EXPECT_EQ(fieldOf(erased.out, "messages erased"), "2");
    EXPECT_EQ(fieldOf(erased.out, "conversations left"), "1");
    EXPECT_EQ(fieldOf(erased.out, "of them deleted"), "0");
    auto shown = ctlJson({"user", "show", uid});
    EXPECT_EQ(shown["known"], false);
    EXPECT_TRUE(shown["email"].is_null());

    // The other member keeps every seq; the writer's are tombstones, and they were told.
    auto history = other->request({{"op", "msg.history"}, {"conv", conv}});
    ASSERT_EQ(history["msgs"].size(), 3U) << history;
    EXPECT_EQ(history["msgs"][0]["erased"], true);
    EXPECT_EQ(history["msgs"][0]["body"], "");
    EXPECT_TRUE(history["msgs"][0]["meta"].is_null());
    EXPECT_EQ(history["msgs"][1]["body"], "the other's words");
    EXPECT_EQ(history["msgs"][2]["erased"], true);
    other->waitFor([&](const Received& received) {
        return received.topic == "parley/v1/u/" + other->uid() + "/c/" + conv &&
               received.payload.value("ev", "") == "erased" && received.payload["user"] == uid;
    });
    const json afterwards = json::parse(ctl({"user", "export", uid}).out, nullptr, false);
    EXPECT_TRUE(afterwards["conversations"].empty()) << afterwards;
    for (const auto& message : afterwards["messages"]) {
        EXPECT_EQ(message["erased"], true);
        EXPECT_EQ(message["body"], "");
    }
    EXPECT_EQ(ctlJson({"user", "erase", uid, "--yes"})["messages"], 0) << "nothing left to erase";
}

TEST_P(Parleyctl, ListingSetAndShow) {
    auto seller = stack().connect(stack().newUser());
    auto buyer = stack().connect(stack().newUser());
    const std::string id = "ctl-" + seller->uid();

    auto created = ctl({"listing", "set", id, "--owner", seller->uid(), "--title", "Blue bike",
                        "--price", "120", "--url", "https://example.org/bike"});
    EXPECT_EQ(fieldOf(created.out, "listing"), id);
    EXPECT_EQ(fieldOf(created.out, "owner"), seller->uid());
    EXPECT_EQ(fieldOf(created.out, "title"), "Blue bike");
    EXPECT_EQ(fieldOf(created.out, "status"), "open");
    EXPECT_EQ(fieldOf(created.out, "price"), "120");
    EXPECT_EQ(fieldOf(created.out, "url"), "https://example.org/bike");
    EXPECT_EQ(fieldOf(created.out, "threads"), "0");
    EXPECT_TRUE(std::regex_match(fieldOf(created.out, "updated"), kLocalTime)) << created.out;

    auto shown = ctlJson({"listing", "show", id});
    EXPECT_EQ(shown["listing"]["price"], 120) << "a numeric price is sent as a number";
    EXPECT_EQ(shown["listing"]["owner"], seller->uid());
    EXPECT_EQ(shown["listing"]["status"], "open");

    auto thread = buyer->request({{"op", "conv.open"},
                                  {"peer", seller->uid()},
                                  {"context", {{"type", "listing"}, {"id", id}}}});
    ASSERT_TRUE(thread["ok"]) << thread;
    auto sold = ctlJson({"listing", "set", id, "--status", "sold", "--price", "99 EUR"});
    EXPECT_EQ(sold["threads"], 1);
    EXPECT_EQ(sold["listing"]["status"], "sold");
    EXPECT_EQ(sold["listing"]["price"], "99 EUR");
    EXPECT_EQ(sold["listing"]["title"], "Blue bike") << "unnamed fields are kept";
    auto again = ctl({"listing", "show", id});
    EXPECT_EQ(fieldOf(again.out, "status"), "sold");
    EXPECT_EQ(fieldOf(again.out, "price"), "99 EUR");
    auto refused = buyer->request(
        {{"op", "msg.send"}, {"conv", thread["conv"]}, {"cmid", "after-sale"}, {"body", "hi"}});
    EXPECT_EQ(refused["error"]["code"], "forbidden") << "the sale reached the script";

    fails(kRefused, {"listing", "show", "ctl-nothing"}, "not_found: unknown listing ctl-nothing");
    fails(kRefused, {"listing", "set", "ctl-ownerless"}, "bad_request: a new listing needs");
    fails(kUsage, {"listing", "set", id, "--status", "gone"}, "--status");
}

TEST_P(Parleyctl, ReportsSanctionsAndAudit) {
    auto reporter = stack().connect(stack().newUser());
    auto offender = stack().connect(stack().newUser());
    const std::string conv =
        reporter->request({{"op", "conv.open"}, {"peer", offender->uid()}})["conv"];
    auto sent = offender->request(
        {{"op", "msg.send"}, {"conv", conv}, {"cmid", "bad-1"}, {"body", "send me your password"}});
    ASSERT_TRUE(sent["ok"]) << sent;
    auto filed = reporter->request({{"op", "mod.report"},
                                    {"conv", conv},
                                    {"reason", "phishing"},
                                    {"seq", sent["seq"]},
                                    {"user", offender->uid()}});
    ASSERT_TRUE(filed["ok"]) << filed;
    const std::string report = filed["report"];

    auto queue = ctl({"report", "list"});
    EXPECT_EQ(cellsOf(lines(queue.out).at(0)),
              (std::vector<std::string>{"REPORT", "STATUS", "CREATED", "REPORTER", "USER", "CONV",
                                        "SEQ", "REASON"}));
    auto row = rowOf(queue.out, report);
    ASSERT_EQ(row.size(), 8U) << queue.out;
    EXPECT_EQ(row[1], "open");
    EXPECT_TRUE(std::regex_match(row[2], kLocalTime)) << row[2];
    EXPECT_EQ(row[3], reporter->uid());
    EXPECT_EQ(row[4], offender->uid());
    EXPECT_EQ(row[5], conv);
    EXPECT_EQ(row[6], sent["seq"].dump());
    EXPECT_EQ(row[7], "phishing");
    EXPECT_FALSE(findBy(ctlJson({"report", "list"})["reports"], "report", report).is_null());

    auto shown = ctl({"report", "show", report});
    EXPECT_EQ(fieldOf(shown.out, "status"), "open");
    EXPECT_EQ(fieldOf(shown.out, "reason"), "phishing");
    EXPECT_EQ(fieldOf(shown.out, "conversation"), conv);
    EXPECT_TRUE(contains(shown.out, "evidence")) << shown.out;
    auto evidence = rowOf(shown.out, sent["seq"].dump());
    ASSERT_EQ(evidence.size(), 4U) << shown.out;
    EXPECT_EQ(evidence[2], offender->uid());
    EXPECT_EQ(evidence[3], "send me your password");
    EXPECT_EQ(ctlJson({"report", "show", report})["report"]["evidence"].size(), 1U);

    auto resolved = ctl({"report", "resolve", report, "warned", "--note", "first time"});
    EXPECT_EQ(fieldOf(resolved.out, "status"), "resolved");
    EXPECT_EQ(fieldOf(resolved.out, "resolution"), "warned");
    EXPECT_EQ(fieldOf(resolved.out, "note"), "first time");
    EXPECT_EQ(fieldOf(resolved.out, "resolved by"), "ops");
    EXPECT_TRUE(findBy(ctlJson({"report", "list"})["reports"], "report", report).is_null())
        << "out of the open queue";
    EXPECT_EQ(findBy(ctlJson({"report", "list", "--all"})["reports"], "report", report)["status"],
              "resolved");
    fails(kRefused, {"report", "show", "9999999999"}, "not_found: no report 9999999999");

    auto send = [&](const std::string& cmid) {
        return offender->request(
            {{"op", "msg.send"}, {"conv", conv}, {"cmid", cmid}, {"body", "hello"}});
    };
    auto muted = ctl({"user", "mute", offender->uid(), "10", "--reason", "phishing"});
    EXPECT_EQ(fieldOf(muted.out, "user"), offender->uid());
    EXPECT_TRUE(std::regex_match(fieldOf(muted.out, "muted until"), kLocalTime)) << muted.out;
    EXPECT_EQ(send("m1")["error"]["moderation"], "muted");
    auto lifted = ctl({"user", "lift", offender->uid()});
    EXPECT_EQ(fieldOf(lifted.out, "lifted"), "yes");
    EXPECT_TRUE(send("m2")["ok"]);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto suspended = ctlJson({"user", "suspend", offender->uid(), "5"});
    EXPECT_GT(suspended["suspended_until"].get<int64_t>(), now + 4 * 60000);
    EXPECT_EQ(send("m3")["error"]["moderation"], "suspended");
    EXPECT_EQ(ctlJson({"user", "lift", offender->uid()})["lifted"], true);
    EXPECT_EQ(fieldOf(ctl({"user", "lift", offender->uid()}).out, "lifted"),
              "no (no mute or suspension was in force)");
    fails(kUsage, {"user", "mute", offender->uid(), "0"}, "MINUTES");
    fails(kUsage, {"user", "mute", offender->uid(), "soon"}, "MINUTES");

    auto audit = ctlJson({"audit", "list", "--limit", "20"});
    std::vector<std::string> actions;
    for (const auto& entry : audit["entries"]) {
        if (entry.value("user", "") == offender->uid() || entry.value("report", "") == report) {
            actions.push_back(entry["action"]);
            // Filing the report is the reporter's action; the rest are the admin's.
            EXPECT_EQ(entry["actor"], entry["action"] == "report" ? reporter->uid() : "ops");
        }
    }
    EXPECT_EQ(actions, (std::vector<std::string>{"lift", "lift", "suspended", "lift", "muted",
                                                 "report.resolve", "report"}))
        << "newest first";
    auto auditTable = ctl({"audit", "list", "--limit", "20"});
    EXPECT_EQ(cellsOf(lines(auditTable.out).at(0)),
              (std::vector<std::string>{"TIME", "ACTION", "ACTOR", "DETAILS"}));
    bool mutedRow = false;
    for (const auto& line : lines(auditTable.out)) {
        auto cells = cellsOf(line);
        mutedRow = mutedRow || (cells.size() == 4 && std::regex_match(cells[0], kLocalTime) &&
                                cells[1] == "muted" && cells[2] == "ops" &&
                                contains(cells[3], "reason=phishing") &&
                                contains(cells[3], "user=" + offender->uid()));
    }
    EXPECT_TRUE(mutedRow) << auditTable.out;

    // Any command, for extensions parleyctl has no subcommand for.
    auto raw = onlyJson(ctl({"call", "mod.reports", R"({"status":"all","limit":1000})"}));
    EXPECT_EQ(raw["ok"], true);
    EXPECT_FALSE(findBy(raw["reports"], "report", report).is_null());
    fails(kRefused, {"call", "mod.teleport"}, "unknown_op: ");
}

TEST_P(Parleyctl, ExtensionListAndReload) {
    auto listed = ctl({"extension", "list"});
    EXPECT_EQ(cellsOf(lines(listed.out).at(0)),
              (std::vector<std::string>{"NAME", "KIND", "PATH", "STATE"}));
    for (const char* name : {"moderation", "listings"}) {
        auto row = rowOf(listed.out, name);
        ASSERT_EQ(row.size(), 4U) << listed.out;
        EXPECT_EQ(row[1], "script");
        EXPECT_TRUE(row[2].ends_with(std::string("scripts/") + name + ".lua")) << row[2];
        EXPECT_EQ(row[3], "running");
    }
    EXPECT_TRUE(contains(listed.out, "EXTENSION  ")) << "the counters follow\n" << listed.out;
    auto described = ctlJson({"extension", "list"});
    EXPECT_EQ(described["extensions"].size(), 2U);
    EXPECT_FALSE(described["stats"].empty());

    auto reloaded = ctl({"extension", "reload"});
    EXPECT_EQ(rowOf(reloaded.out, "moderation").at(1), "reloaded");
    EXPECT_EQ(rowOf(reloaded.out, "listings").at(1), "reloaded");
    auto reloadJson = ctlJson({"extension", "reload"});
    EXPECT_EQ(reloadJson["reloaded"], (json{"moderation", "listings"}));
    EXPECT_TRUE(reloadJson["failed"].empty());
}

TEST_P(Parleyctl, NonAdminsAreRefused) {
    const std::string uid = stack().newUser();
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    for (const Case& refused :
         {Case{{"user", "show", "ops"}, "forbidden: admin commands are for the config's admins"},
          Case{{"user", "list"}, "forbidden: admin commands are for the config's admins"},
          Case{{"user", "set", uid, "--email", "me@example.org"}, "forbidden: "},
          Case{{"listing", "set", "ctl-x", "--owner", uid}, "forbidden: only admins may"},
          Case{{"report", "list"}, "forbidden: moderation commands are for admins"},
          Case{{"user", "mute", "ops", "10"}, "forbidden: moderation commands are for admins"},
          Case{{"extension", "reload"}, "forbidden: "}}) {
        auto result = as(uid, refused.args);
        EXPECT_EQ(result.exitCode, kRefused) << describe(refused.args) << result.err;
        EXPECT_TRUE(contains(result.err, "parleyctl: " + refused.message)) << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
    }
    auto withJson = as(uid, {"user", "set", uid, "--email", "me@example.org", "--json"});
    EXPECT_EQ(withJson.exitCode, kRefused);
    auto reply = onlyJson(withJson);
    EXPECT_EQ(reply["ok"], false);
    EXPECT_EQ(reply["error"]["code"], "forbidden");
    EXPECT_TRUE(ctlJson({"user", "show", uid})["email"].is_null()) << "nothing changed";
}

TEST_P(Parleyctl, ConnectionFromEnvironmentAndConfigFile) {
    auto fromEnv =
        parleyctl({"extension", "list", "--json"}, {{"PARLEY_URI", stack().broker().uri()},
                                                    {"PARLEY_USER", "ops"},
                                                    {"PARLEY_PASSWORD", Stack::passwordOf("ops")}});
    EXPECT_EQ(fromEnv.exitCode, kOk) << fromEnv.err;
    EXPECT_EQ(onlyJson(fromEnv)["ok"], true);

    TempDir dir("parleyctl-conf");
    const std::string config = dir.file("client.conf");
    std::ofstream(config) << "uri = \"" << stack().broker().uri() << "\"\nuser = \"ops\"\n"
                          << "password = \"" << Stack::passwordOf("ops") << "\"\n";
    auto fromFile = parleyctl({"--config", config, "user", "show", "ops", "--json"});
    EXPECT_EQ(fromFile.exitCode, kOk) << fromFile.err;
    EXPECT_EQ(onlyJson(fromFile)["user"], "ops");

    auto wrongPassword = parleyctl(
        {"--uri", stack().broker().uri(), "--user", "ops", "--password", "wrong", "user", "list"});
    EXPECT_EQ(wrongPassword.exitCode, kUnreachable) << wrongPassword.err;
    EXPECT_TRUE(contains(wrongPassword.err, "parleyctl: cannot connect to ")) << wrongPassword.err;
    EXPECT_TRUE(contains(wrongPassword.err, "not authorized: wrong user name, password or token"))
        << wrongPassword.err;
    EXPECT_FALSE(contains(wrongPassword.err, "CONNACK")) << wrongPassword.err;
}

std::string backendName(const ::testing::TestParamInfo<std::string>& info) {
    return info.param;
}

INSTANTIATE_TEST_SUITE_P(Backends, Parleyctl, ::testing::Values("sqlite", "mariadb"), backendName);

// --- With the notify plugin (SQLite) ----------------------------------------------------------

// `parleyctl notify show|set` read and change a user's notification preferences through the
// plugin's commands, as an admin; a user may not change another's.
TEST(ParleyctlNotify, ShowAndSetPreferences) {
    MosquittoServer broker({{"parleyd", "pd"}, {"ops", "o"}, {"alice", "a"}});
    ParleydProcess parleyd("broker: {uri: " + broker.uri() +
                           ", client_id: parleyd-ctl-notify, username: parleyd, password: pd}\n"
                           "store: {backend: sqlite, sqlite: {path: parley.db}}\n"
                           "admins: [ops]\n"
                           "extensions:\n"
                           "  - name: notify\n"
                           "    plugin: " PARLEY_NOTIFY_PLUGIN
                           "\n"
                           "    options: {templates: " PARLEY_SOURCE_DIR
                           "/plugins/notify/templates, delay_ms: 300000}\n");
    const auto as = [&](const std::string& uid, const std::string& password,
                        std::vector<std::string> args) {
        args.insert(args.begin(), {"--uri", broker.uri(), "--user", uid, "--password", password});
        return parleyctl(args);
    };

    auto shown = as("ops", "o", {"notify", "show", "bob"});
    ASSERT_EQ(shown.exitCode, kOk) << shown.err << parleyd.log();
    EXPECT_EQ(fieldOf(shown.out, "user"), "bob");
    EXPECT_EQ(fieldOf(shown.out, "email"), "on");
    EXPECT_EQ(fieldOf(shown.out, "delay"), "5 min");
    EXPECT_EQ(fieldOf(shown.out, "muted"), "none");

    auto set = as("ops", "o",
                  {"notify", "set", "bob", "--email", "off", "--delay-minutes", "2", "--mute",
                   "c-one", "--mute", "c-two"});
    ASSERT_EQ(set.exitCode, kOk) << set.err;
    EXPECT_EQ(fieldOf(set.out, "email"), "off");
    EXPECT_EQ(fieldOf(set.out, "delay"), "2 min");
    EXPECT_EQ(fieldOf(set.out, "muted"), "c-one, c-two");

    auto unmuted = as("ops", "o", {"notify", "set", "bob", "--unmute", "c-one", "--json"});
    ASSERT_EQ(unmuted.exitCode, kOk) << unmuted.err;
    const json prefs = onlyJson(unmuted)["prefs"];
    EXPECT_EQ(prefs["email"], false) << "unnamed preferences are kept";
    EXPECT_EQ(prefs["delay_ms"], 120000);
    EXPECT_EQ(prefs["muted"], json::array({"c-two"}));

    auto none = as("ops", "o", {"notify", "set", "bob"});
    EXPECT_EQ(none.exitCode, kUsage);
    EXPECT_TRUE(contains(none.err, "name at least one of --email")) << none.err;
    auto badDelay = as("ops", "o", {"notify", "set", "bob", "--delay-minutes", "20000"});
    EXPECT_EQ(badDelay.exitCode, kUsage) << badDelay.err;

    auto forbidden = as("alice", "a", {"notify", "set", "bob", "--email", "on"});
    EXPECT_EQ(forbidden.exitCode, kRefused) << forbidden.err;
    EXPECT_TRUE(contains(forbidden.err, "parleyctl: forbidden")) << forbidden.err;
    auto own = as("alice", "a", {"notify", "set", "alice", "--email", "off"});
    EXPECT_EQ(own.exitCode, kOk) << own.err;

    auto after = as("ops", "o", {"notify", "show", "bob"});
    EXPECT_EQ(fieldOf(after.out, "email"), "off") << "the refused change changed nothing";
    EXPECT_EQ(fieldOf(after.out, "muted"), "c-two");
}

// --- Without parleyd ----------------------------------------------------------------------------

TEST(ParleyctlLocal, UsageErrorsSendNothing) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    // No broker is given: a usage error is found before connecting.
    for (const Case& usage : {
             Case{{}, "A subcommand is required"},
             Case{{"user"}, "A subcommand is required"},
             Case{{"user", "show"}, "UID is required"},
             Case{{"user", "show", "u1", "--bogus"}, "--bogus"},
             Case{{"user", "show", "u1", "u2"}, "u2"},
             Case{{"--timeout", "0", "user", "show", "u1"}, "--timeout"},
             Case{{"user", "show", "u1"}, "which admin? give --user, PARLEY_USER or a config file"},
             Case{{"--user", "ops", "user", "set", "u1"}, "give --name, --email or --clear-email"},
             Case{{"--user", "ops", "call", "mod.reports", "[1]"}, "FIELDS must be a JSON object"},
             Case{{"broker", "add-user", "a:b", "pw"}, "a user id is 1-64 characters"},
         }) {
        auto result = parleyctl(usage.args);
        EXPECT_EQ(result.exitCode, kUsage) << result.err;
        EXPECT_TRUE(contains(result.err, usage.message)) << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
    }
    auto help = parleyctl({"--help"});
    EXPECT_EQ(help.exitCode, kOk);
    EXPECT_TRUE(contains(help.out, "Exit codes: 0 done, 1 refused")) << help.out;
    for (const char* noun :
         {"user", "listing", "report", "audit", "extension", "broker", "token"}) {
        EXPECT_TRUE(contains(help.out, std::string("  ") + noun + " ")) << noun;
    }
}

TEST(ParleyctlLocal, ConnectionFailuresHaveTheirOwnExitCode) {
    const std::string nobody = "tcp://127.0.0.1:" + std::to_string(freeLoopbackPort());
    auto refused =
        parleyctl({"--uri", nobody, "--user", "ops", "--password", "pw", "user", "show", "u1"});
    EXPECT_EQ(refused.exitCode, kUnreachable) << refused.err;
    EXPECT_TRUE(contains(refused.err, "parleyctl: cannot connect to " + nobody)) << refused.err;

    // A broker, but no parleyd behind it: no reply comes.
    MosquittoServer broker(std::vector<BrokerUser>{{"ops", "pw-ops"}});
    const auto started = std::chrono::steady_clock::now();
    auto silent = parleyctl({"--uri", broker.uri(), "--user", "ops", "--password", "pw-ops",
                             "--timeout", "1", "user", "show", "u1"});
    EXPECT_EQ(silent.exitCode, kUnreachable) << silent.err;
    EXPECT_TRUE(contains(silent.err, "no reply to admin.user.get within 1000 ms")) << silent.err;
    EXPECT_TRUE(contains(silent.err, "is parleyd running?")) << silent.err;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s) << "--timeout bounds the wait";
}

TEST(ParleyctlLocal, BrokerAddUserLetsTheUserLogIn) {
    MosquittoServer broker(std::vector<BrokerUser>{{"seed", "seed-pw"}});
    TempDir dir("parleyctl-broker");
    const std::string pidFile = dir.file("mosquitto.pid");
    std::ofstream(pidFile) << broker.pid() << "\n";
    ::chmod(broker.passwordFile().c_str(), 0640);
    EXPECT_THROW(MqttTestClient(broker.uri(), "newbie", "s3cret"), std::runtime_error);

    auto added = parleyctl({"broker", "add-user", "newbie", "s3cret", "--password-file",
                            broker.passwordFile(), "--pid-file", pidFile});
    ASSERT_EQ(added.exitCode, kOk) << added.err;
    EXPECT_EQ(added.out, "user newbie added to " + broker.passwordFile() +
                             "; the broker reloaded it: the user can log in now\n");
    EXPECT_TRUE(added.err.empty()) << added.err;
    struct stat mode {};
    ASSERT_EQ(::stat(broker.passwordFile().c_str(), &mode), 0);
    EXPECT_EQ(mode.st_mode & 0777, 0640U) << "the broker must still be able to read it";

    // The broker reloads on SIGHUP in its own time.
    auto logIn = [&](const std::string& user, const std::string& password) {
        for (int attempt = 0;; ++attempt) {
            try {
                MqttTestClient client(broker.uri(), user, password);
                return true;
            } catch (const std::runtime_error&) {
                if (attempt == 50) {
                    return false;
                }
                std::this_thread::sleep_for(100ms);
            }
        }
    };
    EXPECT_TRUE(logIn("newbie", "s3cret")) << broker.log();
    EXPECT_THROW(MqttTestClient(broker.uri(), "newbie", "wrong"), std::runtime_error);
    EXPECT_TRUE(logIn("seed", "seed-pw")) << "the other users stay";

    auto changed = parleyctl({"broker", "add-user", "newbie", "n3w", "--password-file",
                              broker.passwordFile(), "--pid-file", pidFile, "--json"});
    ASSERT_EQ(changed.exitCode, kOk) << changed.err;
    auto reply = onlyJson(changed);
    EXPECT_EQ(reply["reloaded"], true);
    EXPECT_EQ(reply["user"], "newbie");
    EXPECT_TRUE(logIn("newbie", "n3w")) << "a second add changes the password";

    // Without a running broker the file is still written, and the CLI says it did not reload.
    auto noBroker = parleyctl({"broker", "add-user", "later", "pw", "--password-file",
                               broker.passwordFile(), "--pid-file", dir.file("none.pid")});
    EXPECT_EQ(noBroker.exitCode, kOk) << noBroker.err;
    EXPECT_TRUE(contains(noBroker.out, "the broker was not reloaded")) << noBroker.out;
    EXPECT_TRUE(contains(noBroker.err, "no pid file")) << noBroker.err;
    broker.reload();
    EXPECT_TRUE(logIn("later", "pw"));

    auto missing = parleyctl({"broker", "add-user", "x", "pw", "--password-file", dir.file("nope"),
                              "--pid-file", pidFile});
    EXPECT_EQ(missing.exitCode, kRefused);
    EXPECT_TRUE(contains(missing.err, "no password file " + dir.file("nope"))) << missing.err;
}

TEST(ParleyctlLocal, TokenMintsADevelopmentJwt) {
    TempDir dir("parleyctl-token");
    const std::string secret = dir.file("jwt.secret");
    std::ofstream(secret) << "0123456789abcdef0123456789abcdef-development\n";
    auto minted = parleyctl({"token", "u1", "--lifetime", "15m", "--secret-file", secret});
    ASSERT_EQ(minted.exitCode, kOk) << minted.err;
    EXPECT_TRUE(std::regex_match(minted.out,
                                 std::regex(R"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n)")))
        << minted.out;
    auto help = parleyctl({"token", "--help"});
    EXPECT_EQ(help.exitCode, kOk);
    EXPECT_TRUE(contains(help.out, "usage: parleyctl token")) << help.out;
    auto noUid = parleyctl({"token", "--secret-file", secret});
    EXPECT_EQ(noUid.exitCode, kUsage);
    auto noKey = parleyctl({"token", "u1", "--secret-file", dir.file("missing")});
    EXPECT_EQ(noKey.exitCode, kRefused) << noKey.err;
}

}  // namespace
}  // namespace parley::testing
