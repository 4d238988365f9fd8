/* room.h: rooms and their participants, owned by one core.
 *
 * A room is created on its first join and freed when its last participant leaves. It lives
 * on the core that owns its name (shard.h), so everything in it (membership, chat order,
 * presence, the OT document, elements) is touched by one thread only: no locks. A
 * connection that wants a room owned by another core is handed over to that core first
 * (handover.h); room functions therefore always run on the owner.
 *
 * A session is a /ws connection's protocol state: who it is and which room it is in. When
 * the connection dies the session is detached at once (no more output to it) and leaves its
 * room at the end of the loop turn, so a broadcast never sees its member list change under
 * it.
 */
#ifndef RINGROOM_ROOM_H
#define RINGROOM_ROOM_H

#include "conn.h"
#include "doc.h"
#include "json.h"
#include "shard.h"
#include "store/store.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct conn;
struct conn_ref;
struct room;
struct store_room;

#define PARTICIPANT_ID_MAX 24
#define ROOM_CID_MAX 64               /* op `cid`, bytes (= STORE_CID_MAX) */

struct session {
    struct conn *conn;            /* NULL once the connection is gone (transport: conn.h) */
    struct room *room;            /* NULL until joined */
    uint32_t member_idx;          /* position in room->members */
    char id[PARTICIPANT_ID_MAX];  /* participant id, unique in the process */
    char *participant;            /* its JSON object {"id","user","name","color"} */
    size_t participant_len;
    /* --rate-limit: token bucket, in thousandths of a message */
    uint64_t tokens_milli;
    uint64_t tokens_ms;
    /* --cursor-interval: latest cursor message not yet sent, and when the last one went */
    char *cursor;
    size_t cursor_len, cursor_cap;
    uint64_t cursor_sent_ms;
    bool cursor_pending;
    struct session *cursor_next;  /* the core's list of sessions with a pending cursor */
    struct session *dead_next;    /* the core's list of detached sessions */
    uint64_t joined_rev;          /* doc revision its last `joined` showed: later ops only */
    bool dead;
};

/* The core's rooms in memory, sessions to reap and cursors to send (room.c). */
struct rooms;

int rooms_init(struct app *app);
void rooms_free(struct app *app);

/* A fresh session for a /ws connection (NULL on ENOMEM). */
struct session *session_new(struct app *app);
/* The connection is gone: stop sending to the session; it leaves its room at turn end. */
void session_detach(struct app *app, struct session *s);

/* Who a participant says they are (UTF-8, unescaped; any of them may be empty). */
struct user_info {
    const char *id, *name, *color;
    size_t id_len, name_len, color_len;
};

/* Every function below returns ERR_NONE or the error code for the sender (wire.h), and
 * encodes what it sends with w (the caller's scratch writer; its content is overwritten). The
 * wire format of room messages is written here, next to the state it shows; proto.c parses
 * what comes in. */

/* Joins (leaving any previous room): `joined` to the session, `presence` to the others. */
enum err_code room_join(struct app *app, jw *w, struct session *s, const char *name, size_t name_len,
                        const struct user_info *u);
void room_leave(struct app *app, jw *w, struct session *s);

/* Room traffic. */
enum err_code room_chat(struct app *app, jw *w, struct session *s, const char *text, size_t len, const char *id,
                        size_t id_len, bool has_id);
/* `msg` is the complete outgoing cursor message (proto.c encodes it): kept as the latest,
 * sent to the others once --cursor-interval has passed since the last one. */
enum err_code room_cursor(struct app *app, struct session *s, const char *msg, size_t len);
enum err_code room_element(struct app *app, jw *w, struct session *s, const char *id, size_t id_len,
                           int64_t version, int64_t nonce, const char *element_json, size_t len);
/* `op` is parsed; on success it holds the op as applied and the new revision is returned in *rev.
 * The op is applied and handed to the op log; its `ack` (to the sender) and `op` (to the others)
 * go out when the log says it is durable: room_op_durable, the store's callback. Refused with
 * store-unavailable, the doc unchanged, while the log cannot write.
 * cid (cid_len 0: none) and cseq make a resubmission idempotent (docs/protocol.md): if cid's op
 * cseq (or a later one) is applied already, the op is not applied again and the sender gets an
 * `ack` with the revision of cid's latest applied op (once that is durable). */
enum err_code room_op(struct app *app, jw *w, struct session *s, int64_t base_rev, ot_op *op, const char *cid,
                      size_t cid_len, uint64_t cseq, uint64_t *rev);
void room_op_durable(struct app *app, jw *w, struct store_room *sr, uint64_t rev, struct conn_ref sender,
                     enum store_outcome outcome);

/* Once per loop turn: detached sessions leave their rooms, due cursors are sent. Returns
 * the milliseconds until the next pending cursor is due (UINT32_MAX if none). */
uint32_t rooms_end_of_turn(struct app *app, jw *w);

/* GET /rooms/<name> on the owner: writes {"room","rev","doc","participants"} to w.
 * False if the room is neither in memory nor in the op log. */
bool room_describe(struct app *app, jw *w, const char *name, size_t len);

#endif
