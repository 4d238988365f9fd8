/* rl_util.h: ringload's clock and random numbers (header-only, no state of its own).
 *
 * Time is CLOCK_MONOTONIC nanoseconds everywhere in ringload: it is shared by every process
 * on the machine, so a sender, its receivers and worker processes agree on it. Random numbers
 * come from xoshiro-style generators seeded from --seed, so runs are reproducible; the caller
 * owns each generator's state.
 */
#ifndef RINGLOAD_UTIL_H
#define RINGLOAD_UTIL_H

#include <stdint.h>
#include <time.h>

#define RL_NS_PER_US 1000ull
#define RL_NS_PER_MS 1000000ull
#define RL_NS_PER_S 1000000000ull

static inline uint64_t rl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* splitmix64: seeds generators and hashes. */
static inline uint64_t rl_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* xorshift64*: fast, good enough for choosing edits, masks and rooms (not for secrets). */
typedef struct rl_rng { uint64_t s; } rl_rng;

static inline void rl_rng_seed(rl_rng *r, uint64_t seed)
{
    r->s = rl_mix64(seed) | 1;
}

static inline uint64_t rl_rng_next(rl_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for our n). */
static inline uint32_t rl_rng_below(rl_rng *r, uint32_t n)
{
    return (uint32_t)(((rl_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1). */
static inline double rl_rng_unit(rl_rng *r)
{
    return (double)(rl_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
