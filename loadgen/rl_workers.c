/* rl_workers.c: see rl_workers.h. */
#include "rl_workers.h"

#include "rl_proc.h"
#include "rl_report.h"
#include "rl_run.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const phase_names[] = { "connect", "ready", "run", "drain", "finish", "close", "done" };

struct share { uint32_t first, n, room_first, nrooms; };

static struct share share_of(const struct rl_opts *o, uint32_t w, uint32_t nw)
{
    struct share s = { 0, 0, 0, 0 };
    bool rooms = o->scenario == RL_SC_CHAT || o->scenario == RL_SC_CURSOR || o->scenario == RL_SC_OT;
    if (rooms) {
        uint32_t r0 = (uint32_t)((uint64_t)o->rooms * w / nw), r1 = (uint32_t)((uint64_t)o->rooms * (w + 1) / nw);
        uint64_t c0 = (uint64_t)r0 * o->room_size, c1 = (uint64_t)r1 * o->room_size;
        if (c1 > o->conns) c1 = o->conns;
        s.first = (uint32_t)c0;
        s.n = (uint32_t)(c1 - c0);
        s.room_first = r0;
        s.nrooms = r1 - r0;
    } else {
        s.first = (uint32_t)((uint64_t)o->conns * w / nw);
        s.n = (uint32_t)((uint64_t)o->conns * (w + 1) / nw) - s.first;
    }
    return s;
}

struct watch {
    struct rl_server_obs *obs;
    uint64_t cpu_start;
    uint64_t cpu_start_by_pid[RL_MAX_SERVER_PIDS];
    bool cpu_started, cpu_done;
    uint64_t rss_sum;
};

/* Every sampled process at once, summed (false if one cannot be read); each one's CPU in
 * `each` if not NULL. */
static bool sample_all(const struct rl_server_obs *s, struct rl_proc_sample *sum, uint64_t *each)
{
    *sum = (struct rl_proc_sample){ 0, 0 };
    for (uint32_t i = 0; i < s->npids; i++) {
        struct rl_proc_sample p;
        if (!rl_proc_sample(s->pids[i], &p)) return false;
        sum->cpu_ns += p.cpu_ns;
        sum->rss_kb += p.rss_kb;
        if (each) each[i] = p.cpu_ns;
    }
    return s->npids > 0;
}

static void sample(struct watch *wt, bool in_run, uint64_t *cpu_out, uint64_t *each)
{
    struct rl_server_obs *s = wt->obs;
    if (!s->pid) return;
    struct rl_proc_sample p;
    uint64_t by_pid[RL_MAX_SERVER_PIDS];
    if (!sample_all(s, &p, by_pid)) return;
    if (each) memcpy(each, by_pid, s->npids * sizeof *each);
    s->rss_kb_end = p.rss_kb;
    if (in_run) {
        if (p.rss_kb > s->rss_kb_peak) s->rss_kb_peak = p.rss_kb;
        wt->rss_sum += p.rss_kb;
        s->samples++;
        s->rss_kb_avg = wt->rss_sum / s->samples;
    }
    if (cpu_out) *cpu_out = p.cpu_ns;
}

/* The end of the measured window: CPU used since its start, in all and per process. */
static void measured_cpu(struct watch *wt, bool in_run)
{
    struct rl_server_obs *s = wt->obs;
    uint64_t cpu = 0, each[RL_MAX_SERVER_PIDS] = { 0 };
    sample(wt, in_run, &cpu, each);
    s->cpu_ns_measured = cpu > wt->cpu_start ? cpu - wt->cpu_start : 0;
    for (uint32_t i = 0; i < s->npids; i++)
        s->cpu_ns_by_pid[i] = each[i] > wt->cpu_start_by_pid[i] ? each[i] - wt->cpu_start_by_pid[i] : 0;
}

static void progress(const struct rl_opts *o, struct rl_shared *sh, uint64_t t0, uint64_t now,
                     uint64_t *last_sent, uint64_t *last_recv, uint64_t *last_t)
{
    uint64_t conns = 0, sent = 0, recv = 0, errs = 0, p99 = 0, wcount = 0;
    uint32_t phase = RL_PH_DONE;
    for (uint32_t w = 0; w < sh->nworkers; w++) {
        struct rl_worker_slot *s = &sh->slot[w];
        if (atomic_load(&s->done)) continue;
        uint32_t ph = atomic_load_explicit(&s->phase, memory_order_acquire);
        if (ph < phase) phase = ph;
    }
    for (uint32_t w = 0; w < sh->nworkers; w++) {
        struct rl_worker_slot *s = &sh->slot[w];
        conns += atomic_load_explicit(&s->conns_open, memory_order_relaxed);
        sent += atomic_load_explicit(&s->sent, memory_order_relaxed);
        recv += atomic_load_explicit(&s->received, memory_order_relaxed);
        errs += atomic_load_explicit(&s->errors, memory_order_relaxed);
        uint64_t p = atomic_load_explicit(&s->window_p99_ns, memory_order_relaxed);
        if (p > p99) p99 = p;
        wcount += atomic_load_explicit(&s->window_count, memory_order_relaxed);
    }
    double dt = *last_t ? (double)(now - *last_t) / 1e9 : 0;
    if (dt < 0.5) dt = 0;             /* a short last interval would print a meaningless rate */
    char p99s[32] = "-";
    if (wcount) rl_report_fmt_ns(p99s, sizeof p99s, p99);
    if (!o->quiet)
        fprintf(stderr, "[%6.1fs] %-7s conns %" PRIu64 "  sent %" PRIu64 " (%.0f/s)  recv %" PRIu64 " (%.0f/s)  errors %" PRIu64
                "  p99(last 1s) %s\n", (double)(now - t0) / 1e9, phase <= RL_PH_DONE ? phase_names[phase] : "?", conns,
                sent, dt > 0 ? (double)(sent - *last_sent) / dt : 0, recv, dt > 0 ? (double)(recv - *last_recv) / dt : 0,
                errs, p99s);
    *last_sent = sent;
    *last_recv = recv;
    *last_t = now;
}

int rl_workers_run(const struct rl_opts *o, struct rl_stats *total, struct rl_server_obs *srv)
{
    uint32_t nw = o->workers ? o->workers : 1;
    size_t bytes = sizeof(struct rl_shared) + (size_t)nw * sizeof(struct rl_worker_slot);
    struct rl_shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        fprintf(stderr, "ringload: mapping shared memory: %s\n", strerror(errno));
        return 2;
    }
    sh->nworkers = nw;
    memset(srv, 0, sizeof *srv);
    srv->npids = o->nserver_pids;
    memcpy(srv->pids, o->server_pids, srv->npids * sizeof *srv->pids);
    srv->pid = srv->npids ? srv->pids[0] : 0;
    struct watch wt = { .obs = srv };
    if (srv->pid) {
        struct rl_proc_sample p;
        srv->ok = sample_all(srv, &p, NULL);
        if (!srv->ok) {
            for (uint32_t i = 0; i < srv->npids; i++)
                if (!rl_proc_sample(srv->pids[i], &p))
                    fprintf(stderr, "ringload: --server-pid %d: cannot read /proc/%d (sampling disabled)\n", srv->pids[i],
                            srv->pids[i]);
        } else {
            srv->rss_kb_before = srv->rss_kb_end = p.rss_kb;
        }
    }

    /* SIGINT/SIGTERM are taken synchronously: blocked here and in the workers, which poll */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);

    pid_t *pids = calloc(nw, sizeof *pids);
    if (!pids) return 2;
    uint32_t started = 0;
    for (uint32_t w = 0; w < nw; w++) {
        struct share s = share_of(o, w, nw);
        rl_stats_init(&sh->slot[w].stats);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "ringload: fork: %s\n", strerror(errno));
            atomic_store(&sh->stop, 1);
            break;
        }
        if (pid == 0) {
            int rc = rl_run_main(o, &sh->slot[w].stats, sh, w, s.first, s.n, s.room_first, s.nrooms);
            atomic_store(&sh->slot[w].exit_code, rc < 0 ? 2 : rc);
            atomic_store_explicit(&sh->slot[w].done, 1, memory_order_release);
            fflush(NULL);
            _exit(rc < 0 ? 2 : rc);
        }
        pids[w] = pid;
        started++;
    }

    uint64_t t0 = rl_now_ns(), go = 0, measure_start = 0, measure_end = 0;
    uint64_t ready_deadline = t0 + (uint64_t)o->connect_timeout_ms * RL_NS_PER_MS + 5 * RL_NS_PER_S;
    uint64_t next_progress = t0 + RL_NS_PER_S, last_sent = 0, last_recv = 0, last_t = 0;
    uint32_t alive = started;
    int result = started == nw ? 0 : 2;
    while (alive) {
        uint64_t now = rl_now_ns();
        if (!go) {
            uint32_t ready = 0;
            for (uint32_t w = 0; w < started; w++)
                ready += atomic_load_explicit(&sh->slot[w].ready, memory_order_acquire) ||
                         atomic_load_explicit(&sh->slot[w].done, memory_order_acquire);
            if (ready == started || now >= ready_deadline) {
                go = now + 20 * RL_NS_PER_MS;
                measure_start = go + (uint64_t)o->warmup_ms * RL_NS_PER_MS;
                measure_end = measure_start + (uint64_t)o->duration_ms * RL_NS_PER_MS;
                if (srv->pid && srv->ok) {
                    struct rl_proc_sample p;
                    if (sample_all(srv, &p, NULL)) srv->rss_kb_ready = p.rss_kb;
                }
                atomic_store_explicit(&sh->go_ns, go, memory_order_release);
            }
        }
        if (go && srv->ok) {
            bool in_run = now >= go && now <= measure_end + 100 * RL_NS_PER_MS;
            if (!wt.cpu_started && now >= measure_start) {
                sample(&wt, in_run, &wt.cpu_start, wt.cpu_start_by_pid);
                wt.cpu_started = true;
            } else if (wt.cpu_started && !wt.cpu_done && now >= measure_end) {
                measured_cpu(&wt, in_run);
                wt.cpu_done = true;
            }
        }
        if (now >= next_progress) {
            next_progress += RL_NS_PER_S;
            if (next_progress < now) next_progress = now + RL_NS_PER_S;
            progress(o, sh, t0, now, &last_sent, &last_recv, &last_t);
            if (srv->ok) sample(&wt, go && now >= go && now <= measure_end, NULL, NULL);
        }
        /* reap */
        for (uint32_t w = 0; w < started; w++) {
            if (!pids[w]) continue;
            int status;
            pid_t p = waitpid(pids[w], &status, WNOHANG);
            if (p == pids[w]) {
                pids[w] = 0;
                alive--;
                int code = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
                if (WIFSIGNALED(status))
                    fprintf(stderr, "ringload: worker %u killed by signal %d\n", w, WTERMSIG(status));
                if (code > result) result = code;
            }
        }
        if (!alive) break;
        /* sleep until the next thing to do, or a signal */
        uint64_t wake = next_progress;
        if (go && srv->ok && !wt.cpu_started && measure_start < wake) wake = measure_start;
        if (go && srv->ok && wt.cpu_started && !wt.cpu_done && measure_end < wake) wake = measure_end;
        now = rl_now_ns();
        uint64_t sleep_ns = wake > now ? wake - now : 0;
        if (sleep_ns > 50 * RL_NS_PER_MS) sleep_ns = 50 * RL_NS_PER_MS;
        struct timespec ts = { (time_t)(sleep_ns / RL_NS_PER_S), (long)(sleep_ns % RL_NS_PER_S) };
        if (sigtimedwait(&set, NULL, &ts) > 0) {
            if (atomic_load(&sh->stop)) {
                fprintf(stderr, "ringload: interrupted again, stopping now\n");
                for (uint32_t w = 0; w < started; w++) if (pids[w]) kill(pids[w], SIGKILL);
            } else {
                fprintf(stderr, "ringload: interrupted: finishing early (again to stop at once)\n");
                atomic_store(&sh->stop, 1);
            }
        }
    }
    if (srv->ok && wt.cpu_started && !wt.cpu_done) measured_cpu(&wt, false);   /* ended early (interrupted) */
    if (!o->quiet) progress(o, sh, t0, rl_now_ns(), &last_sent, &last_recv, &last_t);
    rl_stats_init(total);
    for (uint32_t w = 0; w < started; w++) {
        rl_stats_merge(total, &sh->slot[w].stats);
        total->conns_open = 0;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(pids);
    munmap(sh, bytes);
    return result;
}
