/* wire.h: the vocabulary of protocol v1: message types and error codes.
 *
 * Kept apart from proto.c so that statistics and metrics can count by type and by code
 * without depending on the parser. The names are the wire names (docs/protocol.md); they
 * are stable: clients and dashboards match on them.
 */
#ifndef RINGROOM_WIRE_H
#define RINGROOM_WIRE_H

#include "json.h"

enum msg_type {
    MSG_JOIN, MSG_LEAVE, MSG_CHAT, MSG_CURSOR, MSG_ELEMENT, MSG_OP,       /* client → server */
    MSG_JOINED, MSG_ACK, MSG_PRESENCE, MSG_ERROR, MSG_BYE,                /* server → client only */
    MSG_OTHER,                                                            /* unknown or unparsable */
    MSG_TYPE_COUNT
};

/* Every room and protocol function returns one: ERR_NONE (0) for success. */
enum err_code {
    ERR_NONE = 0,
    ERR_BAD_JSON,        /* not a JSON object, or a binary frame */
    ERR_BAD_MESSAGE,     /* a field is missing or has the wrong type or range */
    ERR_UNKNOWN_TYPE,
    ERR_BAD_ROOM,        /* room name not 1-128 of [A-Za-z0-9._-] */
    ERR_NOT_JOINED,
    ERR_ROOM_FULL,       /* --max-room-members */
    ERR_TOO_MANY_ROOMS,  /* --max-rooms */
    ERR_BAD_OP,          /* not an ot.js TextOperation, or its base length does not match */
    ERR_REV_TOO_OLD,     /* older than the history window: re-join */
    ERR_REV_FUTURE,      /* a revision the server has not reached */
    ERR_TOO_LARGE,       /* chat text, element or resulting document over its limit */
    ERR_TOO_MANY_ELEMENTS,
    ERR_RATE_LIMITED,    /* --rate-limit */
    ERR_DRAINING,        /* the server is shutting down */
    ERR_INTERNAL,        /* out of memory and the like */
    ERR_STORE_UNAVAILABLE, /* the op log cannot write (disk full...): op refused, retry later */
    ERR_STORE_CONFLICT,  /* MongoDB holds another writer's op at this revision: the room is fenced */
    ERR_CLUSTER_UNAVAILABLE, /* --redis: Redis cannot be reached: the op is not applied (re-join, re-send) */
    ERR_COUNT
};

extern const char *const msg_type_names[MSG_TYPE_COUNT];
extern const char *const err_code_names[ERR_COUNT];

/* Writes {"type":"error","code","message","ref"} into w (reset first); ref MSG_OTHER: null. */
void wire_write_error(jw *w, enum err_code code, const char *message, enum msg_type ref);

#endif
