#pragma once

#include <memory>
#include <string>

#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"

namespace parley::testing {

// The MariaDB server shared by every test of this binary (started on first use, from the main
// thread, stopped at exit).
MariaDbServer& sharedMariaDb();

// A real Mosquitto with Parley's config and ACL, and a parleyd on one storage backend behind it.
// One per backend (and flavour) for the whole binary; tests keep apart by using fresh users.
class Stack {
  public:
    enum class Flavour {
        Plain,        // parleyd alone, admin "ops"
        Marketplace,  // with scripts/moderation.lua and scripts/listings.lua, admin "ops"
    };

    // backend: "sqlite" or "mariadb"
    static Stack& forBackend(const std::string& backend, Flavour flavour = Flavour::Plain);

    Stack(const std::string& backend, Flavour flavour);

    MosquittoServer& broker() { return *broker_; }
    ParleydProcess& parleyd() { return *parleyd_; }
    const std::string& backend() const { return backend_; }

    // A user no other test has used; its password is passwordOf(uid).
    std::string newUser();
    static std::string passwordOf(const std::string& uid) { return "pw-" + uid; }
    std::unique_ptr<MqttTestClient> connect(const std::string& uid,
                                            std::optional<nlohmann::json> will = std::nullopt);

    static constexpr int kUsers = 400;

  private:
    std::string backend_;
    std::unique_ptr<MosquittoServer> broker_;
    std::unique_ptr<ParleydProcess> parleyd_;
    int nextUser_ = 1;
};

}  // namespace parley::testing
