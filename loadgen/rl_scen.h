/* rl_scen.h: the scenario interface: what connections say, and how replies are measured.
 *
 * The run (rl_run.c) owns time, the schedule, connections and phases; a scenario decides what
 * a connection does once open, what one scheduled event sends, how each received message is
 * counted and when nothing is outstanding any more. Each scenario owns the per-connection
 * and per-room state it hangs off rl_conn.sc / rl_room.sc and frees it in fini().
 */
#ifndef RINGLOAD_SCEN_H
#define RINGLOAD_SCEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rl_run;
struct rl_conn;

struct rl_scenario {
    const char *name;
    bool uses_rooms;              /* connections join rooms (chat protocol) */
    bool has_loss;                /* expected/lost are meaningful */
    /* Allocates scenario state once connections and rooms exist. 0 or -errno. */
    int (*setup)(struct rl_run *r);
    /* The WebSocket is open. The scenario calls rl_run_ready() once the connection may send. */
    void (*on_open)(struct rl_run *r, struct rl_conn *c);
    void (*on_message)(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *data, size_t len);
    /* Scheduled event k (due at `sched`): usually one message from sender k mod n. */
    void (*on_tick)(struct rl_run *r, uint64_t k, uint64_t sched);
    /* Closed loop: the run starts; send the first messages. */
    void (*on_start_closed)(struct rl_run *r);
    /* The connection is gone (after rl_conn_released). */
    void (*on_closed)(struct rl_run *r, struct rl_conn *c);
    /* Periodic (every loop turn with time passed): deadlines. May be NULL. */
    void (*on_poll)(struct rl_run *r);
    /* Nothing outstanding: the drain may end early. */
    bool (*drained)(struct rl_run *r);
    /* After the drain: final checks (ot convergence). Returns 0, or 1 if the run failed. */
    int (*finish)(struct rl_run *r);
    void (*fini)(struct rl_run *r);
};

extern const struct rl_scenario rl_scenario_echo;
extern const struct rl_scenario rl_scenario_idle;
extern const struct rl_scenario rl_scenario_chat;
extern const struct rl_scenario rl_scenario_cursor;
extern const struct rl_scenario rl_scenario_ot;
extern const struct rl_scenario rl_scenario_churn;

#endif
