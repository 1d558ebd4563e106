// The Debian package (packaging/): built with CPack from this build (or taken from
// $PARLEY_PACKAGE_DEB), installed on this machine with dpkg, parleyd started from the installed
// paths, as the service user, with a configuration derived from the installed
// /etc/parley/parleyd.yaml, behind a Mosquitto running the installed broker configuration, ACL and
// login plugin; two users exchange a message; then the package is purged and nothing of it may be
// left. It changes the machine, so: root only (CI runs as root on Debian 12), one run at a time on
// the machine (a lock file, beside ctest's RESOURCE_LOCK), and it undoes what it did when it
// fails; a run killed midway is undone by the next one (a marker file says what it had done).

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "TempDir.h"

namespace parley::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kPackage = "parley-chat";
constexpr const char* kServiceUser = "parley";
// Held (flock) for the whole test: another suite on this machine (another build tree) waits.
constexpr const char* kMachineLock = "/run/lock/parley-package-test.lock";
// Written before the package is installed, removed once the machine is as it was.
constexpr const char* kMarker = "/var/tmp/parley-package-test.marker";

std::string readFile(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::vector<std::string> linesOf(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) {
        lines.push_back(line);
    }
    return lines;
}

struct CommandResult {
    int status;
    std::string output;
};

// Runs a command to its end (stdout and stderr together).
CommandResult run(const std::vector<std::string>& argv, std::chrono::seconds timeout = 120s) {
    TempDir dir("parley-package-run");
    const std::string log = dir.file("output");
    const int status = runToCompletion(argv, log, timeout);
    return CommandResult{status, readFile(log)};
}

std::string describe(const std::vector<std::string>& argv, const CommandResult& result) {
    std::string command;
    for (const auto& arg : argv) {
        command += arg + " ";
    }
    return command + "-> exit " + std::to_string(result.status) + ":\n" + result.output;
}

// dpkg refuses at once while another dpkg or apt runs (tools/deps.sh of another suite): wait for
// its lock up to 5 minutes.
CommandResult runDpkg(const std::vector<std::string>& argv) {
    const auto deadline = std::chrono::steady_clock::now() + 5min;
    for (;;) {
        CommandResult result = run(argv, 300s);
        const bool locked = result.status != 0 && result.output.find("lock") != std::string::npos &&
                            result.output.find("another process") != std::string::npos;
        if (!locked || std::chrono::steady_clock::now() > deadline) {
            return result;
        }
        std::this_thread::sleep_for(2s);
    }
}

// "installed", "config-files", "half-configured"... or "" when it is not on the machine.
std::string packageStatus() {
    CommandResult result = run({"dpkg-query", "-W", "-f=${db:Status-Status}", kPackage});
    return result.status == 0 && result.output != "not-installed" ? result.output : "";
}

bool userExists(const char* name) {
    return ::getpwnam(name) != nullptr;
}

// Holds an exclusive flock on kMachineLock (waiting up to 10 minutes for another run).
class MachineLock {
  public:
    MachineLock() {
        fd_ = ::open(kMachineLock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0) {
            throw std::runtime_error(std::string("cannot open ") + kMachineLock);
        }
        const auto deadline = std::chrono::steady_clock::now() + 10min;
        while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::close(fd_);
                throw std::runtime_error(std::string("another package test held ") + kMachineLock +
                                         " for 10 minutes");
            }
            std::this_thread::sleep_for(1s);
        }
    }
    ~MachineLock() { ::close(fd_); }
    MachineLock(const MachineLock&) = delete;
    MachineLock& operator=(const MachineLock&) = delete;

  private:
    int fd_ = -1;
};

// What this test did to the machine, and undoing it: purging the package (if still there),
// removing the service user if the package created it for this test, removing the marker.
class MachineState {
  public:
    // Undoes a run that was killed midway (its marker is there), then checks that nothing of the
    // package is on the machine that this test did not put there: it purges what it installs.
    static std::string undoAnEarlierRunThenCheck() {
        if (fs::exists(kMarker)) {
            MachineState leftover(readFile(kMarker).find("user-created") != std::string::npos);
            leftover.undo();
            if (fs::exists(kMarker)) {
                return std::string("could not undo an earlier run (") + kMarker + " remains)";
            }
        }
        if (!packageStatus().empty()) {
            return std::string(kPackage) + " is on this machine (dpkg status '" + packageStatus() +
                   "') and this test did not install it; it would purge it. Remove it first: "
                   "dpkg --purge " +
                   kPackage;
        }
        for (const char* path : {"/etc/parley", "/var/lib/parley"}) {
            if (fs::exists(path)) {
                return std::string(path) +
                       " exists and is not the package's; purging the package deletes it. Move it "
                       "away first.";
            }
        }
        return "";
    }

    explicit MachineState(bool userCreatedHere) : userCreatedHere_(userCreatedHere) {}
    ~MachineState() { undo(); }
    MachineState(const MachineState&) = delete;
    MachineState& operator=(const MachineState&) = delete;

    void writeMarker() const {
        std::ofstream(kMarker) << "parley package test: installed " << kPackage
                               << (userCreatedHere_ ? ", user-created" : "") << "\n";
    }

    void undo() {
        if (!packageStatus().empty()) {
            const CommandResult purge = runDpkg({"dpkg", "--purge", kPackage});
            if (purge.status != 0) {
                ADD_FAILURE() << "cleaning up: " << describe({"dpkg", "--purge", kPackage}, purge);
                return;  // the marker stays, so the next run tries again
            }
        }
        if (userCreatedHere_ && userExists(kServiceUser)) {
            const CommandResult user = run({"deluser", "--system", "--quiet", kServiceUser});
            const CommandResult group = run({"delgroup", "--system", "--quiet", kServiceUser});
            if (userExists(kServiceUser) || ::getgrnam(kServiceUser) != nullptr) {
                ADD_FAILURE() << "cleaning up: cannot remove the user " << kServiceUser << ":\n"
                              << user.output << group.output;
                return;
            }
        }
        fs::remove(kMarker);
    }

  private:
    bool userCreatedHere_;
};

// The .deb to install: $PARLEY_PACKAGE_DEB (e.g. from tools/package.sh), or one CPack builds from
// this build tree into `dir` (what CI does).
std::string packageFile(const TempDir& dir, std::string& failure) {
    if (const char* given = std::getenv("PARLEY_PACKAGE_DEB"); given != nullptr && *given) {
        return given;
    }
    const std::vector<std::string> cpack{
        PARLEY_CPACK_COMMAND, "-G", "DEB", "--config", PARLEY_CPACK_CONFIG, "-B",
        dir.file("cpack")};
    const CommandResult built = run(cpack, 900s);
    if (built.status != 0) {
        failure = describe(cpack, built);
        return "";
    }
    for (const auto& entry : fs::directory_iterator(dir.file("cpack"))) {
        if (entry.path().extension() == ".deb") {
            return entry.path().string();
        }
    }
    failure = "cpack made no .deb:\n" + built.output;
    return "";
}

// Every absolute path under /usr or /lib that a shipped file names (its comments included).
std::set<std::string> installedPathsNamedIn(const std::string& text) {
    std::set<std::string> paths;
    const std::regex path(R"((^|[\s:=(])((/usr|/lib)/[A-Za-z0-9_./-]+[A-Za-z0-9_]))");
    for (std::sregex_iterator it(text.begin(), text.end(), path), end; it != end; ++it) {
        paths.insert((*it)[2].str());
    }
    return paths;
}

// The installed broker configuration, made to run as a test broker: MosquittoServer brings its own
// listener (loopback, a free port, plain: the shipped TLS listeners' certificates are the
// operator's, and TlsToBroker.TheShippedProductionBrokerConfigServesTls runs them) and password
// file; the token-login lines shipped commented out are turned on, with `keyDir` instead of the
// shipped key folder.
std::string testBrokerConfig(const std::string& installed, const std::string& keyDir) {
    std::string config;
    for (std::string line : linesOf(installed)) {
        for (const char* dropped :
             {"listener ", "protocol ", "password_file ", "certfile ", "keyfile ", "tls_version ",
              "cafile ", "require_certificate "}) {
            if (line.rfind(dropped, 0) == 0) {
                line = "# (test) " + line;
            }
        }
        if (line.rfind("#plugin", 0) == 0) {
            line = line.substr(1);
        }
        if (line.rfind("plugin_opt_key_dir ", 0) == 0) {
            line = "plugin_opt_key_dir " + keyDir;
        }
        config += line + "\n";
    }
    return config;
}

// A token from the installed parley-token, signed with the HS256 secret `secretFile` (kid k1).
std::string token(const std::string& uid, const std::string& secretFile) {
    const std::vector<std::string> argv{
        "/usr/bin/parley-token", uid, "--secret-file", secretFile, "--kid", "k1"};
    const CommandResult minted = run(argv);
    EXPECT_EQ(minted.status, 0) << describe(argv, minted);
    const auto lines = linesOf(minted.output);
    return lines.empty() ? "" : lines.back();
}

bool anyEntryNamed(const std::string& folder, const std::string& part) {
    if (!fs::exists(folder)) {
        return false;
    }
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
        if (entry.path().filename().string().find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

TEST(DebianPackage, InstallsRunsFromTheInstalledPathsAndPurgesCleanly) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "not root: this test installs and purges a Debian package (CI runs it as "
                        "root)";
    }
    if (::access("/usr/bin/dpkg", X_OK) != 0) {
        GTEST_SKIP() << "no dpkg on this machine: the package is for Debian";
    }
    MachineLock lock;
    const std::string dirty = MachineState::undoAnEarlierRunThenCheck();
    ASSERT_EQ(dirty, "");

    TempDir work("parley-package");
    std::string failure;
    const std::string deb = packageFile(work, failure);
    ASSERT_FALSE(deb.empty()) << failure;

    // What dpkg-shlibdeps computed: the runtime libraries, besides what the scripts need.
    const CommandResult control =
        run({"dpkg-deb", "--field", deb, "Package", "Depends", "Conflicts"});
    ASSERT_EQ(control.status, 0) << control.output;
    EXPECT_NE(control.output.find(std::string("Package: ") + kPackage), std::string::npos);
    for (const char* library :
         {"adduser", "libc6", "libstdc++6", "libpaho-mqttpp3-1", "libsqlite3-0", "libmysqlcppconn7",
          "liblua5.4-0", "libsystemd0", "libjwt0", "libyaml-cpp0.7", "libcurl4"}) {
        EXPECT_NE(control.output.find(library), std::string::npos)
            << library << " missing from Depends:\n"
            << control.output;
    }

    // The package's own folders, which purge removes unless they were there before.
    std::vector<std::string> ownFolders;
    for (const char* path :
         {"/etc/parley", "/var/lib/parley", "/usr/lib/parley", "/usr/share/parley",
          "/usr/include/parley", "/usr/share/doc/parley-chat",
          "/lib/systemd/system/parleyd.service", "/lib/systemd/system/mosquitto.service.d"}) {
        if (!fs::exists(path)) {
            ownFolders.emplace_back(path);
        }
    }

    MachineState machine(!userExists(kServiceUser));
    machine.writeMarker();
    const CommandResult installed = runDpkg({"dpkg", "--install", deb});
    ASSERT_EQ(installed.status, 0) << describe({"dpkg", "--install", deb}, installed);
    ASSERT_EQ(packageStatus(), "installed");

    // Where docs/operations.md says things are.
    for (const char* path : {"/usr/bin/parleyd",
                             "/usr/bin/parley",
                             "/usr/bin/parleyctl",
                             "/usr/bin/parley-bench",
                             "/usr/bin/parley-token",
                             "/usr/lib/parley/parley_jwt_auth.so",
                             "/usr/lib/parley/plugins/parley_echo.so",
                             "/usr/lib/parley/plugins/parley_notify.so",
                             "/usr/lib/parley/plugins/parley_attachments.so",
                             "/usr/share/parley/notify/templates/body.html",
                             "/usr/share/parley/scripts/listings.lua",
                             "/usr/share/parley/scripts/moderation.lua",
                             "/usr/share/parley/scripts/example_hello.lua",
                             "/usr/share/parley/scripts/example_moderation.lua",
                             "/usr/include/parley/plugin.h",
                             "/etc/parley/parleyd.yaml",
                             "/etc/parley/mosquitto/parley.conf",
                             "/etc/parley/mosquitto/acl",
                             "/etc/parley/mosquitto/jwt-keys",
                             "/lib/systemd/system/parleyd.service",
                             "/lib/systemd/system/mosquitto.service.d/parley.conf",
                             "/usr/share/doc/parley-chat/operations.md",
                             "/usr/share/doc/parley-chat/examples/parleyd.yaml"}) {
        EXPECT_TRUE(fs::exists(path)) << path << " not installed";
    }
    const CommandResult conffiles = run({"dpkg-query", "-W", "-f=${Conffiles}", kPackage});
    for (const char* conffile : {"/etc/parley/parleyd.yaml", "/etc/parley/mosquitto/parley.conf",
                                 "/etc/parley/mosquitto/acl"}) {
        EXPECT_NE(conffiles.output.find(conffile), std::string::npos)
            << conffile << " is not a conffile:\n"
            << conffiles.output;
    }
    std::vector<std::string> packageFiles;
    const CommandResult listed = run({"dpkg", "--listfiles", kPackage});
    for (const auto& path : linesOf(listed.output)) {
        if (fs::is_regular_file(path)) {
            packageFiles.push_back(path);
        }
    }
    EXPECT_GT(packageFiles.size(), 20U) << listed.output;

    // The service user, its state directory and its broker password.
    const passwd* account = ::getpwnam(kServiceUser);
    ASSERT_NE(account, nullptr) << "postinst did not create the user " << kServiceUser;
    EXPECT_LT(account->pw_uid, 1000U) << "not a system user";
    EXPECT_EQ(std::string(account->pw_shell), "/usr/sbin/nologin");
    EXPECT_EQ(std::string(account->pw_dir), "/var/lib/parley");
    struct stat state {};
    ASSERT_EQ(::stat("/var/lib/parley", &state), 0);
    EXPECT_EQ(state.st_uid, account->pw_uid);
    EXPECT_EQ(state.st_mode & 07777, 0750U);
    struct stat secret {};
    ASSERT_EQ(::stat("/etc/parley/parleyd.secret", &secret), 0);
    EXPECT_EQ(secret.st_uid, 0U);
    EXPECT_EQ(secret.st_gid, account->pw_gid);
    EXPECT_EQ(secret.st_mode & 07777, 0640U);
    const auto secretLines = linesOf(readFile("/etc/parley/parleyd.secret"));
    ASSERT_EQ(secretLines.size(), 1U);
    const std::string parleydPassword = secretLines.front();
    EXPECT_EQ(parleydPassword.size(), 32U);

    // The unit, as systemd would read it (systemd does not run here: no systemctl).
    const CommandResult verified =
        run({"systemd-analyze", "verify", "/lib/systemd/system/parleyd.service"});
    EXPECT_EQ(verified.status, 0) << verified.output;
    EXPECT_EQ(verified.output, "") << "systemd-analyze verify complained";
    const std::string unit = readFile("/lib/systemd/system/parleyd.service");
    for (const char* line : {"\nType=notify\n", "\nUser=parley\n",
                             "\nExecStart=/usr/bin/parleyd --config /etc/parley/parleyd.yaml\n"}) {
        EXPECT_NE(unit.find(line), std::string::npos) << "no " << line << " in the unit:\n" << unit;
    }
    // The broker's descriptors: one per connected user (docs/operations.md, "Many users").
    const std::string brokerLimits =
        readFile("/lib/systemd/system/mosquitto.service.d/parley.conf");
    EXPECT_NE(brokerLimits.find("[Service]\nLimitNOFILE=65536\n"), std::string::npos)
        << brokerLimits;

    // The shipped configuration is valid as installed, and every installed path it names exists.
    const CommandResult checked =
        run({"/usr/bin/parleyd", "--check-config", "/etc/parley/parleyd.yaml"});
    EXPECT_EQ(checked.status, 0) << checked.output;
    const std::string shippedYaml = readFile("/etc/parley/parleyd.yaml");
    const std::string shippedBroker = readFile("/etc/parley/mosquitto/parley.conf");
    const auto named = installedPathsNamedIn(shippedYaml + "\n" + shippedBroker + "\n" + unit);
    EXPECT_GE(named.size(), 6U);
    for (const auto& path : named) {
        EXPECT_TRUE(fs::exists(path)) << "a shipped file names " << path << ", which is not there";
    }

    {
        // A broker running the installed Parley configuration, ACL and login plugin.
        TempDir keys("parley-package-keys");
        const std::string keyDir = keys.file("jwt-keys");
        fs::create_directory(keyDir);
        const std::string secretFile = keyDir + "/k1.hs256";
        std::ofstream(secretFile) << "package-test-hs256-secret-0123456789abcdefghij\n";
        const std::string brokerConfig = testBrokerConfig(shippedBroker, keyDir);
        EXPECT_NE(brokerConfig.find("\nacl_file /etc/parley/mosquitto/acl\n"), std::string::npos)
            << brokerConfig;
        EXPECT_NE(brokerConfig.find("\nplugin /usr/lib/parley/parley_jwt_auth.so\n"),
                  std::string::npos)
            << brokerConfig;
        MosquittoServer broker({{"parleyd", parleydPassword}}, {.parleyConfig = brokerConfig});

        // parleyd as the service would run it: the installed binary, as `parley`, reading the
        // installed password file; only the broker's address and the database's folder change,
        // and the installed example script and plugin are turned on.
        YAML::Node config = YAML::LoadFile("/etc/parley/parleyd.yaml");
        EXPECT_EQ(config["store"]["sqlite"]["path"].as<std::string>(), "/var/lib/parley/parley.db");
        EXPECT_EQ(config["broker"]["password_file"].as<std::string>(),
                  "/etc/parley/parleyd.secret");
        config["broker"]["uri"] = broker.uri();
        config["store"]["sqlite"]["path"] = "parley.db";  // in its TempDir, its working folder
        config["http"]["port"] = 0;
        YAML::Node hello;
        hello["name"] = "hello";
        hello["script"] = "/usr/share/parley/scripts/example_hello.lua";
        YAML::Node echo;
        echo["name"] = "echo";
        echo["plugin"] = "/usr/lib/parley/plugins/parley_echo.so";
        echo["options"]["greeting"] = "Howdy";
        config["extensions"].push_back(hello);
        config["extensions"].push_back(echo);
        ParleydProcess parleyd(YAML::Dump(config), {"/usr/bin/parleyd", kServiceUser});

        // Two users who log in with tokens from the installed parley-token exchange a message.
        MqttTestClient alice(broker.uri(), "pkg-alice", token("pkg-alice", secretFile));
        MqttTestClient bob(broker.uri(), "pkg-bob", token("pkg-bob", secretFile));
        const json opened = alice.request({{"op", "conv.open"}, {"peer", "pkg-bob"}});
        ASSERT_EQ(codeOf(opened), "ok") << opened;
        const std::string conv = opened["conv"];
        const json sent = alice.request({{"op", "msg.send"},
                                         {"conv", conv},
                                         {"cmid", "pkg-1"},
                                         {"body", "hello from the package"}});
        ASSERT_EQ(codeOf(sent), "ok") << sent;
        const std::string bobsConversation = "parley/v1/u/pkg-bob/c/" + conv;
        const auto isMessage = [&](const std::string& body) {
            return [&, body](const Received& r) {
                return r.topic == bobsConversation && r.payload.value("ev", "") == "msg" &&
                       r.payload.value("body", "") == body;
            };
        };
        EXPECT_NO_THROW(bob.waitFor(isMessage("hello from the package"), 10s));
        // The installed script's after-store hook, and the installed plugin's command.
        EXPECT_NO_THROW(bob.waitFor(isMessage("Hello! This conversation has started."), 10s));
        const json echoed = alice.request({{"op", "echo.say"}, {"text", "ping"}});
        EXPECT_EQ(echoed.value("text", ""), "Howdy, ping") << echoed;
        parleyd.stop();
    }

    // Purge: nothing of the package left but the user, which is kept (docs/operations.md).
    const CommandResult purged = runDpkg({"dpkg", "--purge", kPackage});
    ASSERT_EQ(purged.status, 0) << describe({"dpkg", "--purge", kPackage}, purged);
    EXPECT_EQ(packageStatus(), "");
    for (const auto& path : packageFiles) {
        EXPECT_FALSE(fs::exists(path)) << path << " left after purge";
    }
    for (const auto& path : ownFolders) {
        EXPECT_FALSE(fs::exists(path)) << path << " left after purge";
    }
    EXPECT_FALSE(anyEntryNamed("/etc/systemd", "parleyd")) << "a unit link left in /etc/systemd";
    EXPECT_FALSE(anyEntryNamed("/var/lib/systemd", "parleyd"))
        << "deb-systemd-helper state left in /var/lib/systemd";
    EXPECT_TRUE(userExists(kServiceUser)) << "the user is documented as kept on purge";
}

}  // namespace
}  // namespace parley::testing
