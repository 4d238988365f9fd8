/* server.c: see server.h. */
#include "server.h"

#include "app_entry.h"
#include "cluster/bus.h"
#include "handover.h"
#include "log.h"
#include "room_cluster.h"
#include "store/store.h"
#include "webfiles.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int open_listener(const struct config *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->listen_port);
    int r = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (r) {
        snprintf(err, errlen, "--listen %s:%u: %s", cfg->listen_host, cfg->listen_port, gai_strerror(r));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        /* accepted sockets inherit it; setsockopt is not available on direct descriptors */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 4096)) {
        snprintf(err, errlen, "--listen %s:%u: %s", cfg->listen_host, cfg->listen_port, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static uint32_t usable_cpus(int **cpus_out)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set)) {
        *cpus_out = NULL;
        return 1;
    }
    uint32_t n = (uint32_t)CPU_COUNT(&set);
    int *cpus = calloc(n ? n : 1, sizeof *cpus);
    uint32_t k = 0;
    for (int c = 0; c < CPU_SETSIZE && cpus && k < n; c++)
        if (CPU_ISSET(c, &set)) cpus[k++] = c;
    *cpus_out = cpus;
    return n ? n : 1;
}

/* One core's layers above the loop. */
struct server_worker {
    struct server *srv;
    struct core *co;
    struct conn_core cc;
    struct app app;
    struct bus bus;                /* --redis */
};

enum server_result server_init(struct server *s, const struct config *cfg, const char *version)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->version = version;
    log_set_level((enum log_level)cfg->log_level);

    int *avail;
    uint32_t ncpu = usable_cpus(&avail);
    uint32_t ncores = cfg->threads ? cfg->threads : ncpu;
    s->group.cores = calloc(ncores, sizeof *s->group.cores);
    s->workers = calloc(ncores, sizeof *s->workers);
    if (!s->group.cores || !s->workers) {
        free(avail);
        fprintf(stderr, "ringroom: out of memory\n");
        return SERVER_FAILED;
    }
    s->group.ncores = ncores;
    for (uint32_t i = 0; i < ncores; i++) {
        struct core *co = &s->group.cores[i];
        co->id = (int)i;
        co->group = &s->group;
        co->cpu = avail ? avail[i % ncpu] : -1;
        co->listen_fd = -1;            /* server_free closes only what was opened */
        s->workers[i].srv = s;
        s->workers[i].co = co;
    }
    free(avail);

    /* Each ring's fixed-file table is bounded by RLIMIT_NOFILE (the kernel refuses a larger
     * sparse table): raise the soft limit to the hard one, then size every ring's table (and
     * its connection pool) to min(RLIMIT_NOFILE, --max-conns, 1M). */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl)) log_warn("raising RLIMIT_NOFILE to %llu: %s",
                                                    (unsigned long long)want, strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t per_ring = rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    if (cfg->max_conns && cfg->max_conns < per_ring) per_ring = cfg->max_conns;
    s->table_size = (uint32_t)per_ring;
    uint64_t capacity = (uint64_t)ncores * s->table_size;
    s->conns.max_conns = cfg->max_conns ? cfg->max_conns : (uint32_t)(capacity > UINT32_MAX ? UINT32_MAX : capacity);
    if (cfg->max_conns > capacity)
        log_warn("--max-conns %u exceeds what this process can hold: %u rings x %u fixed-file slots "
                 "(RLIMIT_NOFILE %llu) = %llu; connections past that are refused",
                 cfg->max_conns, ncores, s->table_size, (unsigned long long)rl.rlim_cur,
                 (unsigned long long)capacity);

    for (uint32_t i = 0; i < ncores; i++) {
        char err[256];
        struct core *co = &s->group.cores[i];
        co->table_size = s->table_size;
        co->listen_fd = open_listener(&s->cfg, err, sizeof err);
        if (co->listen_fd < 0) {
            fprintf(stderr, "ringroom: %s\n", err);
            return SERVER_FAILED;
        }
    }
    s->web = webfiles_load(cfg->web_dir);
    if (!s->web) return SERVER_FAILED;
    {
        char err[1024];
        uint64_t t0 = clock_ms();
        enum store_open_result opened = store_open(&s->store, &s->cfg, ncores, err, sizeof err);
        if (opened != STORE_OPEN_OK) {
            fprintf(stderr, "ringroom: %s\n", err);
            return opened == STORE_OPEN_CORRUPT ? SERVER_CORRUPT_DATA : SERVER_FAILED;
        }
        if (strcmp(s->cfg.store, "embedded"))
            log_info("store: MongoDB ready in %llu ms (batches of up to --fsync-interval)", (unsigned long long)(clock_ms() - t0));
        else
            log_info("op log: %s ready in %llu ms (fsync %s)", s->cfg.data_dir, (unsigned long long)(clock_ms() - t0),
                     s->cfg.fsync_mode == FSYNC_ALWAYS ? "always" : s->cfg.fsync_mode == FSYNC_OFF ? "off" : "batch");
    }
    s->app.cfg = &s->cfg;
    s->app.version = version;
    s->app.group = &s->group;
    s->app.web = s->web;
    s->app.store = s->store;
    s->app.start_ms = clock_ms();
    if (s->cfg.redis[0]) {
        /* an id for this process in participant ids and op cids: random, so a restarted
         * instance never reuses the ids of its previous life */
        uint8_t rnd[3];
        if (getentropy(rnd, sizeof rnd)) {
            uint64_t t = clock_ns() ^ (uint64_t)getpid() << 20;
            memcpy(rnd, &t, sizeof rnd);
        }
        snprintf(s->app.instance, sizeof s->app.instance, "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
        log_info("scale-out: rooms shared through %s as instance %s (presence ttl %u ms)", s->cfg.redis,
                 s->app.instance, s->cfg.presence_ttl_ms);
    }
    return SERVER_OK;
}

/* The store's hooks on the loop (after the transport's: a turn's ops are all appended by then). */
static uint32_t store_turn(void *sc) { return store_flush(sc); }
static void store_tick_hook(void *sc) { store_tick(sc); }
static void store_cqe(void *sc, struct io_uring_cqe *cqe) { store_on_cqe(sc, cqe); }
static void cluster_tick(void *app) { room_cluster_tick(app); }

/* --redis: the core's bus, after the application (whose turn hook queues commands on it). */
static int cluster_init(struct server_worker *wk)
{
    struct server *s = wk->srv;
    struct bus_handler h = room_cluster_handler(&wk->app);
    int r = bus_init(&wk->bus, wk->co, s->cfg.redis, s->cfg.redis_timeout_ms, &h);
    if (r) {
        log_error("core %d: cannot set up the Redis link to %s: %s", wk->co->id, s->cfg.redis, strerror(-r));
        return r;
    }
    memcpy(wk->app.instance, s->app.instance, sizeof wk->app.instance);
    wk->app.bus = &wk->bus;
    bus_hooks(&wk->bus);
    core_on_tick(wk->co, cluster_tick, &wk->app);
    return 0;
}

/* A worker thread: its core, transport, application and store writer, wired bottom-up; the
 * loop until the drain is over; then teardown top-down. */
static void *worker_main(void *arg)
{
    struct server_worker *wk = arg;
    struct server *s = wk->srv;
    struct core *co = wk->co;
    struct store_core *sc = store_core_of(s->store, (uint32_t)co->id);
    struct conn_handler handler = app_conn_handler(&wk->app);
    int r = core_init(co);
    if (!r) r = conn_core_init(&wk->cc, co, &s->cfg, &s->conns, &handler);
    if (!r) {
        handover_init(&wk->cc);
        r = app_init(&wk->app, &wk->cc, &s->app, sc);     /* the rooms' turn hook comes first */
        if (r) log_error("out of memory setting up core %d", co->id);
    }
    if (!r && s->cfg.redis[0]) r = cluster_init(wk);
    if (!r) {
        conn_core_hooks(&wk->cc);
        core_on_turn(co, store_turn, sc);
        core_on_tick(co, store_tick_hook, sc);
        core_on_cqe(co, UD_STORE, store_cqe, sc);
    }
    if (r) atomic_store(&s->group.init_failed, 1);
    pthread_barrier_wait(&s->group.ready);           /* every ring exists (or one failed) */
    if (!atomic_load(&s->group.init_failed)) {
        core_run(co);
        /* Flush what the loop left queued (bye/close frames) on a best-effort basis, and the
         * records the op log still holds (chat, unacked ops). */
        conn_core_finish(&wk->cc);
        store_core_finish(sc);
    }
    conn_core_free(&wk->cc);
    if (s->cfg.redis[0]) bus_free(&wk->bus);     /* its last callbacks still find the rooms */
    app_free(&wk->app);
    core_free(co);
    atomic_fetch_add(&s->group.cores_done, 1);
    return NULL;
}

enum server_result server_run(struct server *s)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);       /* inherited by the cores */
    signal(SIGPIPE, SIG_IGN);

    uint32_t ncores = s->group.ncores;
    pthread_barrier_init(&s->group.ready, NULL, ncores + 1);
    pthread_t *threads = calloc(ncores, sizeof *threads);
    if (!threads) return SERVER_FAILED;
    for (uint32_t i = 0; i < ncores; i++) {
        int r = pthread_create(&threads[i], NULL, worker_main, &s->workers[i]);
        if (r) {
            fprintf(stderr, "ringroom: starting thread %u: %s\n", i, strerror(r));
            exit(1);                 /* the barrier can no longer complete */
        }
    }
    pthread_barrier_wait(&s->group.ready);
    enum server_result result = SERVER_OK;
    if (atomic_load(&s->group.init_failed)) {
        result = SERVER_FAILED;
    } else {
        log_info("ringroom %s listening on http://%s:%u/ (%u threads, up to %u connections)",
                 s->version, s->cfg.listen_host, s->cfg.listen_port, ncores, s->conns.max_conns);
        uint64_t deadline = 0;
        struct timespec poll = { 0, 100 * 1000000L };
        while (atomic_load(&s->group.cores_done) < ncores) {
            siginfo_t info;
            int sig = sigtimedwait(&sigs, &info, &poll);
            if (sig > 0) {
                if (!atomic_load(&s->group.draining)) {
                    log_info("%s: draining (up to %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                             s->cfg.drain_timeout_ms);
                    deadline = clock_ms() + s->cfg.drain_timeout_ms;
                    atomic_store(&s->group.draining, true);
                } else {
                    log_info("second signal: stopping now");
                    atomic_store(&s->group.stop_now, true);
                }
            }
            if (deadline && clock_ms() >= deadline && !atomic_load(&s->group.stop_now)) {
                log_warn("drain timeout: closing the remaining connections");
                atomic_store(&s->group.stop_now, true);
            }
        }
    }
    for (uint32_t i = 0; i < ncores; i++) pthread_join(threads[i], NULL);
    free(threads);
    pthread_barrier_destroy(&s->group.ready);
    if (result == SERVER_OK) log_info("stopped");
    return result;
}

void server_free(struct server *s)
{
    for (uint32_t i = 0; s->group.cores && i < s->group.ncores; i++)
        if (s->group.cores[i].listen_fd >= 0) close(s->group.cores[i].listen_fd);
    free(s->group.cores);
    free(s->workers);
    webfiles_free(s->web);
    store_close(s->store);
}
