/* handover.h: moving a connection to the core that owns its room.
 *
 * The kernel picks which core accepts a connection; the room it joins decides which core
 * must serve it. To move it, the source core stops reading (cancels the multishot recv),
 * lets its queued output finish, then passes the socket's fixed-file slot to the target
 * ring with IORING_OP_MSG_RING (IORING_MSG_SEND_FD: the file lands directly in the target's
 * fixed-file table) together with a pointer to a struct handover that carries what the
 * source read but did not handle: the join message itself (or the whole HTTP request, for
 * GET /rooms/<room>) and every byte that arrived after it. The target adopts the socket,
 * handles that input as if it had read it, and arms its own recv. Nothing is shared after
 * the move, and no lock is taken: the MSG_RING completion is the only synchronisation.
 */
#ifndef RINGROOM_HANDOVER_H
#define RINGROOM_HANDOVER_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core;
struct conn;

/* Starts moving c (HTTP or WebSocket) to core `to`. `first` is a complete WebSocket message
 * the target handles before anything else (NULL for HTTP: the unhandled request is part of
 * the input kept by handover_keep). Returns 0, or -1 (out of memory; nothing changed). */
int handover_start(struct core *co, struct conn *c, uint32_t to, const uint8_t *first, size_t first_len);

/* Input read for a moving connection after the point it was moved: kept, in order. */
bool handover_keep(struct conn *c, const uint8_t *data, size_t n);

/* Passes the connection on if nothing is in flight any more (call after recv/send completions). */
void handover_try(struct core *co, struct conn *c);

/* The connection died while moving: forget the move. */
void handover_abort(struct conn *c);

/* Completions: our MSG_RING finished (source), or a connection arrived (target). */
void handover_on_sent(struct core *co, struct io_uring_cqe *cqe);
void handover_on_in(struct core *co, struct io_uring_cqe *cqe);

#endif
