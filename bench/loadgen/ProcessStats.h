#pragma once

#include <sys/types.h>

#include <unordered_map>

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

// How long threads that were ready to run waited for a CPU, from the kernel's scheduler
// statistics (/proc/<pid>/task/<tid>/schedstat: time on a CPU, time waiting on a run queue,
// timeslices; all in ns but the last). On a machine where the broker, parleyd, the database and
// the clients share two cores, every hop of a reply is such a wait.
struct ThreadWait {
    unsigned long long waitNs = 0;
    unsigned long long timeslices = 0;
};
struct RunQueueSample {
    bool valid = false;
    std::unordered_map<pid_t, ThreadWait> threads;  // by thread id
};

// Every thread of the machine (pid 0), or of one process.
RunQueueSample sampleRunQueue(pid_t pid = 0);

// Mean wait for a CPU per timeslice (ms) between two samples, over the threads in both; -1 if
// unknown or no thread ran.
double meanRunQueueWaitMs(const RunQueueSample& before, const RunQueueSample& after);

}  // namespace parley::bench
