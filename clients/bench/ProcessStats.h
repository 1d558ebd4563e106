#pragma once

#include <sys/types.h>

namespace parley::bench {

// CPU time and resident memory of a process, from /proc/<pid>.
struct ProcessSample {
    bool valid = false;
    double cpuSeconds = 0;  // user + system
    long rssKiB = 0;
};

ProcessSample sampleProcess(pid_t pid);

// The whole machine's CPU time so far, from the first line of /proc/stat, in clock ticks.
struct MachineSample {
    bool valid = false;
    unsigned long long total = 0;  // every state, all CPUs
    unsigned long long steal = 0;  // taken by the hypervisor for something else
};

MachineSample sampleMachine();

// Share of the CPU time between two samples that the hypervisor took (0-100); -1 if unknown.
double stealPercent(const MachineSample& before, const MachineSample& after);

}  // namespace parley::bench
