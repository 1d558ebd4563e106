#include "ProcessStats.h"

#include <unistd.h>

#include <filesystem>
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

namespace {

void addThreadsOf(const std::filesystem::path& process, RunQueueSample& sample) {
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(process / "task", error)) {
        // Threads and processes come and go while we read: skip what is gone.
        std::ifstream file(task.path() / "schedstat");
        unsigned long long onCpuNs = 0;
        ThreadWait wait;
        if (file >> onCpuNs >> wait.waitNs >> wait.timeslices) {
            const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
            sample.threads[tid] = wait;
            sample.valid = true;
        }
    }
}

}  // namespace

RunQueueSample sampleRunQueue(pid_t pid) {
    RunQueueSample sample;
    if (pid > 0) {
        addThreadsOf("/proc/" + std::to_string(pid), sample);
        return sample;
    }
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
            addThreadsOf(entry.path(), sample);
        }
    }
    return sample;
}

double meanRunQueueWaitMs(const RunQueueSample& before, const RunQueueSample& after) {
    if (!before.valid || !after.valid) {
        return -1;
    }
    unsigned long long waitNs = 0;
    unsigned long long timeslices = 0;
    for (const auto& [tid, then] : before.threads) {
        const auto now = after.threads.find(tid);
        // A thread id in both samples with smaller counts is another thread that reused the id.
        if (now != after.threads.end() && now->second.waitNs >= then.waitNs &&
            now->second.timeslices >= then.timeslices) {
            waitNs += now->second.waitNs - then.waitNs;
            timeslices += now->second.timeslices - then.timeslices;
        }
    }
    if (timeslices == 0) {
        return -1;
    }
    return static_cast<double>(waitNs) / static_cast<double>(timeslices) / 1e6;
}

double stealPercent(const MachineSample& before, const MachineSample& after) {
    if (!before.valid || !after.valid || after.total <= before.total) {
        return -1;
    }
    return 100.0 * static_cast<double>(after.steal - before.steal) /
           static_cast<double>(after.total - before.total);
}

}  // namespace parley::bench
