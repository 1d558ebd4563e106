// parley: Parley's terminal chat client. Without a subcommand on a terminal: the interactive UI.
// Subcommands for scripts: send, history, list, watch, open, create, read, call. See
// docs/clients.md.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <iterator>

#include "ChatUi.h"
#include "Commands.h"
#include "ConnectionFlags.h"
#include "Watcher.h"

using namespace parley::client;

namespace {

std::atomic<bool> interrupted{false};

void onSignal(int) {
    interrupted = true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"parley: Parley's terminal chat client (docs/clients.md)"};
    app.set_version_flag("--version", "parley 0.1.0");
    // Global flags may follow the subcommand (`parley history CONV --json`), as with parleyctl.
    app.fallthrough();
    ConnectionOptions options;
    addConnectionFlags(app, options);
    bool json = false;
    app.add_flag("--json", json, "print replies and messages as JSON lines");
    double timeoutSeconds = 30;
    app.add_option("--timeout", timeoutSeconds,
                   "seconds to wait for each reply (reconnects and resends meanwhile)")
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
        ->check(CLI::PositiveNumber);

    app.add_subcommand("ui", "the interactive client (the default on a terminal)");

    Target target;
    std::string body, meta, cmid;
    auto* send = app.add_subcommand("send", "send a message (the body from stdin if not given)");
    send->add_option("conv", target.conv, "conversation id (or use --to)");
    send->add_option("body", body, "the message");
    send->add_option("--to", target.peer, "send to the 1:1 conversation with this user");
    send->add_option("--listing", target.listing, "with --to: the conversation about this listing");
    send->add_option("--meta", meta, "JSON object sent as the message's meta");
    send->add_option("--cmid", cmid, "client message id (default: a fresh one)");

    std::string conv;
    std::optional<long long> before, after, seq;
    int limit = 50;
    bool all = false;
    auto* history = app.add_subcommand("history", "print a conversation's messages");
    history->add_option("conv", conv, "conversation id")->required();
    history->add_option("--before", before, "only messages before this seq");
    history->add_option("--after", after, "only messages after this seq");
    history->add_option("--limit", limit, "messages per page (1-100)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    history->add_flag("--all", all, "every page, not only the first");

    std::string listing;
    auto* list = app.add_subcommand("list", "your conversations, newest activity first");
    list->add_option("--limit", limit, "at most this many (1-100)")->check(CLI::Range(1, 100));
    list->add_option("--listing", listing, "only the conversations about this listing");

    Watcher::Options watchOptions;
    double forSeconds = 0;
    long long count = 0;
    auto* watch = app.add_subcommand("watch", "print every event as a JSON line");
    watch->add_option("--conv", watchOptions.conv, "only this conversation");
    watch->add_option("--presence", watchOptions.presence, "also these users' presence");
    watch->add_option("--count", count, "stop after this many events")->check(CLI::PositiveNumber);
    watch->add_option("--for", forSeconds, "stop after this many seconds")
        ->check(CLI::PositiveNumber);

    auto* open = app.add_subcommand("open", "open (get or create) a 1:1 conversation");
    open->add_option("peer", target.peer, "the other user")->required();
    open->add_option("--listing", target.listing, "about this listing");
    open->add_option("--title", target.title, "with --listing: the listing's title");

    std::vector<std::string> members;
    std::string title;
    auto* create = app.add_subcommand("create", "create a group conversation");
    create->add_option("members", members, "the other members")->required();
    create->add_option("--title", title, "the group's title");

    auto* read = app.add_subcommand("read", "mark a conversation read");
    read->add_option("conv", conv, "conversation id")->required();
    read->add_option("seq", seq, "up to this seq (default: everything)");

    std::string commandText;
    auto* call = app.add_subcommand("call", "send any command and print its reply");
    call->add_option("command", commandText, "the command as JSON, e.g. '{\"op\":\"ping\"}'")
        ->required();

    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error) == 0 ? kOk : kUsage;
    }

    const bool interactive = app.get_subcommands().empty() || app.got_subcommand("ui");
    if (interactive) {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
            std::cerr << "parley: the interactive client needs a terminal; see parley --help for "
                         "the subcommands\n";
            return kUsage;
        }
        return runChatUi(options);
    }
    if (send->parsed()) {
        if (!target.peer.empty()) {
            // parley send --to bob TEXT: the one positional argument is the body.
            if (!body.empty()) {
                std::cerr << "parley send: with --to, give only the message\n";
                return kUsage;
            }
            body = target.conv;
            target.conv.clear();
        } else if (target.conv.empty()) {
            std::cerr << "parley send: give a conversation id or --to USER\n";
            return kUsage;
        }
        if (body.empty()) {
            body.assign(std::istreambuf_iterator<char>(std::cin), {});
            while (!body.empty() && body.back() == '\n') {
                body.pop_back();
            }
        }
        if (!meta.empty()) {
            auto parsed = nlohmann::json::parse(meta, nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object()) {
                std::cerr << "parley send: --meta must be a JSON object\n";
                return kUsage;
            }
        }
    }
    if (call->parsed()) {
        auto parsed = nlohmann::json::parse(commandText, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("op")) {
            std::cerr << "parley call: the command must be a JSON object with an \"op\"\n";
            return kUsage;
        }
    }
    // A script (cron, a watcher) is not the user being there: it neither says online nor leaves
    // offline as its last will, and its commands leave presence as they find it.
    options.announcePresence = false;
    options.countsAsActivity = false;

    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::signal(SIGPIPE, SIG_IGN);
    const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeoutSeconds * 1000));
    try {
        Session session(options);
        std::unique_ptr<Watcher> watcher;
        if (watch->parsed()) {
            if (count > 0) {
                watchOptions.count = count;
            }
            if (forSeconds > 0) {
                watchOptions.duration =
                    std::chrono::milliseconds(static_cast<long long>(forSeconds * 1000));
            }
            watchOptions.interrupted = &interrupted;
            watcher = std::make_unique<Watcher>(session, std::cout, watchOptions);
            watcher->attach();
        }
        session.connect();
        if (watcher) {
            return watcher->run();
        }
        Commands commands(session, Output{std::cout, json}, timeout);
        if (send->parsed()) {
            commands.send(target, body, meta, cmid);
        } else if (history->parsed()) {
            commands.history(conv, before, after, limit, all);
        } else if (list->parsed()) {
            commands.list(limit, listing);
        } else if (open->parsed()) {
            commands.open(target);
        } else if (create->parsed()) {
            commands.create(members, title);
        } else if (read->parsed()) {
            commands.read(conv, seq);
        } else if (call->parsed()) {
            commands.call(commandText);
        }
        return kOk;
    } catch (const CommandRefused& refused) {
        std::cerr << "parley: " << refused.what() << '\n';
        return kRefused;
    } catch (const SessionError& error) {
        std::cerr << "parley: " << error.what() << '\n';
        return kUnreachable;
    }
}
