/* wire.c: names of message types and error codes (see wire.h). */
#include "wire.h"

#include <string.h>

const char *const msg_type_names[MSG_TYPE_COUNT] = {
    [MSG_JOIN] = "join", [MSG_LEAVE] = "leave", [MSG_CHAT] = "chat", [MSG_CURSOR] = "cursor",
    [MSG_ELEMENT] = "element", [MSG_OP] = "op", [MSG_JOINED] = "joined", [MSG_ACK] = "ack",
    [MSG_PRESENCE] = "presence", [MSG_ERROR] = "error", [MSG_BYE] = "bye", [MSG_OTHER] = "other",
};

const char *const err_code_names[ERR_COUNT] = {
    [ERR_NONE] = "none", [ERR_BAD_JSON] = "bad-json", [ERR_BAD_MESSAGE] = "bad-message", [ERR_UNKNOWN_TYPE] = "unknown-type",
    [ERR_BAD_ROOM] = "bad-room", [ERR_NOT_JOINED] = "not-joined", [ERR_ROOM_FULL] = "room-full",
    [ERR_TOO_MANY_ROOMS] = "too-many-rooms", [ERR_BAD_OP] = "bad-op", [ERR_REV_TOO_OLD] = "rev-too-old",
    [ERR_REV_FUTURE] = "rev-future", [ERR_TOO_LARGE] = "too-large",
    [ERR_TOO_MANY_ELEMENTS] = "too-many-elements", [ERR_RATE_LIMITED] = "rate-limited",
    [ERR_DRAINING] = "draining", [ERR_INTERNAL] = "internal", [ERR_STORE_UNAVAILABLE] = "store-unavailable",
    [ERR_STORE_CONFLICT] = "store-conflict",
    [ERR_CLUSTER_UNAVAILABLE] = "cluster-unavailable",
};

void wire_write_error(jw *w, enum err_code code, const char *message, enum msg_type ref)
{
    jw_reset(w);
    jw_lit(w, "{\"type\":\"error\",\"code\":\"");
    jw_lit(w, err_code_names[code]);
    jw_lit(w, "\",\"message\":");
    jw_str(w, message, strlen(message));
    jw_lit(w, ",\"ref\":");
    if (ref == MSG_OTHER) {
        jw_lit(w, "null");
    } else {
        jw_char(w, '"');
        jw_lit(w, msg_type_names[ref]);
        jw_char(w, '"');
    }
    jw_char(w, '}');
}
