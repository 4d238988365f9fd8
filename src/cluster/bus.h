/* bus.h: rooms shared by several ringroom instances through Redis (--redis; issue 13).
 *
 * The bus is the Redis side of a room, for one core: the keys of each room, the Lua scripts
 * that make every change atomic, and the encoding of the messages on the room's channel. It
 * knows no connection, session or document: the application (room.c, room_cluster.c) calls
 * the commands below and gets the room's channel messages and the command replies back
 * through the handler it registered.
 *
 * Per room R (every key hash-tagged {R}, so a Redis Cluster would keep a room on one slot):
 *   rr:{R}:rev    the document's head revision           rr:{R}:log   stream: one entry per op,
 *   rr:{R}:cid    client id → "cseq rev" (dedup)                      id "<rev>-0"
 *   rr:{R}:chat   last chat seq                          rr:{R}:els   element id → "v nonce json"
 *   rr:{R}:pres   zset participant id → expiry (ms)      rr:{R}:pinfo participant id → its JSON
 *   rr:{R}        the room's pub/sub channel
 *
 * Order: an op is committed by a compare-and-set at (room, expected head) in one script that
 * dedups (cid, cseq), appends it to the log and publishes it; a chat message gets its seq
 * from the room's counter in the script that publishes it. Redis runs scripts one at a time
 * and delivers a channel's messages in publish order, so every instance sees a room's ops in
 * revision order and its chat in seq order. Presence entries carry an expiry refreshed by
 * each instance's heartbeat (bus_presence_beat), which also removes and announces the expired
 * ones of instances that died; times are Redis's own clock (TIME), so instances' clocks do
 * not matter.
 *
 * Ownership: a bus belongs to one core; the application's callbacks run on it, inside the
 * core's loop. Every pointer in a bus_event or a reply struct is valid during the callback only.
 */
#ifndef RINGROOM_CLUSTER_BUS_H
#define RINGROOM_CLUSTER_BUS_H

#include "cluster/link.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A message of a room's channel. */
enum bus_kind { BUS_OP, BUS_CHAT, BUS_JOIN, BUS_LEAVE, BUS_CURSOR, BUS_ELEMENT };

struct bus_event {
    enum bus_kind kind;
    const char *room;
    size_t room_len;
    uint64_t rev, ts, cseq, seq;         /* op: rev, ts, cseq; chat: seq, ts */
    int64_t version, nonce;              /* element */
    const char *from, *cid, *id;         /* participant id (op, cursor, element, join, leave); op's cid; element id */
    size_t from_len, cid_len, id_len;
    const char *body;                    /* op JSON, chat JSON, participant JSON, cursor message, element JSON */
    size_t body_len;
};

/* What a room's state was when bus_state ran. */
struct bus_element_state { const char *id, *json; size_t id_len, json_len; int64_t version, nonce; };
struct bus_state {
    uint64_t head;                       /* the document's revision in Redis */
    uint32_t nparticipants, nelements;
    const char **participants;           /* participant JSON objects (all instances) */
    size_t *participant_lens;
    struct bus_element_state *elements;
};

enum bus_commit_result {
    BUS_COMMITTED,
    BUS_CONFLICT,
    BUS_DUPLICATE,
    BUS_FAILED,          /* Redis answered an error (logged): the op cannot be committed */
    BUS_LINK_LOST,       /* the link went down first: the op may or may not be committed */
};

struct bus_handler {
    void *arg;
    /* Both links are up (the application subscribes its rooms again and catches up), or one
     * went down (every command in flight has had its failed callback). */
    void (*on_link)(void *arg, bool up);
    /* The room's channel is subscribed: messages published from now on will arrive. */
    void (*on_subscribed)(void *arg, const char *room, size_t len);
    void (*on_event)(void *arg, const struct bus_event *ev);
    /* Replies. ok false: the link went down first, or Redis answered an error (logged). */
    void (*on_state)(void *arg, const char *room, size_t len, bool ok, const struct bus_state *st);
    /* The log's ops from the revision asked for, in order (BUS_OP events), n of them. */
    void (*on_fetch)(void *arg, const char *room, size_t len, bool ok, const struct bus_event *ops, uint32_t n);
    /* COMMITTED: rev is the op's revision; CONFLICT: rev is the head that was found;
     * DUPLICATE: (cid, cseq) was committed before, at revision rev. token: bus_commit's. */
    void (*on_commit)(void *arg, const char *room, size_t len, uint64_t token, enum bus_commit_result r, uint64_t rev);
    /* bus_seed's answer: the room's head in Redis now. */
    void (*on_seeded)(void *arg, const char *room, size_t len, bool ok, uint64_t head);
};

struct bus {
    struct core *co;
    struct link cmd, sub;
    struct bus_handler h;
    bool up;                             /* both links up, as last told to the handler */
};

/* Two links to the --redis URI (not connected yet: the tick connects them). 0 or -errno. */
int bus_init(struct bus *b, struct core *co, const char *uri, uint32_t timeout_ms, const struct bus_handler *h);
/* Registers the links' completion, turn and tick hooks on the core. */
void bus_hooks(struct bus *b);
void bus_free(struct bus *b);
static inline bool bus_up(const struct bus *b) { return b->up; }

/* Commands; each returns false when it cannot be sent now (link down, out of memory): then
 * no callback will run. */
bool bus_subscribe(struct bus *b, const char *room, size_t len);
bool bus_unsubscribe(struct bus *b, const char *room, size_t len);
bool bus_state(struct bus *b, const char *room, size_t len);
bool bus_fetch(struct bus *b, const char *room, size_t len, uint64_t from_rev, uint32_t max_ops);
bool bus_commit(struct bus *b, const char *room, size_t len, uint64_t token, uint64_t expected_rev,
                const char *op, size_t op_len, const char *from, const char *cid, size_t cid_len, uint64_t cseq,
                uint64_t ts);
/* Redis lost the room (its head is behind this instance's copy: it restarted without its
 * data): unless another instance did so first with a higher revision, sets the head to rev,
 * the chat counter to at least chat_seq, and the log to ops (rev, body = op JSON, from, ts;
 * the instance's last ops, oldest first), so instances behind can catch up. */
bool bus_seed(struct bus *b, const char *room, size_t len, uint64_t rev, uint64_t chat_seq, uint32_t n,
              const struct bus_event *ops);
/* Chat: the message is prefix + seq + suffix, seq the room's next; it comes back as BUS_CHAT. */
bool bus_chat(struct bus *b, const char *room, size_t len, const char *prefix, size_t prefix_len,
              const char *suffix, size_t suffix_len, uint64_t ts);
/* Element: last writer wins in Redis (higher version; tie: lower nonce; a new id only while
 * the room has fewer than max_elements); a winner comes back as BUS_ELEMENT. */
bool bus_element(struct bus *b, const char *room, size_t len, const char *id, size_t id_len, int64_t version,
                 int64_t nonce, const char *json, size_t json_len, const char *from, uint32_t max_elements);
bool bus_cursor(struct bus *b, const char *room, size_t len, const char *from, const char *msg, size_t msg_len);
/* Presence: join (comes back as BUS_JOIN), leave (BUS_LEAVE, if it was there), and the
 * heartbeat: refreshes the expiry of n local participants (ids[i], their JSON jsons[i]) to
 * now + ttl, re-announces any that Redis had lost, and removes and announces (BUS_LEAVE)
 * participants whose expiry passed. */
bool bus_presence_join(struct bus *b, const char *room, size_t len, const char *id, const char *json,
                       size_t json_len, uint32_t ttl_ms);
bool bus_presence_leave(struct bus *b, const char *room, size_t len, const char *id, const char *json,
                        size_t json_len);
bool bus_presence_beat(struct bus *b, const char *room, size_t len, uint32_t ttl_ms, uint32_t n,
                       const char *const *ids, const char *const *jsons, const size_t *json_lens);

#endif
