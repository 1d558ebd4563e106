// parley-bench: Parley's load generator. Simulated users, each a real MQTT connection, in 1:1
// pairs or groups, sending as fast as replies allow or at a given rate, for a count or a time;
// it reports throughput, latency, losses and duplicates, and the server's CPU and memory.
// `parley-bench relay` is the raw ceiling's trivial relay (see Relay.h). docs/performance.md.
#include <iostream>

#include <CLI/CLI.hpp>

#include "ConnectionFlags.h"
#include "Flood.h"
#include "LoadRun.h"
#include "PollLoadRun.h"
#include "Relay.h"

using namespace parley::bench;

int main(int argc, char** argv) {
    CLI::App app{"parley-bench: load generator for Parley (docs/performance.md)"};
    LoadOptions options;
    bool json = false;
    app.add_option("--uri", options.uri, "MQTT server")->capture_default_str();
    parley::client::addTlsFlags(app, options.tls);
    app.add_option("--prefix", options.prefix, "topic prefix")->capture_default_str();
    app.add_option("--user-prefix", options.userPrefix,
                   "bench users are <prefix>0001, <prefix>0002, ... (the broker must know them)")
        ->capture_default_str();
    app.add_option("--password", options.password, "the bench users' password")
        ->envname("PARLEY_BENCH_PASSWORD");
    app.add_option("--users", options.users, "simulated users")->capture_default_str();
    app.add_option("--group-size", options.groupSize, "2: 1:1 pairs; more: groups of that size")
        ->capture_default_str()
        ->check(CLI::Range(2, 1000));
    app.add_option("--rate", options.rate, "messages per second offered in total; 0: flood")
        ->capture_default_str();
    app.add_flag("--senders-in-turns", options.sendersInTurns,
                 "paced: users send in turns (0, 1, 2, ...), not drawn at random");
    app.add_option("--window", options.window, "flood: messages awaiting their reply per sender")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--count", options.count, "stop after this many messages (else --seconds)");
    app.add_option("--seconds", options.seconds, "seconds of sending")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 3600.0));
    app.add_option("--drain", options.drainSeconds, "seconds to wait for what is still on its way")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 600.0));
    app.add_option("--max-unanswered", options.maxUnansweredPerUser,
                   "paced: a user with this many messages awaiting their reply waits")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    app.add_option("--body-bytes", options.bodyBytes, "message body size")
        ->capture_default_str()
        ->check(CLI::Range(1, 16000));
    app.add_option("--flooder", options.flooderCommands,
                   "one more user (the name after the others) sends this many msg.send as fast "
                   "as it can when sending starts, from a process of its own: the others' "
                   "latency shows what it costs them")
        ->check(CLI::Range(0LL, 10000000LL));
    app.add_flag("--flooder-whole-run", options.flooderWholeRun,
                 "the flooder sends as fast as its connection allows for as long as the others "
                 "send (instead of --flooder N)");
    app.add_option("--server-pid", options.serverPid, "parleyd's pid: report its CPU and memory");
    app.add_option("--timeline", options.timelinePath,
                   "write a CSV line per reply to this file: sent_ms,reply_ms");
    bool paho = false;
    app.add_flag("--paho", paho,
                 "the old generator (Paho, a thread per connection and one message routed at a "
                 "time); --flooder and WebSocket URIs always use it");
    app.add_flag("--bare", options.bare,
                 "the plain poll() loop the generator is measured against: replies and events "
                 "counted, nothing parsed or checked");
    app.add_flag("--away", options.recipientsAway,
                 "every user chooses presence away before sending (the notify plugin then "
                 "schedules digests)");
    app.add_flag("--json", json, "print the report as one JSON object");
    bool quiet = false;
    app.add_flag("--quiet", quiet, "no progress line");

    std::string relayUser = "parleyd", relayPassword;
    auto* relay =
        app.add_subcommand("relay", "run the raw ceiling's trivial relay (until SIGTERM)");
    relay->add_option("--relay-user", relayUser, "the relay's broker user (parleyd's rights)")
        ->capture_default_str();
    relay->add_option("--relay-password", relayPassword, "its password")
        ->envname("PARLEY_RELAY_PASSWORD");
    int inflight = 1000;
    relay
        ->add_option("--inflight", inflight,
                     "QoS 1 publishes awaiting their PUBACK (give parleyd's broker.max_inflight)")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));

    FloodOptions floodOptions;
    auto* flood = app.add_subcommand(
        "flood",
        "one user sends msg.send as fast as its connection allows, prints what it got as JSON "
        "(what --flooder starts as a process of its own)");
    flood->add_option("--user", floodOptions.uid, "the flooding user")->required();
    flood->add_option("--conv", floodOptions.conv, "a conversation of that user")->required();
    flood->add_option("--seconds", floodOptions.seconds, "flood for this long")
        ->check(CLI::Range(0.0, 3600.0));
    flood->add_option("--count", floodOptions.count, "or send this many")
        ->check(CLI::Range(0LL, 10000000LL));
    flood->add_option("--denied-peer", floodOptions.deniedPeer,
                      "publish on this user's command topic instead: the broker refuses every "
                      "one, so the flood costs the broker only");
    flood->add_option("--drain", floodOptions.drainSeconds, "then wait this long for the answers")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 600.0));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error) == 0 ? 0 : 2;
    }
    if (relay->parsed()) {
        return runRelay(options.uri, options.tls, options.prefix, relayUser, relayPassword,
                        inflight);
    }
    if (flood->parsed()) {
        if ((floodOptions.seconds > 0) == (floodOptions.count > 0)) {
            std::cerr << "parley-bench flood: give --seconds or --count\n";
            return 2;
        }
        floodOptions.uri = options.uri;
        floodOptions.tls = options.tls;
        floodOptions.prefix = options.prefix;
        floodOptions.password = options.password;
        try {
            std::cout << runFlood(floodOptions).toJson().dump() << std::endl;
            return 0;
        } catch (const std::exception& error) {
            std::cerr << "parley-bench flood: " << error.what() << '\n';
            return 3;
        }
    }
    options.progress = !quiet;
    try {
        const bool flooding = options.flooderCommands > 0 || options.flooderWholeRun;
        const bool webSocket = options.uri.rfind("ws", 0) == 0;
        const LoadReport report = [&] {
            if (paho || flooding || webSocket) {
                return LoadRun(options).run();
            }
            return PollLoadRun(options).run();
        }();
        if (json) {
            std::cout << report.toJson().dump() << std::endl;
        } else {
            std::cout << report.toText();
        }
        const bool clean = report.unanswered == 0 && report.lostDeliveries == 0 &&
                           report.duplicateDeliveries == 0 && report.duplicateStores == 0 &&
                           report.seqGaps == 0;
        return clean ? 0 : 1;
    } catch (const std::exception& error) {
        std::cerr << "parley-bench: " << error.what() << '\n';
        return 3;
    }
}
