#include "Stack.h"

#include <gtest/gtest.h>

#include <map>

#include <stdexcept>
#include "Paths.h"

namespace parley::testing {

namespace {
std::unique_ptr<MariaDbServer> mariaDb;
std::map<std::string, std::unique_ptr<Stack>> stacks;

// Stops parleyd before the database it uses, and everything before the process exits.
class StopEverything : public ::testing::Environment {
  public:
    void TearDown() override {
        stacks.clear();
        mariaDb.reset();
    }
};
[[maybe_unused]] const auto* const kStopEverything =
    ::testing::AddGlobalTestEnvironment(new StopEverything);  // gtest takes ownership
}  // namespace

MariaDbServer& sharedMariaDb() {
    if (!mariaDb) {
        mariaDb = std::make_unique<MariaDbServer>();
    }
    return *mariaDb;
}

Stack& Stack::forBackend(const std::string& backend, Flavour flavour) {
    auto& stack = stacks[backend + (flavour == Flavour::Marketplace ? "+marketplace" : "")];
    if (!stack) {
        stack = std::make_unique<Stack>(backend, flavour);
    }
    return *stack;
}

Stack::Stack(const std::string& backend, Flavour flavour) : backend_(backend) {
    std::vector<BrokerUser> users{{"parleyd", "parleyd-secret"},
                                  {"mallory", passwordOf("mallory")},
                                  {"ops", passwordOf("ops")}};
    for (int i = 1; i <= kUsers; ++i) {
        const std::string uid = "u" + std::to_string(i);
        users.push_back({uid, passwordOf(uid)});
    }
    broker_ = std::make_unique<MosquittoServer>(users);

    std::string store;
    if (backend == "sqlite") {
        store = "  backend: sqlite\n  sqlite: {path: parley.db, synchronous: normal}\n";
    } else if (backend == "mariadb") {
        auto& mariadb = sharedMariaDb();
        store =
            "  backend: mysql\n  mysql: {host: 127.0.0.1, port: " + std::to_string(mariadb.port()) +
            ", user: " + mariadb.user() + ", password: '" + mariadb.password() +
            "', database: " + mariadb.createDatabase() + ", pool_size: 5}\n";
    } else {
        throw std::invalid_argument("unknown backend " + backend);
    }
    std::string yaml =
        "broker:\n"
        "  uri: " +
        broker_->uri() +
        "\n"
        "  client_id: parleyd-it-" +
        backend +
        "\n"
        "  username: parleyd\n"
        "  password: parleyd-secret\n"
        "  session_expiry: 5m\n"
        "store:\n" +
        store +
        "  retry_for: 10s\n"
        "presence: {away_after: 2s, sweep_interval: 200ms}\n"
        "limits: {edit_window: 4s}\n"
        "log: {level: info}\n";
    if (flavour == Flavour::Plain) {
        // No test user is named so: tests that need an admin (admin.user.erase) connect as it.
        yaml += "admins: [ops]\n";
    }
    if (flavour == Flavour::Marketplace) {
        // Limits low enough for a test to reach; every test uses fresh users. The hooks' budgets
        // are generous: a hook that overruns fails open (the message goes through unfiltered),
        // and the tests check the rules, not how a loaded test machine keeps the 50 ms default.
        yaml +=
            "admins: [ops]\n"
            "hooks:\n"
            "  message.before_store: {budget: 2s}\n"
            "  message.before_edit: {budget: 2s}\n"
            "  conversation.before_create: {budget: 2s}\n"
            "  conversation.before_open: {budget: 2s}\n"
            "  event.before_deliver: {budget: 2s}\n"
            "extensions:\n"
            "  - name: moderation\n"
            "    script: " +
            sourceDir() +
            "/scripts/moderation.lua\n"
            "    options: {messages_per_minute: 20, conversations_per_hour: 5, "
            "words: [scam, cr\u00E9dit], max_links: 2}\n"
            "  - name: listings\n"
            "    script: " +
            sourceDir() + "/scripts/listings.lua\n";
    }
    parleyd_ = std::make_unique<ParleydProcess>(yaml);
}

std::string Stack::newUser() {
    if (nextUser_ > kUsers) {
        throw std::runtime_error("the integration tests used more than " + std::to_string(kUsers) +
                                 " users: raise Stack::kUsers");
    }
    return "u" + std::to_string(nextUser_++);
}

std::unique_ptr<MqttTestClient> Stack::connect(const std::string& uid,
                                               std::optional<nlohmann::json> will) {
    return std::make_unique<MqttTestClient>(broker_->uri(), uid, passwordOf(uid), std::move(will));
}

}  // namespace parley::testing
