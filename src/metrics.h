/* metrics.h: GET /metrics, the Prometheus text exposition (format 0.0.4).
 *
 * Reads every core's statistics (stats.h) with relaxed loads and sums them; nothing on the
 * message path takes a lock or waits for a scrape. Process metrics (CPU, RSS, open fds,
 * start time) come from /proc/self. Names and units follow Prometheus conventions:
 * counters end in _total, durations are seconds, sizes bytes. docs/operations.md lists them.
 */
#ifndef RINGROOM_METRICS_H
#define RINGROOM_METRICS_H

#include "json.h"

#include <stdint.h>

struct app_shared;

/* Appends the whole exposition to w. */
void metrics_write(const struct app_shared *s, jw *w, uint64_t now_ms);

#endif
