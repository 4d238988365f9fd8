/* rl_proc.h: reading another process's CPU time and resident memory from /proc.
 *
 * CPU is utime + stime of /proc/PID/stat (all threads, in clock ticks, converted to ns), RSS
 * is VmRSS of /proc/PID/status. No state: each call reads the files afresh.
 */
#ifndef RINGLOAD_PROC_H
#define RINGLOAD_PROC_H

#include <stdbool.h>
#include <stdint.h>

struct rl_proc_sample {
    uint64_t cpu_ns;
    uint64_t rss_kb;
};

/* False if the process is gone or /proc cannot be read. */
bool rl_proc_sample(int pid, struct rl_proc_sample *s);

/* This process's (and, with children, its waited-for children's) user+system CPU in ns. */
uint64_t rl_proc_self_cpu_ns(bool children);

#endif
