#include "ProcessStats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace parley::bench {

ProcessSample sampleProcess(pid_t pid) {
    ProcessSample sample;
    if (pid <= 0) {
        return sample;
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
        return sample;
    }
    // Fields after the command name (which may hold spaces, inside parentheses).
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
        return sample;
    }
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int index = 3; fields >> field; ++index) {
        if (index == 14) {
            utime = std::stoull(field);
        } else if (index == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    sample.cpuSeconds =
        static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            sample.rssKiB = std::stol(line.substr(6));
        }
    }
    sample.valid = true;
    return sample;
}

}  // namespace parley::bench
