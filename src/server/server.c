/* server.c: server_run: start the worker and the HTTP daemon, print the address, wait for
 * SIGINT or SIGTERM, then shut down in order: the scheduler cancels what runs and wakes
 * every waiting connection (each then answers or ends its stream), then the daemon stops
 * and joins its threads, then the worker is freed. The signals are blocked in every thread
 * and taken here with sigwait, so no handler runs inside the engine. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv.h"

static void model_id(srv *sv) {
    const char *id = sv->p.alias;
    if (!id) {
        const char *slash = strrchr(sv->p.model_path, '/');
        id = slash ? slash + 1 : sv->p.model_path;
    }
    snprintf(sv->model_id, sizeof sv->model_id, "%s", id);
}

int server_run(latte_model *m, latte_ctx *c, const server_params *p, FILE *log) {
    srv sv = {.p = *p, .m = m, .c = c, .started = time(NULL)};
    atomic_init(&sv.next_id, 0);
    model_id(&sv);
    sv.tool_fmt = chat_tool_fmt(m, p->chat_template);
    sv.tool_role = chat_takes_tool_role(m, p->chat_template);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: they all inherit it */
    latte_err err = {0};
    sched_params sp = {.max_queue = p->max_queue, .prompt_chunk = p->prompt_chunk};
    if (sched_init(&sv.sch, m, c, &sp, &err)) {
        fprintf(log, "error: %s\n", err.msg);
        return err.code;
    }
    int port = 0;
    struct MHD_Daemon *d = http_start(&sv, &port, &err);
    if (!d) {
        fprintf(log, "error: %s\n", err.msg);
        sched_free(sv.sch);
        return err.code;
    }
    bool v6 = strchr(p->host, ':') != NULL;
    fprintf(log, "serving %s with %d slots of %d tokens\nlistening on http://%s%s%s:%d\n", sv.model_id,
            sched_n_slots(sv.sch), sched_n_ctx_slot(sv.sch), v6 ? "[" : "", p->host, v6 ? "]" : "", port);
    fflush(log);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(log, "%s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sched_stop(sv.sch);
    MHD_stop_daemon(d);
    sched_free(sv.sch);
    fprintf(log, "stopped\n");
    return 0;
}
