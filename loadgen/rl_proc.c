/* rl_proc.c: see rl_proc.h. */
#include "rl_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

bool rl_proc_sample(int pid, struct rl_proc_sample *s)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p) return false;
    p++;
    unsigned long long utime = 0, stime = 0;
    /* after ')': state(3) ppid(4) ... utime is field 14, stime 15 */
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14) utime = strtoull(tok, NULL, 10);
        else if (field == 15) { stime = strtoull(tok, NULL, 10); break; }
    }
    if (field < 15) return false;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    s->cpu_ns = (utime + stime) * (1000000000ull / (unsigned long long)hz);

    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f) return false;
    s->rss_kb = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            s->rss_kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return true;
}

uint64_t rl_proc_self_cpu_ns(bool children)
{
    struct rusage ru;
    if (getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru)) return 0;
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}
