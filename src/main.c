/* main.c: ringroom's entry point (process layer): options, then the server until SIGTERM, and
 * the process's exit code. */
#include "config.h"
#include "server.h"
#include "store/mongo.h"

#include <stdio.h>

#ifndef RINGROOM_VERSION
#define RINGROOM_VERSION "dev"
#endif

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    mongo_unlink_counters_file();
    int r = config_load(&cfg, argc, argv, err, sizeof err);
    if (r == CONFIG_EXIT) return 0;
    if (r == CONFIG_VERSION) {
        printf("ringroom %s\n", RINGROOM_VERSION);
        return 0;
    }
    if (r == CONFIG_ERROR) {
        fprintf(stderr, "ringroom: %s\n", err);
        return 2;
    }
    struct server srv;
    enum server_result r2 = server_init(&srv, &cfg, RINGROOM_VERSION);
    if (r2 == SERVER_OK) r2 = server_run(&srv);
    server_free(&srv);
    /* exit codes (docs/operations.md): 0 stopped cleanly, 1 could not start or run, 2 bad
     * options (above), 3 the op log is corrupt */
    return r2 == SERVER_OK ? 0 : r2 == SERVER_CORRUPT_DATA ? 3 : 1;
}
