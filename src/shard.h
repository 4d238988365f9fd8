/* shard.h: which core serves a room, and the limits of a room name.
 *
 * The contract every layer shares about rooms without knowing what a room holds: a room name
 * is 1-128 bytes of [A-Za-z0-9._-], and its owner is fnv1a64(name) % ncores, stable for a
 * given number of cores. The store files rooms under their owner at recovery, the protocol
 * and the HTTP routes hand a connection to the owner, and the room layer runs there.
 */
#ifndef RINGROOM_SHARD_H
#define RINGROOM_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROOM_NAME_MAX 128

/* The core that owns a room name (ncores 0 counts as 1). */
uint32_t shard_owner(const char *name, size_t len, uint32_t ncores);

/* 1-128 bytes of [A-Za-z0-9._-]. */
bool shard_name_valid(const char *name, size_t len);

#endif
