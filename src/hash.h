/* hash.h: the one string hash of the server: 64-bit FNV-1a.
 *
 * Used for room ownership (shard_owner: which core serves a room), the in-memory tables keyed
 * by room name or element id, and the web page's ETags. Fast on short keys and stable across
 * runs and builds; not a defence against chosen keys (chains stay short because tables grow).
 */
#ifndef RINGROOM_HASH_H
#define RINGROOM_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_fnv1a(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;           /* FNV-1a 64-bit offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;                    /* FNV 64-bit prime */
    }
    return h;
}

#endif
