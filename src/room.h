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
    bool awaiting_joined;         /* --redis: member of a room still reading its state from Redis */
    bool announced;               /* --redis: its presence `joined` came back from Redis */
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

/* ---- for room_cluster.c only (--redis) ----
 * room_cluster.c adds the Redis side to the rooms: it applies what other instances published,
 * commits ops through Redis and keeps the participants of other instances. The dependency is
 * one-way: room_cluster.c calls room.c, never the reverse; room.c talks to Redis only through
 * the bus's publishing commands (cluster/bus.h). */

/* Someone waiting for a room to be current with Redis (room_cluster_when_current). ctx is
 * malloc'd by the waiter and freed by fn (or with free() if the core stops first). */
typedef void (*room_wait_fn)(struct app *app, void *ctx, struct room *rm);
struct room_waiter {
    struct room_waiter *next;
    room_wait_fn fn;
    void *ctx;
};

/* A participant connected to another instance (--redis). */
struct remote_participant {
    char id[PARTICIPANT_ID_MAX];
    char *json;
    size_t len;
};

/* An op waiting for its commit in Redis (--redis), oldest first; only the first one is sent. */
struct pending_op {
    struct pending_op *next;
    struct conn_ref sender;
    uint64_t base_rev;             /* the revision op applies to (rebased as the doc moves) */
    ot_op op;
    char cid[ROOM_CID_MAX + 32];   /* the client's, or the core's own (every commit has one) */
    size_t cid_len;
    uint64_t cseq;
    char from[PARTICIPANT_ID_MAX];
    uint64_t token;                /* of the commit in flight; 0: none */
    bool sent;                     /* a commit was sent once: it may be committed even if no reply came */
    uint64_t committed_rev;        /* Redis said it committed it at this revision (it comes back on the channel) */
    uint32_t batch_idx;            /* its place in the commit it was sent in */
    uint64_t dup_rev;              /* Redis said (cid, cseq) is committed already, at this revision */
    uint64_t queued_ms;
};

struct room {
    struct room *prev, *next;  /* the core's rooms in memory (found by name through the store) */
    char name[ROOM_NAME_MAX + 1];
    size_t name_len;
    struct session **members;
    uint32_t nmembers, cap;
    doc *doc;                  /* borrowed from the stored room, which outlives this struct */
    struct store_room *sr;     /* also keeps the room's canvas elements */
    /* --redis (room_cluster.c) */
    bool synced;               /* Redis's state was read once: `joined` can be sent */
    bool caught_up;            /* subscribed and caught up since the link last came up */
    bool subscribed;           /* its channel is subscribed on the current link */
    bool stated;               /* its state was read on the current link */
    bool fetching;             /* reading ops it missed from the room's log */
    bool broken;               /* its copy cannot follow Redis any more (ops missing there): ops refused */
    uint64_t redis_head;       /* the highest head Redis reported (state, conflicts) */
    uint64_t state_asked_rev;  /* the copy's revision when its state was last asked for */
    struct remote_participant *remote;
    uint32_t nremote, remote_cap;
    struct pending_op *ops, *ops_tail;
    uint32_t nops;
    uint64_t beat_ms;          /* last presence heartbeat */
    struct room_waiter *waiters;   /* HTTP requests waiting for it to catch up */
    uint64_t follow_until_ms;  /* kept (subscribed) without members until then, for GET /rooms and /history */
};

#define ROOM_COMMIT_BATCH 64       /* ops of a room sent to Redis in one commit */

struct rooms {
    struct room *live;         /* rooms in memory, for teardown */
    uint64_t next_participant;
    struct session *dead;      /* detached, to leave at turn end */
    struct session *cursors;   /* with a pending cursor */
    uint64_t next_token;       /* commit tokens (--redis) */
    uint64_t own_cseq;         /* cseq of the ops committed under the core's own cid */
    ot_op scratch;             /* an op from Redis, parsed (--redis) */
    /* --redis: a commit's ops, each transformed past the ones before it, and the text they make */
    ot_op batch[ROOM_COMMIT_BATCH], batch_tmp;
    ot_text batch_text[2];
};

/* A room in memory without members (--redis: followed for GET /rooms and /history), or
 * ERR_TOO_MANY_ROOMS / ERR_INTERNAL. It subscribes to its channel when the bus is up. */
enum err_code room_open(struct app *app, const char *name, size_t len, struct room **out);
/* Frees a room without members: its waiters are told (rm NULL), its channel unsubscribed. */
void room_close(struct app *app, struct room *rm);
/* The room named so, if it is in memory. */
struct room *room_lookup(struct app *app, const char *name, size_t len);
/* w's JSON to every live member except `except` and, if rev > 0, except members whose
 * `joined` showed revision rev already. */
void room_broadcast(struct app *app, const jw *w, struct room *rm, const struct session *except, enum msg_type type,
                    uint64_t rev);
void room_send(struct app *app, const jw *w, struct session *s, enum msg_type type);
/* `joined` to s (it must be a member), with every participant, local and remote. */
void room_send_joined(struct app *app, jw *w, struct room *rm, struct session *s);
/* The member whose participant id is id, or NULL. */
struct session *room_member(struct room *rm, const char *id, size_t len);
void room_send_ack(struct app *app, jw *w, struct session *s, uint64_t rev);

#endif
