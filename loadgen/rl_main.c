/* rl_main.c: ringload's entry point: options, the run (in worker processes), the reports,
 * the exit code (0 ok; 1 an SLO failed, an ot document diverged or could not be fetched, the
 * --acked-log could not be written, or nothing connected; 2 bad usage or setup failure). It
 * creates (truncates) the --acked-log file once, before the workers append to it. */
#include "rl_opts.h"
#include "rl_report.h"
#include "rl_slo.h"
#include "rl_stats.h"
#include "rl_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct rl_opts o;
    char err[512];
    int r = rl_opts_parse(&o, argc, argv, err, sizeof err);
    if (r == RL_OPTS_EXIT) return 0;
    if (r == RL_OPTS_ERROR) {
        fprintf(stderr, "ringload: %s\n", err);
        return 2;
    }
    struct rl_slo slo[RL_SLO_MAX];
    size_t nslo = 0;
    if (o.slo[0] && !rl_slo_parse(o.slo, slo, &nslo, err, sizeof err)) {
        fprintf(stderr, "ringload: %s\n", err);
        return 2;
    }
    if (o.acked_log[0]) {
        int fd = open(o.acked_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "ringload: --acked-log %s: %s\n", o.acked_log, strerror(errno));
            return 2;
        }
        close(fd);
    }
    struct rl_stats *total = malloc(sizeof *total);
    struct rl_report *rep = malloc(sizeof *rep);
    if (!total || !rep) {
        fprintf(stderr, "ringload: out of memory\n");
        return 2;
    }
    struct rl_server_obs srv;
    int code = rl_workers_run(&o, total, &srv);
    rl_report_build(rep, &o, total, &srv);
    for (size_t i = 0; i < nslo; i++) rep->slo[i] = slo[i];
    rep->nslo = nslo;
    rep->slo_pass = rl_slo_check(rep->slo, rep->nslo, rep);
    if (code != 2) {
        if (total->connects_ok == 0 && o.scenario != RL_SC_CHURN) {
            fprintf(stderr, "ringload: no connection could be established to %s\n", o.url);
            code = 1;
        }
        if (total->ot_mismatches) code = code ? code : 1;
        if (nslo && !rep->slo_pass) code = code ? code : 1;
    }
    rep->exit_code = code;
    rl_report_human(rep, stdout);
    if (o.json_path[0] && rl_report_json(rep, o.json_path)) code = code ? code : 2;
    if (o.spectrum_path[0] && rl_report_spectrum(rep, o.spectrum_path)) code = code ? code : 2;
    free(total);
    free(rep);
    return code;
}
