#pragma once

#include <stdexcept>
#include <string>

namespace parley::ctl {

// A development broker's password file and the broker that reads it (tools/up.sh's layout when
// run from the repository root).
struct BrokerFiles {
    std::string passwordFile = "var/dev/passwd";
    std::string pidFile = "var/dev/mosquitto.pid";
};

struct AddedBrokerUser {
    bool reloaded = false;  // the broker was told (SIGHUP) to read the password file again
    std::string note;       // why not, when it was not
};

class BrokerUserError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// What config/mosquitto/add-user.sh does: adds `name` (or changes its password) with
// `mosquitto_passwd -b` to an existing password file (which keeps its permissions), and sends
// SIGHUP to the broker named by the pid file if it runs. Throws BrokerUserError.
AddedBrokerUser addBrokerUser(const std::string& name, const std::string& password,
                              const BrokerFiles& files);

// A user id as Parley and the ACL accept it: 1-64 of A-Z a-z 0-9 . _ @ -
bool isBrokerUserName(const std::string& name);

}  // namespace parley::ctl
