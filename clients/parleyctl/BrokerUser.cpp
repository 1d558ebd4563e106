#include "BrokerUser.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <vector>

extern char** environ;

namespace parley::ctl {

namespace {

// Runs mosquitto_passwd with its output on our stderr: with --json, stdout holds one object.
int runPasswordTool(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& arg : args) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid = -1;
    const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        throw BrokerUserError(std::string("cannot run mosquitto_passwd: ") +
                              std::strerror(spawned) + " (install mosquitto)");
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw BrokerUserError(std::string("waiting for mosquitto_passwd: ") +
                                  std::strerror(errno));
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A stale pid file may name a process that is not the broker any more: only signal mosquitto.
bool isMosquitto(pid_t pid) {
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (!comm || !std::getline(comm, name)) {
        return true;  // no /proc to ask: trust the pid file, as add-user.sh does
    }
    return name.rfind("mosquitto", 0) == 0;
}

AddedBrokerUser reloadBroker(const std::string& pidFile) {
    std::ifstream file(pidFile);
    long pid = 0;
    if (!file) {
        return {false, "no pid file " + pidFile + ": restart the broker or send it SIGHUP"};
    }
    if (!(file >> pid) || pid <= 1) {
        return {false, pidFile + " holds no process id: restart the broker or send it SIGHUP"};
    }
    const auto brokerPid = static_cast<pid_t>(pid);
    if ((::kill(brokerPid, 0) != 0 && errno == ESRCH) || !isMosquitto(brokerPid)) {
        return {false, "the broker of " + pidFile + " (pid " + std::to_string(pid) +
                           ") is not running: the user can log in once it starts"};
    }
    if (::kill(brokerPid, SIGHUP) != 0) {
        throw BrokerUserError("cannot signal the broker (pid " + std::to_string(pid) +
                              "): " + std::strerror(errno));
    }
    return {true, ""};
}

}  // namespace

bool isBrokerUserName(const std::string& name) {
    if (name.empty() || name.size() > 64) {
        return false;
    }
    for (char c : name) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

AddedBrokerUser addBrokerUser(const std::string& name, const std::string& password,
                              const BrokerFiles& files) {
    // mosquitto_passwd -b adds to an existing file only; say where the development one comes from.
    if (::access(files.passwordFile.c_str(), F_OK) != 0) {
        throw BrokerUserError("no password file " + files.passwordFile + " (" +
                              std::strerror(errno) +
                              "); the development one is made by tools/up.sh");
    }
    if (runPasswordTool({"mosquitto_passwd", "-b", files.passwordFile, name, password}) != 0) {
        throw BrokerUserError("mosquitto_passwd could not add " + name + " to " +
                              files.passwordFile);
    }
    return reloadBroker(files.pidFile);
}

}  // namespace parley::ctl
