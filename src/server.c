/* server.c: see server.h. */
#include "server.h"

#include "conn.h"
#include "log.h"
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

int server_init(struct server *s, const struct config *cfg, const char *version)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->version = version;
    log_set_level((enum log_level)cfg->log_level);

    int *avail;
    uint32_t ncpu = usable_cpus(&avail);
    s->ncores = cfg->threads ? cfg->threads : ncpu;
    s->cpus = calloc(s->ncores, sizeof *s->cpus);
    if (!s->cpus) return 1;
    for (uint32_t i = 0; i < s->ncores; i++) s->cpus[i] = avail ? avail[i % ncpu] : -1;
    free(avail);

    /* Fixed-file tables are bounded by RLIMIT_NOFILE (per ring): raise it as far as allowed. */
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
    uint64_t capacity = (uint64_t)s->ncores * s->table_size;
    s->max_conns = cfg->max_conns ? cfg->max_conns : (uint32_t)(capacity > UINT32_MAX ? UINT32_MAX : capacity);
    if (cfg->max_conns > capacity)
        log_warn("--max-conns %u exceeds what this process can hold: %u rings x %u fixed-file slots "
                 "(RLIMIT_NOFILE %llu) = %llu; connections past that are refused",
                 cfg->max_conns, s->ncores, s->table_size, (unsigned long long)rl.rlim_cur,
                 (unsigned long long)capacity);

    s->cores = calloc(s->ncores, sizeof *s->cores);
    if (!s->cores) return 1;
    for (uint32_t i = 0; i < s->ncores; i++) {
        char err[256];
        s->cores[i].id = (int)i;
        s->cores[i].srv = s;
        s->cores[i].cfg = &s->cfg;
        s->cores[i].listen_fd = open_listener(&s->cfg, err, sizeof err);
        if (s->cores[i].listen_fd < 0) {
            fprintf(stderr, "ringroom: %s\n", err);
            return 1;
        }
    }
    s->web = webfiles_load(cfg->web_dir);
    if (!s->web) return 1;
    {
        char err[1024];
        uint64_t t0 = clock_ms();
        enum store_open_result opened = store_open(&s->store, &s->cfg, s->ncores, err, sizeof err);
        if (opened != STORE_OPEN_OK) {
            fprintf(stderr, "ringroom: %s\n", err);
            return opened == STORE_OPEN_CORRUPT ? 3 : 1;
        }
        if (strcmp(s->cfg.store, "embedded"))
            log_info("store: MongoDB ready in %llu ms (batches of up to --fsync-interval)", (unsigned long long)(clock_ms() - t0));
        else
            log_info("op log: %s ready in %llu ms (fsync %s)", s->cfg.data_dir, (unsigned long long)(clock_ms() - t0),
                     s->cfg.fsync_mode == FSYNC_ALWAYS ? "always" : s->cfg.fsync_mode == FSYNC_OFF ? "off" : "batch");
    }
    s->start_ms = clock_ms();
    s->start_unix = (uint64_t)time(NULL);
    return 0;
}

int server_run(struct server *s)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);       /* inherited by the cores */
    signal(SIGPIPE, SIG_IGN);

    pthread_barrier_init(&s->ready, NULL, s->ncores + 1);
    pthread_t *threads = calloc(s->ncores, sizeof *threads);
    if (!threads) return 1;
    for (uint32_t i = 0; i < s->ncores; i++) {
        int r = pthread_create(&threads[i], NULL, core_main, &s->cores[i]);
        if (r) {
            fprintf(stderr, "ringroom: starting thread %u: %s\n", i, strerror(r));
            exit(1);                 /* the barrier can no longer complete */
        }
    }
    pthread_barrier_wait(&s->ready);
    int code = 0;
    if (atomic_load(&s->init_failed)) {
        code = 1;
    } else {
        log_info("ringroom %s listening on http://%s:%u/ (%u threads, up to %u connections)",
                 s->version, s->cfg.listen_host, s->cfg.listen_port, s->ncores, s->max_conns);
        uint64_t deadline = 0;
        struct timespec poll = { 0, 100 * 1000000L };
        while (atomic_load(&s->cores_done) < s->ncores) {
            siginfo_t info;
            int sig = sigtimedwait(&sigs, &info, &poll);
            if (sig > 0) {
                if (!server_draining(s)) {
                    log_info("%s: draining (up to %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                             s->cfg.drain_timeout_ms);
                    deadline = clock_ms() + s->cfg.drain_timeout_ms;
                    atomic_store(&s->draining, true);
                } else {
                    log_info("second signal: stopping now");
                    atomic_store(&s->stop_now, true);
                }
            }
            if (deadline && clock_ms() >= deadline && !atomic_load(&s->stop_now)) {
                log_warn("drain timeout: closing the remaining connections");
                atomic_store(&s->stop_now, true);
            }
        }
    }
    for (uint32_t i = 0; i < s->ncores; i++) pthread_join(threads[i], NULL);
    free(threads);
    pthread_barrier_destroy(&s->ready);
    if (!code) log_info("stopped");
    return code;
}

void server_free(struct server *s)
{
    for (uint32_t i = 0; s->cores && i < s->ncores; i++)
        if (s->cores[i].listen_fd >= 0) close(s->cores[i].listen_fd);
    free(s->cores);
    free(s->cpus);
    webfiles_free(s->web);
    store_close(s->store);
}
