/* rl_stats.c: see rl_stats.h. */
#include "rl_stats.h"

#include <stddef.h>
#include <string.h>

const uint16_t rl_close_codes[RL_CLOSE_SLOTS] = { 0, 1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                                  1008, 1009, 1010, 1011, 1013, 1014 };

const char *const rl_err_names[RL_ERR_COUNT] = {
    "connect", "handshake", "protocol", "disconnect", "send", "server_error", "bad_message",
    "join", "skipped", "ot", "timeout",
};

void rl_stats_init(struct rl_stats *s)
{
    memset(s, 0, offsetof(struct rl_stats, lat));
    rl_hist_reset(&s->lat);
    rl_hist_reset(&s->ack);
    rl_hist_reset(&s->connect);
    rl_hist_reset(&s->slip);
    rl_hist_reset(&s->lat_cross);
}

void rl_stats_close(struct rl_stats *s, uint16_t code)
{
    for (int i = 1; i < RL_CLOSE_SLOTS; i++)
        if (rl_close_codes[i] == code) { s->closes[i]++; return; }
    s->closes[0]++;
}

void rl_stats_server_error(struct rl_stats *s, const char *code, size_t len)
{
    s->errors[RL_ERR_SERVER]++;
    if (len >= sizeof s->server_errors[0].code) len = sizeof s->server_errors[0].code - 1;
    for (int i = 0; i < RL_SERVER_ERR_SLOTS; i++) {
        struct rl_server_err *e = &s->server_errors[i];
        if (e->n && strlen(e->code) == len && !memcmp(e->code, code, len)) { e->n++; return; }
        if (!e->n) {
            memcpy(e->code, code, len);
            e->code[len] = '\0';
            e->n = 1;
            return;
        }
    }
    /* table full: the count above still has it */
}

uint64_t rl_stats_error_total(const struct rl_stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < RL_ERR_COUNT; i++) n += s->errors[i];
    return n;
}

void rl_stats_merge(struct rl_stats *d, const struct rl_stats *s)
{
#define ADD(f) d->f += s->f
    ADD(connects_attempted); ADD(connects_ok); ADD(conns_open); ADD(conns_peak);
    ADD(sent); ADD(expected); ADD(received); ADD(duplicates); ADD(reordered); ADD(untracked);
    ADD(other_msgs); ADD(sent_all); ADD(received_all); ADD(bytes_sent); ADD(bytes_received);
    ADD(late_sends);
    ADD(ot_edits); ADD(ot_edits_acked); ADD(ot_ops); ADD(ot_acks); ADD(ot_remote_ops); ADD(ot_docs); ADD(ot_docs_ok); ADD(ot_mismatches);
    ADD(client_cpu_ns);
#undef ADD
    for (int i = 0; i < RL_STATS_TARGETS; i++) {
        struct rl_target_stats *dt = &d->targets[i];
        const struct rl_target_stats *t = &s->targets[i];
        dt->attempted += t->attempted;
        dt->established += t->established;
        dt->lost += t->lost;
        dt->ot_docs_ok += t->ot_docs_ok;
        dt->ot_mismatches += t->ot_mismatches;
        dt->ot_not_held += t->ot_not_held;
    }
    for (int i = 0; i < RL_ERR_COUNT; i++) d->errors[i] += s->errors[i];
    for (int i = 0; i < RL_CLOSE_SLOTS; i++) d->closes[i] += s->closes[i];
    for (int i = 0; i < RL_SERVER_ERR_SLOTS && s->server_errors[i].n; i++) {
        const struct rl_server_err *e = &s->server_errors[i];
        uint64_t before = d->errors[RL_ERR_SERVER];
        rl_stats_server_error(d, e->code, strlen(e->code));
        d->errors[RL_ERR_SERVER] = before;              /* counted above already */
        for (int j = 0; j < RL_SERVER_ERR_SLOTS; j++)
            if (!strcmp(d->server_errors[j].code, e->code)) { d->server_errors[j].n += e->n - 1; break; }
    }
    if (!d->t_measure_start || (s->t_measure_start && s->t_measure_start < d->t_measure_start))
        d->t_measure_start = s->t_measure_start;
    if (s->t_measure_end > d->t_measure_end) d->t_measure_end = s->t_measure_end;
    rl_hist_merge(&d->lat, &s->lat);
    rl_hist_merge(&d->ack, &s->ack);
    rl_hist_merge(&d->connect, &s->connect);
    rl_hist_merge(&d->slip, &s->slip);
    rl_hist_merge(&d->lat_cross, &s->lat_cross);
}
