/* stats.c: the latency histograms' bucket bounds (see stats.h), shared by every core's
 * statistics and by the /metrics exposition that prints them as `le` labels. */
#include "stats.h"

const uint64_t hist_bounds_ns[HIST_BUCKETS] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 1000000000, UINT64_MAX,
};
