#include "Cli.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "ConnectionFlags.h"
#include "ExitCode.h"
#include "Rendering.h"
#include "Token.h"
#include "UserExport.h"

namespace parley::ctl {

using nlohmann::json;

namespace {

// Arguments that make no sense together, found after parsing; nothing was sent.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

constexpr const char* kDescription =
    "parleyctl: Parley's admin CLI. Connects as an admin (a uid in parleyd's `admins`) and runs "
    "admin commands; human tables by default, --json for scripts.\n"
    "Exit codes: 0 done, 1 refused by the server (or a local step failed), 2 usage error, "
    "3 broker or parleyd unreachable.";

// Asks on the terminal without echo, so the admin's password stays out of shell history.
std::string readPassword(const std::string& prompt) {
    std::cerr << prompt << std::flush;
    termios saved{};
    const bool terminal = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (terminal) {
        termios silent = saved;
        silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    }
    std::string password;
    std::getline(std::cin, password);
    if (terminal) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    }
    std::cerr << '\n';
    return password;
}

// "120" and "99.5" are sent as numbers, anything else ("120 EUR") as text.
json priceValue(const std::string& text) {
    json parsed = json::parse(text, nullptr, false);
    return !parsed.is_discarded() && parsed.is_number() ? parsed : json(text);
}

}  // namespace

Cli::Cli(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

Cli::~Cli() = default;

int Cli::run(int argc, char** argv) {
    CLI::App app{kDescription, "parleyctl"};
    app.require_subcommand(1);
    // Global flags may follow the subcommand: `parleyctl user show u1 --json`.
    app.fallthrough();
    client::addConnectionFlags(app, connection_);
    app.add_flag("--json", json_, "print the server's reply as one JSON object");
    app.add_option("--timeout", timeoutSeconds_, "seconds to wait for the broker and each reply")
        ->check(CLI::Range(0.1, 600.0))
        ->capture_default_str();
    addUserCommands(app);
    addListingCommands(app);
    addModerationCommands(app);
    addNotifyCommands(app);
    addExtensionCommands(app);
    addBrokerCommands(app);
    addTokenCommand(app);
    addCallCommand(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help answers 0; every other parse error is a usage error.
        return app.exit(error, out_, err_) == 0 ? kExitOk : kExitUsage;
    }
    try {
        return action_ ? action_() : kExitUsage;
    } catch (const UsageError& error) {
        err_ << "parleyctl: " << error.what() << "\nRun with --help for more information.\n";
        return kExitUsage;
    } catch (const Unreachable& error) {
        err_ << "parleyctl: " << error.what() << '\n';
        return kExitUnreachable;
    } catch (const BrokerUserError& error) {
        err_ << "parleyctl: " << error.what() << '\n';
        return kExitRefused;
    }
}

void Cli::addUserCommands(CLI::App& app) {
    auto* user = app.add_subcommand("user", "users: profiles, email addresses, sanctions");
    user->require_subcommand(1);

    auto* list = user->add_subcommand("list", "users Parley has seen, by uid (admin.users)");
    list->add_option("--limit", args_.limit, "users per page")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    list->add_option("--after", args_.after, "start after this uid (the previous page's last)");
    list->add_flag("--all", args_.all, "every page");
    list->callback([this] { action_ = [this] { return listUsers(); }; });

    auto* show = user->add_subcommand("show", "a user's profile, email and presence");
    show->add_option("UID", args_.uid, "the user")->required();
    show->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "admin.user.get"}, {"user", args_.uid}}, printUser);
        };
    });

    auto* set = user->add_subcommand("set", "change a user's display name and/or email");
    set->add_option("UID", args_.uid, "the user")->required();
    auto* name = set->add_option("--name", args_.name, "display name (\"\" clears it)");
    auto* email = set->add_option("--email", args_.email, "email address (\"\" clears it)");
    set->add_flag("--clear-email", args_.clearEmail, "remove the email address")->excludes(email);
    set->callback([this, name, email] {
        // Given, even as "": `--email ""` clears the address, no --email keeps it.
        const bool nameGiven = name->count() > 0;
        const bool emailGiven = email->count() > 0;
        action_ = [this, nameGiven, emailGiven] { return setUser(nameGiven, emailGiven); };
    });

    auto* exportCommand = user->add_subcommand(
        "export",
        "everything a user wrote and their conversations, as one JSON document "
        "(admin.user.export, page by page)");
    exportCommand->add_option("UID", args_.uid, "the user")->required();
    exportCommand->add_option("--output,-o", args_.output,
                              "write it to this new file (mode 0600) instead of stdout");
    exportCommand->callback([this] { action_ = [this] { return exportUser(); }; });

    auto* erase = user->add_subcommand(
        "erase",
        "erase a user: their messages become tombstones, they leave their conversations, their "
        "profile and email are deleted (admin.user.erase); cannot be undone");
    erase->add_option("UID", args_.uid, "the user")->required();
    erase->add_flag("--yes", args_.yes, "confirm the erasure");
    erase->callback([this] { action_ = [this] { return eraseUser(); }; });

    struct Sanction {
        const char* verb;
        const char* op;
        const char* help;
    };
    for (const Sanction& sanction :
         {Sanction{"mute", "mod.mute", "stop a user sending messages for MINUTES"},
          Sanction{"suspend", "mod.suspend", "stop a user sending and opening conversations"}}) {
        auto* command = user->add_subcommand(sanction.verb, sanction.help);
        command->add_option("UID", args_.uid, "the user")->required();
        command->add_option("MINUTES", args_.minutes, "how long (1-525600)")
            ->required()
            ->check(CLI::PositiveNumber);
        command->add_option("--reason", args_.reason, "why (the user is told)");
        const std::string op = sanction.op;
        command->callback([this, op] {
            action_ = [this, op] {
                json request = {{"op", op}, {"user", args_.uid}, {"minutes", args_.minutes}};
                if (!args_.reason.empty()) {
                    request["reason"] = args_.reason;
                }
                return serverCommand(request, printSanction);
            };
        });
    }

    auto* lift = user->add_subcommand("lift", "end a user's mute and suspension");
    lift->add_option("UID", args_.uid, "the user")->required();
    lift->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "mod.lift"}, {"user", args_.uid}}, printLift);
        };
    });
}

void Cli::addListingCommands(CLI::App& app) {
    auto* listing = app.add_subcommand("listing", "marketplace listings (scripts/listings.lua)");
    listing->require_subcommand(1);

    auto* show = listing->add_subcommand("show", "a listing (listing.get)");
    show->add_option("ID", args_.listing, "the listing's id")->required();
    show->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "listing.get"}, {"listing", args_.listing}}, printListing);
        };
    });

    auto* set = listing->add_subcommand(
        "set", "register a listing or change it (listing.upsert); unnamed fields are kept");
    set->add_option("ID", args_.listing, "the listing's id")->required();
    set->add_option("--owner", args_.owner, "the seller's uid (required for a new listing)");
    set->add_option("--title", args_.title, "title, at most 128 characters");
    set->add_option("--status", args_.status, "open, sold or closed")
        ->check(CLI::IsMember({"open", "sold", "closed"}));
    set->add_option("--url", args_.url, "the listing's page");
    set->add_option("--price", args_.price, "a number (sent as one) or text such as \"120 EUR\"");
    set->callback([this, set] { action_ = [this, set] { return setListing(*set); }; });
}

void Cli::addModerationCommands(CLI::App& app) {
    auto* report = app.add_subcommand("report", "the moderation queue (scripts/moderation.lua)");
    report->require_subcommand(1);

    auto* list = report->add_subcommand("list", "open reports, oldest first");
    list->add_flag("--all", args_.all, "resolved ones too");
    list->add_option("--limit", args_.limit, "at most this many (1-1000)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    list->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "mod.reports"},
                                  {"status", args_.all ? "all" : "open"},
                                  {"limit", args_.limit}},
                                 printReports);
        };
    });

    auto* show = report->add_subcommand("show", "a report with its evidence");
    show->add_option("ID", args_.report, "the report's id")->required();
    show->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "mod.report.show"}, {"report", args_.report}},
                                 printReport);
        };
    });

    auto* resolve = report->add_subcommand("resolve", "close a report, saying what was done");
    resolve->add_option("ID", args_.report, "the report's id")->required();
    resolve->add_option("RESOLUTION", args_.resolution, "e.g. dismissed, warned, muted")
        ->required();
    resolve->add_option("--note", args_.note, "for the other moderators");
    resolve->callback([this] {
        action_ = [this] {
            json request = {{"op", "mod.report.resolve"},
                            {"report", args_.report},
                            {"resolution", args_.resolution}};
            if (!args_.note.empty()) {
                request["note"] = args_.note;
            }
            return serverCommand(request, printReport);
        };
    });

    auto* audit = app.add_subcommand("audit", "the moderation audit log");
    audit->require_subcommand(1);
    auto* entries = audit->add_subcommand("list", "moderation actions, newest first");
    entries->add_option("--limit", args_.limit, "at most this many (1-1000)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    entries->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "mod.audit"}, {"limit", args_.limit}}, printAudit);
        };
    });
}

void Cli::addNotifyCommands(CLI::App& app) {
    auto* notify = app.add_subcommand(
        "notify", "a user's notification preferences (the notify plugin, docs/notifications.md)");
    notify->require_subcommand(1);

    auto* show = notify->add_subcommand("show", "email on or off, the delay, muted conversations");
    show->add_option("UID", args_.uid, "the user id")->required();
    show->callback([this] {
        action_ = [this] {
            return serverCommand({{"op", "notify.prefs.get"}, {"user", args_.uid}},
                                 printNotifyPreferences);
        };
    });

    auto* set = notify->add_subcommand(
        "set", "change a user's preferences (notify.prefs.set); unnamed ones are kept");
    set->add_option("UID", args_.uid, "the user id")->required();
    set->add_option("--email", args_.emailSetting, "on or off")
        ->check(CLI::IsMember({"on", "off"}));
    set->add_option("--delay-minutes", args_.delayMinutes,
                    "how long after unread activity an away user is notified (0-10080)")
        ->check(CLI::Range(0, 7 * 24 * 60));
    set->add_option("--mute", args_.mute, "a conversation never to notify about (repeatable)");
    set->add_option("--unmute", args_.unmute, "a conversation to notify about again (repeatable)");
    set->callback([this, set] { action_ = [this, set] { return setNotifyPreferences(*set); }; });
}

void Cli::addExtensionCommands(CLI::App& app) {
    auto* extension = app.add_subcommand("extension", "parleyd's plugins and Lua scripts");
    extension->require_subcommand(1);
    extension->add_subcommand("list", "what is loaded, with call and failure counts")
        ->callback([this] {
            action_ = [this] {
                return serverCommand({{"op", "admin.extensions"}}, printExtensions);
            };
        });
    extension
        ->add_subcommand("reload",
                         "recompile the Lua scripts; one that fails keeps running its old "
                         "version (exit code 1)")
        ->callback([this] { action_ = [this] { return reload(); }; });
}

void Cli::addBrokerCommands(CLI::App& app) {
    auto* broker = app.add_subcommand(
        "broker", "the development broker (tools/up.sh); needs no connection to parleyd");
    broker->require_subcommand(1);
    auto* add = broker->add_subcommand(
        "add-user",
        "add a user to the broker's password file (or change its password) and "
        "make the broker reload it, like config/mosquitto/add-user.sh");
    add->add_option("NAME", args_.uid, "the user id")->required();
    add->add_option("PASSWORD", args_.password, "the password")->required();
    add->add_option("--password-file", args_.brokerFiles.passwordFile, "Mosquitto password file")
        ->capture_default_str();
    add->add_option("--pid-file", args_.brokerFiles.pidFile, "the broker's pid file")
        ->capture_default_str();
    add->callback([this] { action_ = [this] { return addBrokerUser(); }; });
}

void Cli::addTokenCommand(CLI::App& app) {
    auto* token = app.add_subcommand(
        "token", "mint a development JWT for the broker's JWT login (`parleyctl token --help`)");
    // Everything after "token" is the token command's own, --help included.
    token->prefix_command();
    token->allow_extras();
    token->fallthrough(false);
    token->set_help_flag();
    token->callback([this, token] {
        const auto args = token->remaining();
        action_ = [this, args] { return runTokenCommand(args, out_, err_); };
    });
}

void Cli::addCallCommand(CLI::App& app) {
    auto* call = app.add_subcommand(
        "call", "send any command (e.g. an extension's admin command); prints the reply's JSON");
    call->add_option("OP", args_.op, "the command's op, e.g. mod.reports")->required();
    call->add_option("FIELDS", args_.fields, "its fields, a JSON object, e.g. '{\"limit\":5}'");
    call->callback([this] { action_ = [this] { return callAny(); }; });
}

AdminClient& Cli::client() {
    if (!client_) {
        if (connection_.user.empty()) {
            throw UsageError("which admin? give --user, PARLEY_USER or a config file");
        }
        if (connection_.password.empty() && isatty(STDIN_FILENO) != 0) {
            connection_.password = readPassword("Password for " + connection_.user + ": ");
        }
        client_ = std::make_unique<AdminClient>(
            connection_, std::chrono::milliseconds(static_cast<long>(timeoutSeconds_ * 1000)));
    }
    return *client_;
}

int Cli::serverCommand(json command, Printer print) {
    return present(client().call(std::move(command)), print);
}

int Cli::present(const json& reply, Printer print) {
    if (!reply.value("ok", false)) {
        return refused(reply);
    }
    if (json_) {
        printJson(reply);
    } else {
        print(reply, out_);
    }
    return kExitOk;
}

int Cli::refused(const json& reply) {
    if (json_) {
        printJson(reply);
    }
    const json error = reply.value("error", json::object());
    err_ << "parleyctl: " << error.value("code", "error") << ": "
         << error.value("message", "(no message)") << '\n';
    return kExitRefused;
}

void Cli::printJson(json reply) {
    reply.erase("id");  // parleyctl's own request id: nothing for a script
    out_ << reply.dump() << '\n';
}

int Cli::setUser(bool nameGiven, bool emailGiven) {
    json request = {{"op", "admin.user.set"}, {"user", args_.uid}};
    if (nameGiven) {
        request["name"] = args_.name;
    }
    if (args_.clearEmail) {
        request["email"] = nullptr;
    } else if (emailGiven) {
        request["email"] = args_.email;
    }
    if (request.size() == 2) {
        throw UsageError("user set: give --name, --email or --clear-email");
    }
    return serverCommand(request, printUser);
}

int Cli::listUsers() {
    json users = json::array();
    std::string after = args_.after;
    while (true) {
        json request = {{"op", "admin.users"}, {"limit", args_.all ? 1000 : args_.limit}};
        if (!after.empty()) {
            request["after"] = after;
        }
        json reply = client().call(request);
        if (!reply.value("ok", false)) {
            return refused(reply);
        }
        for (auto& user : reply["users"]) {
            users.push_back(std::move(user));
        }
        if (!args_.all || !reply.value("has_more", false)) {
            reply["users"] = std::move(users);
            return present(reply, printUsers);
        }
        after = reply.value("next_after", "");
    }
}

int Cli::exportUser() {
    const auto call = [this](json command) { return client().call(std::move(command)); };
    try {
        if (args_.output.empty()) {
            writeUserExport(call, args_.uid, out_);
            return kExitOk;
        }
        std::error_code ignored;
        if (std::filesystem::exists(args_.output, ignored)) {
            throw UsageError(args_.output + " exists already; give a new file name");
        }
        // Personal data: readable by its owner only, and named as the export only once whole.
        const std::string partial = args_.output + ".partial";
        std::filesystem::remove(partial, ignored);
        const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            err_ << "parleyctl: cannot create " << partial << ": " << std::strerror(errno) << '\n';
            return kExitRefused;
        }
        ::close(fd);
        struct RemoveUnlessDone {
            const std::string& path;
            bool done = false;
            ~RemoveUnlessDone() {
                if (!done) {
                    std::error_code ignoredHere;
                    std::filesystem::remove(path, ignoredHere);
                }
            }
        } cleanup{partial};
        std::ofstream file(partial, std::ios::trunc);
        const ExportCounts counts = writeUserExport(call, args_.uid, file);
        file.close();
        if (!file) {
            err_ << "parleyctl: cannot write " << partial << '\n';
            return kExitRefused;
        }
        std::error_code renamed;
        std::filesystem::rename(partial, args_.output, renamed);
        if (renamed) {
            err_ << "parleyctl: cannot rename " << partial << " to " << args_.output << ": "
                 << renamed.message() << '\n';
            return kExitRefused;
        }
        cleanup.done = true;
        if (json_) {
            out_ << json{{"ok", true},
                         {"user", args_.uid},
                         {"file", args_.output},
                         {"conversations", counts.conversations},
                         {"messages", counts.messages}}
                        .dump()
                 << '\n';
        } else {
            out_ << "user " << args_.uid << " exported to " << args_.output << ": "
                 << counts.conversations << " conversation(s), " << counts.messages
                 << " message(s)\n";
        }
        return kExitOk;
    } catch (const ExportRefused& refusal) {
        return refused(refusal.reply());
    }
}

int Cli::eraseUser() {
    if (!args_.yes) {
        throw UsageError("user erase cannot be undone: add --yes to erase " + args_.uid);
    }
    return serverCommand({{"op", "admin.user.erase"}, {"user", args_.uid}}, printErasure);
}

int Cli::setListing(const CLI::App& command) {
    json request = {{"op", "listing.upsert"}, {"listing", args_.listing}};
    const std::pair<const char*, const std::string*> fields[] = {{"owner", &args_.owner},
                                                                 {"title", &args_.title},
                                                                 {"status", &args_.status},
                                                                 {"url", &args_.url}};
    for (const auto& [key, value] : fields) {
        if (command.count(std::string("--") + key) > 0) {
            request[key] = *value;
        }
    }
    if (command.count("--price") > 0) {
        request["price"] = priceValue(args_.price);
    }
    return serverCommand(request, printListing);
}

int Cli::setNotifyPreferences(const CLI::App& command) {
    json request = {{"op", "notify.prefs.set"}, {"user", args_.uid}};
    if (command.count("--email") > 0) {
        request["email"] = args_.emailSetting == "on";
    }
    if (command.count("--delay-minutes") > 0) {
        request["delay_ms"] = int64_t{args_.delayMinutes} * 60 * 1000;
    }
    if (!args_.mute.empty()) {
        request["mute"] = args_.mute;
    }
    if (!args_.unmute.empty()) {
        request["unmute"] = args_.unmute;
    }
    if (request.size() == 2) {
        throw UsageError("name at least one of --email, --delay-minutes, --mute, --unmute");
    }
    return serverCommand(request, printNotifyPreferences);
}

int Cli::reload() {
    const json reply = client().call({{"op", "admin.reload"}});
    const int code = present(reply, printReload);
    if (code != kExitOk) {
        return code;
    }
    const json failed = reply.value("failed", json::array());
    for (const auto& failure : failed) {
        err_ << "parleyctl: " << failure.value("name", "?")
             << " failed to reload: " << failure.value("error", "") << '\n';
    }
    return failed.empty() ? kExitOk : kExitRefused;
}

int Cli::addBrokerUser() {
    if (!isBrokerUserName(args_.uid)) {
        throw UsageError("a user id is 1-64 characters from A-Z a-z 0-9 . _ @ -");
    }
    if (args_.password.empty()) {
        throw UsageError("the password must not be empty");
    }
    const AddedBrokerUser added = ctl::addBrokerUser(args_.uid, args_.password, args_.brokerFiles);
    if (json_) {
        out_ << json{{"ok", true},
                     {"user", args_.uid},
                     {"password_file", args_.brokerFiles.passwordFile},
                     {"reloaded", added.reloaded},
                     {"note", added.note.empty() ? json(nullptr) : json(added.note)}}
                    .dump()
             << '\n';
    } else {
        out_ << "user " << args_.uid << " added to " << args_.brokerFiles.passwordFile
             << (added.reloaded ? "; the broker reloaded it: the user can log in now"
                                : "; the broker was not reloaded")
             << '\n';
    }
    if (!added.reloaded) {
        err_ << "parleyctl: " << added.note << '\n';
    }
    return kExitOk;
}

int Cli::callAny() {
    json request = json::object();
    if (!args_.fields.empty()) {
        request = json::parse(args_.fields, nullptr, false);
        if (!request.is_object()) {
            throw UsageError("call: FIELDS must be a JSON object, e.g. '{\"limit\":5}'");
        }
    }
    request["op"] = args_.op;
    request.erase("id");
    const json reply = client().call(request);
    printJson(reply);  // no human form for a command parleyctl does not know
    if (!reply.value("ok", false)) {
        const json error = reply.value("error", json::object());
        err_ << "parleyctl: " << error.value("code", "error") << ": "
             << error.value("message", "(no message)") << '\n';
        return kExitRefused;
    }
    return kExitOk;
}

}  // namespace parley::ctl
