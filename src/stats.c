/* stats.c: the fixed tables of the statistics (see stats.h): the latency histograms' bucket
 * bounds and the close codes counted one by one, shared by every core's statistics and by the
 * /metrics exposition that prints them as labels. */
#include "stats.h"

const uint64_t hist_bounds_ns[HIST_BUCKETS] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 1000000000, UINT64_MAX,
};

const uint16_t stats_close_codes[CLOSE_CODE_SLOTS] = { 0, 1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                                       1008, 1009, 1010, 1011, 1013, 0, 0, 0 };

int stats_close_index(uint16_t code)
{
    for (int i = 1; i < CLOSE_CODE_SLOTS; i++)
        if (stats_close_codes[i] == code) return i;
    return 0;
}
