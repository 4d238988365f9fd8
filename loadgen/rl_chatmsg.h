/* rl_chatmsg.h: protocol v1 messages as ringload reads and writes them (one place for the
 * wire format on the client side).
 *
 * Parsing uses ringroom's json module (jsmn underneath) with the run's token array, grown on
 * demand for big `joined` messages; a parsed message points into the received bytes and the
 * run's tokens, valid until the next parse. Nothing is owned here.
 */
#ifndef RINGLOAD_CHATMSG_H
#define RINGLOAD_CHATMSG_H

#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rl_run;
struct rl_conn;

enum rl_msg_type { RL_MSG_OTHER, RL_MSG_JOINED, RL_MSG_CHAT, RL_MSG_CURSOR, RL_MSG_ERROR, RL_MSG_ACK,
                   RL_MSG_OP, RL_MSG_PRESENCE, RL_MSG_BYE };

struct rl_chatmsg {
    enum rl_msg_type type;
    /* chat `id` "<sender>:<seq>:<ns>" or cursor `sel` [sender, seq, s, ns] */
    bool has_id;
    uint32_t sender, seq;
    uint64_t sched;               /* ns */
    /* error */
    char code[32];
    /* joined */
    char self[48];
    /* joined, ack, op */
    bool has_rev;
    int64_t rev;
    /* token indexes into doc (-1 if absent): joined `doc`, op `op` and `from` */
    json_doc doc;
    int doc_tok, op_tok, from_tok;
};

/* Parses one server message (a WebSocket frame of this opcode). False, counted as
 * RL_ERR_BAD_MESSAGE, if it is not a text frame holding a JSON object with a string `type`.
 * Unknown types parse as RL_MSG_OTHER. */
bool rl_chatmsg_read(struct rl_run *r, uint8_t opcode, const uint8_t *data, size_t len, struct rl_chatmsg *m);

/* Sends {"type":"join","room":PREFIX<room>,"user":{...}} on c. */
bool rl_chatmsg_join(struct rl_run *r, struct rl_conn *c, uint32_t room);

/* Sends {"type":"leave"}. */
bool rl_chatmsg_leave(struct rl_run *r, struct rl_conn *c);

#endif
