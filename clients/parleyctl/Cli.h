#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "AdminClient.h"
#include "BrokerUser.h"
#include "Session.h"

namespace parley::ctl {

// parleyctl's command line: nouns with verbs (user show, listing set, report resolve, ...), each
// one admin command sent to parleyd and its reply shown as a table or, with --json, as the
// reply's JSON object. docs/clients.md describes every subcommand and the exit codes.
class Cli {
  public:
    Cli(std::ostream& out, std::ostream& err);
    ~Cli();

    // Parses the arguments, runs the subcommand and returns the exit code (ExitCode.h).
    int run(int argc, char** argv);

  private:
    using Printer = void (*)(const nlohmann::json& reply, std::ostream& out);

    // What the command line asked for, filled in by CLI11.
    struct Arguments {
        std::string uid;
        std::string name;
        std::string email;
        bool clearEmail = false;
        int limit = 100;
        std::string after;
        bool all = false;
        std::string listing;
        std::string owner;
        std::string title;
        std::string status;
        std::string url;
        std::string price;
        std::string report;
        std::string resolution;
        std::string note;
        std::string reason;
        int minutes = 0;
        std::string password;
        BrokerFiles brokerFiles;
        std::string op;
        std::string fields;
        std::string output;
        bool yes = false;
        std::string emailSetting;
        int delayMinutes = 0;
        std::vector<std::string> mute;
        std::vector<std::string> unmute;
    };

    void addUserCommands(CLI::App& app);
    void addListingCommands(CLI::App& app);
    void addModerationCommands(CLI::App& app);
    void addNotifyCommands(CLI::App& app);
    void addExtensionCommands(CLI::App& app);
    void addBrokerCommands(CLI::App& app);
    void addTokenCommand(CLI::App& app);
    void addCallCommand(CLI::App& app);

    // Sends one command and shows its reply; returns the exit code.
    int serverCommand(nlohmann::json command, Printer print);
    int present(const nlohmann::json& reply, Printer print);
    int refused(const nlohmann::json& reply);
    void printJson(nlohmann::json reply);

    int setUser(bool nameGiven, bool emailGiven);
    int listUsers();
    int exportUser();
    int eraseUser();
    int setListing(const CLI::App& command);
    int setNotifyPreferences(const CLI::App& command);
    int reload();
    int addBrokerUser();
    int callAny();

    AdminClient& client();

    std::ostream& out_;
    std::ostream& err_;
    client::ConnectionOptions connection_;
    bool json_ = false;
    double timeoutSeconds_ = 10;
    Arguments args_;
    std::function<int()> action_;
    std::unique_ptr<AdminClient> client_;
};

}  // namespace parley::ctl
