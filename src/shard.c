/* shard.c: room names and their owning core (see shard.h). */
#include "shard.h"

#include "hash.h"

uint32_t shard_owner(const char *name, size_t len, uint32_t ncores)
{
    return (uint32_t)(hash_fnv1a(name, len) % (ncores ? ncores : 1));
}

bool shard_name_valid(const char *name, size_t len)
{
    if (len < 1 || len > ROOM_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}
