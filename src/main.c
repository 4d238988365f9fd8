/* main.c: ringroom's entry point: options, then the server until SIGTERM. */
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
    int code = server_init(&srv, &cfg, RINGROOM_VERSION);
    if (!code) code = server_run(&srv);
    server_free(&srv);
    return code;
}
