/* rl_conn.h: one WebSocket client connection: TCP via the engine, the HTTP upgrade, masked
 * frames out, server frames in, pings answered, closes counted.
 *
 * A connection goes FREE -> CONNECTING -> HANDSHAKE -> OPEN -> CLOSING -> DEAD -> FREE (the
 * engine releases the socket; churn reuses the struct). It owns its output buffers, its
 * frame reader and the handshake bytes; scenario data hang off it (wins, sc) and are owned by
 * the scenario. Received messages go to the run's scenario; everything else is handled here.
 */
#ifndef RINGLOAD_CONN_H
#define RINGLOAD_CONN_H

#include "rl_track.h"
#include "ws.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rl_run;

enum rl_conn_state { RL_C_FREE, RL_C_CONNECTING, RL_C_HANDSHAKE, RL_C_OPEN, RL_C_CLOSING, RL_C_DEAD };

enum rl_conn_flag {
    RL_CF_RECV = 1 << 0,          /* engine: receive armed */
    RL_CF_SEND = 1 << 1,          /* engine: a send in flight */
    RL_CF_DIRTY = 1 << 2,         /* on the run's dirty list */
    RL_CF_STARVED = 1 << 3,       /* engine: waiting for receive buffers */
    RL_CF_CONNECT = 1 << 4,       /* engine: connect in flight */
    RL_CF_CANCELLED = 1 << 5,     /* engine: cancel submitted */
    RL_CF_WANT_OUT = 1 << 6,      /* engine: socket full, waiting to write */
    RL_CF_CLOSE_SENT = 1 << 7,    /* our close frame is queued */
    RL_CF_CLOSE_RCVD = 1 << 8,    /* the server's close frame arrived */
    RL_CF_OURS = 1 << 9,          /* ringload closes it on purpose: not an error */
    RL_CF_READY = 1 << 10,        /* counted as ready (open, or joined for room scenarios) */
    RL_CF_COUNTED = 1 << 11,      /* counted in conns_open */
    RL_CF_CLOSING_FD = 1 << 12,   /* engine: the socket is being closed */
};

#define RL_NIL UINT32_MAX

struct rl_obuf {
    uint8_t *p;
    uint32_t len, cap, off;       /* bytes [off, len) are still to send */
};

struct rl_conn {
    uint32_t idx;                 /* index in the run (io_uring: the fixed-file slot) */
    uint32_t gen;                 /* bumped on reuse: stale completions are ignored */
    uint8_t state;                /* enum rl_conn_state */
    uint8_t sc_state;             /* the scenario's own step */
    uint16_t flags;               /* enum rl_conn_flag */
    uint16_t member;              /* index in its room */
    uint16_t hs_len;
    uint8_t target;               /* index into o->targets: the instance it connects to */
    int fd;                       /* epoll engine */
    uint32_t room;                /* index in r->rooms, RL_NIL if none */
    uint32_t link;                /* dirty list */
    uint32_t next_free;           /* churn: free list */
    uint32_t seq;                 /* next sequence number this connection sends */
    uint32_t inflight;            /* closed loop / churn: own messages outstanding */
    uint64_t t_connect;           /* scheduled connect time */
    uint64_t t_deadline;          /* scenario deadline (join, churn step) */
    struct ws_reader rd;
    struct rl_obuf out;           /* being filled */
    struct rl_obuf fly;           /* handed to the kernel (io_uring) */
    char *hs;                     /* handshake answer so far */
    rl_seqwin *wins;              /* per-sender windows (scenario-owned) */
    void *sc;                     /* scenario per-connection state */
    char key[28];                 /* Sec-WebSocket-Key */
    char self[48];                /* participant id from `joined` */
};

/* Starts connecting (state CONNECTING). `sched` is the scheduled connect time. Returns false
 * (error counted, connection DEAD or FREE again) if it could not even start. */
bool rl_conn_open(struct rl_run *r, struct rl_conn *c, uint64_t sched);

/* Reserves a masked frame of `len` payload bytes in the output and returns where the payload
 * goes; rl_conn_frame_done() masks it and queues it. NULL if out of memory (connection killed)
 * or not open. The pointer is valid until the next output call on this connection. */
uint8_t *rl_conn_frame(struct rl_run *r, struct rl_conn *c, uint8_t opcode, size_t len);
void rl_conn_frame_done(struct rl_run *r, struct rl_conn *c, uint8_t *payload, size_t len);
bool rl_conn_send(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const void *data, size_t len);

/* Sends a close frame and waits for the server's answer and EOF. `ours`: not an error. */
void rl_conn_close(struct rl_run *r, struct rl_conn *c, uint16_t code, bool ours);
/* Drops the connection now. */
void rl_conn_kill(struct rl_run *r, struct rl_conn *c);
bool rl_conn_is_open(const struct rl_conn *c);

/* Engine callbacks. */
void rl_conn_on_connected(struct rl_run *r, struct rl_conn *c, int err);
void rl_conn_on_data(struct rl_run *r, struct rl_conn *c, uint8_t *data, size_t len);
void rl_conn_on_eof(struct rl_run *r, struct rl_conn *c, int err);
void rl_conn_released(struct rl_run *r, struct rl_conn *c);

/* The run's list of connections with output to flush. */
void rl_conn_mark_dirty(struct rl_run *r, struct rl_conn *c);
void rl_conn_flush_dirty(struct rl_run *r);

/* Frees buffers of a connection being torn down with the run. */
void rl_conn_free(struct rl_conn *c);

#endif
