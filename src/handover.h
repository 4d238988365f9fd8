/* handover.h: moving a connection to the core that owns its room (transport layer, above
 * conn.h).
 *
 * The kernel picks which core accepts a connection; the room it joins decides which core
 * must serve it. To move it, the source core stops reading (cancels the multishot recv),
 * lets its queued output finish, then passes the socket's fixed-file slot to the target
 * ring with IORING_OP_MSG_RING (IORING_MSG_SEND_FD: the file lands directly in the target's
 * fixed-file table) together with a pointer to a struct handover that carries what the
 * source read but did not handle: the join message itself (or the whole HTTP request, for
 * GET /rooms/<room>) and every byte that arrived after it. The target adopts the socket,
 * handles that input as if it had read it (through the application's conn_handler), and arms
 * its own recv. Nothing is shared after the move, and no lock is taken: the MSG_RING
 * completion is the only synchronisation.
 */
#ifndef RINGROOM_HANDOVER_H
#define RINGROOM_HANDOVER_H

#include "conn.h"

#include <stddef.h>
#include <stdint.h>

/* Registers the handover's completions on the core and its mover on the transport. */
void handover_init(struct conn_core *cc);

/* Starts moving c (HTTP or WebSocket) to core `to`. `first` is a complete WebSocket message
 * the target handles before anything else (NULL for HTTP: the unhandled request stays in the
 * connection's input). Returns 0, or -1 (out of memory; nothing changed). */
int handover_start(struct conn_core *cc, struct conn *c, uint32_t to, const uint8_t *first, size_t first_len);

#endif
