/* complete.c: the completion endpoints' life cycle: parse the body into a task, queue it
 * (503 when the queue is full), then either wait for the end and answer once, or stream
 * server-sent events as the worker publishes text. Waits wake at least every 100 ms to see
 * whether the client hung up; a client that did cancels its task, which frees the slot. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv.h"

#define POLL_MS 100

typedef struct stream {
    srv *sv;
    task *t;
    req_opts o;
    struct MHD_Connection *conn;
    stream_pos pos;
    char *buf;
    size_t len, off, cap;
    bool ended;
} stream;

/* Queues t; on refusal replies itself and returns false. */
static bool submit(srv *sv, struct MHD_Connection *conn, task *t, enum MHD_Result *rc) {
    int s = sched_submit(sv->sch, t);
    if (s == SCHED_OK) return true;
    *rc = s == SCHED_FULL ? http_reply_error(conn, 503, "the server is busy: all %d slots are taken and %d requests "
                                                         "wait (try again later)", sched_n_slots(sv->sch),
                                             sv->p.max_queue)
                          : http_reply_error(conn, 503, "the server is shutting down");
    return false;
}

static ssize_t stream_read(void *cls, uint64_t at, char *out, size_t max) {
    stream *st = cls;
    while (st->off == st->len) {
        if (st->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        st->off = st->len = 0;
        sched_lock(st->sv->sch);
        if (!st->t->finish && st->t->safe <= st->pos.sent) sched_wait(st->sv->sch, st->t, st->pos.sent, POLL_MS);
        bool done = st->t->finish != FINISH_NONE;
        int rc = oai_stream_events(st->sv, st->t, &st->o, &st->pos, &st->buf, &st->len, &st->cap);
        sched_unlock(st->sv->sch);
        if (rc) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (done) st->ended = true;
        if (st->len == 0 && !done && http_client_gone(st->conn)) {
            sched_cancel(st->sv->sch, st->t);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(out, st->buf + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

/* The end of a stream, however it ended: an unfinished task is cancelled. */
static void stream_free(void *cls) {
    stream *st = cls;
    sched_lock(st->sv->sch);
    bool running = !st->t->finish;
    sched_unlock(st->sv->sch);
    if (running) sched_cancel(st->sv->sch, st->t);
    sched_release(st->sv->sch, st->t);
    free(st->buf);
    free(st);
}

static enum MHD_Result reply_stream(srv *sv, struct MHD_Connection *conn, task *t, const req_opts *o) {
    stream *st = calloc(1, sizeof *st);
    if (!st) {
        sched_cancel(sv->sch, t);
        sched_release(sv->sch, t);
        return http_reply_error(conn, 500, "out of memory");
    }
    *st = (stream){.sv = sv, .t = t, .o = *o, .conn = conn};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* Waits for t to end; false when the client hung up first (t is then cancelled). */
static bool wait_done(srv *sv, struct MHD_Connection *conn, task *t) {
    for (;;) {
        sched_lock(sv->sch);
        if (!t->finish) sched_wait(sv->sch, t, (size_t)-1, POLL_MS);
        bool done = t->finish != FINISH_NONE;
        sched_unlock(sv->sch);
        if (done) return true;
        if (http_client_gone(conn)) {
            sched_cancel(sv->sch, t);
            return false;
        }
    }
}

static enum MHD_Result reply_final(srv *sv, struct MHD_Connection *conn, task *t, const req_opts *o) {
    if (!wait_done(sv, conn, t)) {
        sched_release(sv->sch, t);
        return MHD_NO; /* nobody to answer */
    }
    enum MHD_Result rc;
    if (t->finish == FINISH_ERROR) rc = http_reply_error(conn, 500, "generation failed: %s", t->err);
    else if (t->finish == FINISH_CANCEL) rc = http_reply_error(conn, 503, "cancelled: the server is shutting down");
    else rc = http_reply_json(conn, 200, oai_final(sv, t, o));
    sched_release(sv->sch, t);
    return rc;
}

enum MHD_Result complete_handle(srv *sv, struct MHD_Connection *conn, api_kind kind, json_t *body) {
    task *t = task_new();
    if (!t) return http_reply_error(conn, 500, "out of memory");
    req_opts o = {.kind = kind};
    char msg[512];
    int status = oai_parse(sv, body, kind, t, &o, msg, sizeof msg);
    if (status) {
        task_unref(t);
        return http_reply_error(conn, status, "%s", msg);
    }
    snprintf(o.id, sizeof o.id, "%s-%lu", kind == API_CHAT ? "chatcmpl" : "cmpl", (unsigned long)++sv->next_id);
    o.created = (long long)time(NULL);
    enum MHD_Result rc;
    if (!submit(sv, conn, t, &rc)) {
        task_unref(t);
        return rc;
    }
    return o.stream ? reply_stream(sv, conn, t, &o) : reply_final(sv, conn, t, &o);
}
