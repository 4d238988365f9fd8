/* log.c: see log.h. One write(2) per record so lines from different cores never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static _Thread_local int log_core = -1;
static enum log_level log_min = LOG_INFO;     /* written before threads start, then read-only */

void log_set_core(int core) { log_core = core; }
void log_set_level(enum log_level min) { log_min = min; }

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < log_min) return;
    static const char *const names[] = { "debug", "info", "warn", "error" };
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
    if (log_core >= 0) n += snprintf(line + n, sizeof line - (size_t)n, "core%d ", log_core);
    else n += snprintf(line + n, sizeof line - (size_t)n, "main  ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;   /* nowhere left to report a failed log write */
}
