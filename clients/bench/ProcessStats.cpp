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

MachineSample sampleMachine() {
    MachineSample sample;
    std::ifstream stat("/proc/stat");
    std::string cpu;
    if (!(stat >> cpu) || cpu != "cpu") {
        return sample;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // counted in user and nice.
    unsigned long long value = 0;
    for (int index = 0; index < 8 && stat >> value; ++index) {
        sample.total += value;
        if (index == 7) {
            sample.steal = value;
            sample.valid = true;
        }
    }
    return sample;
}

double stealPercent(const MachineSample& before, const MachineSample& after) {
    if (!before.valid || !after.valid || after.total <= before.total) {
        return -1;
    }
    return 100.0 * static_cast<double>(after.steal - before.steal) /
           static_cast<double>(after.total - before.total);
}

}  // namespace parley::bench
