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

}  // namespace parley::bench
