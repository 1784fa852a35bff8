/* slots.c: POST /slots/{id}?action=save|restore with {"filename": NAME}. A saved slot is
 * its sequence state as the engine writes it (latte_seq_state_save: a header naming the
 * model, MLA mode and cache types, the token ids, the KV cache rows, a checksum) in a file
 * under --slot-save-path. Restore loads it back into the slot without decoding anything, and
 * the slot's token list with it, so the next request reuses it as a prompt prefix. Both run
 * on the worker, between steps (it alone touches the engine); a busy slot is waited for. A
 * file from another model or setup, or a truncated or damaged one, is a 400 and the slot
 * stays as it was. Names are plain file names: no path separators, no leading dot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define POLL_MS 100

static bool name_ok(const char *n) {
    return n && *n && n[0] != '.' && !strchr(n, '/') && !strchr(n, '\\') && strlen(n) < 200;
}

/* Runs a save or restore of slot id on the worker (takes state); returns the finished task
 * (release it with sched_release) or NULL with an HTTP status and msg. */
static task *run_state_task(srv *sv, int id, int op, void *state, size_t n, int *status, char *msg, size_t cap) {
    task *t = task_new();
    if (!t) {
        free(state);
        *status = 500, snprintf(msg, cap, "out of memory");
        return NULL;
    }
    t->p.state_op = op, t->p.state = state, t->p.state_n = n;
    t->p.id_slot = id;
    t->p.sp = latte_sampler_default_params();
    int s = sched_submit(sv->sch, t);
    if (s != SCHED_OK) {
        task_unref(t);
        *status = 503, snprintf(msg, cap, "%s", s == SCHED_FULL ? "the server is busy" : "the server is shutting down");
        return NULL;
    }
    sched_lock(sv->sch);
    while (!t->finish) sched_wait(sv->sch, t, (size_t)-1, POLL_MS);
    sched_unlock(sv->sch);
    return t;
}

static enum MHD_Result save(srv *sv, struct MHD_Connection *conn, int id, const char *path, const char *name) {
    int status;
    char msg[600];
    task *t = run_state_task(sv, id, TASK_STATE_SAVE, NULL, 0, &status, msg, sizeof msg);
    if (!t) return http_reply_error(conn, status, "%s", msg);
    if (t->finish != FINISH_LENGTH) {
        snprintf(msg, sizeof msg, "saving slot %d failed: %s", id, t->err[0] ? t->err : "cancelled");
        sched_release(sv->sch, t);
        return http_reply_error(conn, 500, "%s", msg);
    }
    /* written beside the target, then renamed over it: a failed save leaves the old file whole */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(t->p.state, 1, t->p.state_n, f) == t->p.state_n;
    int e = errno;
    if (f && fclose(f)) ok = false, e = errno;
    if (ok && rename(tmp, path)) ok = false, e = errno;
    if (!ok && f) remove(tmp);
    size_t n_written = t->p.state_n;
    int n_saved = t->n_state_pos;
    sched_release(sv->sch, t);
    if (!ok) return http_reply_error(conn, 500, "cannot write %s: %s", name, strerror(e));
    return http_reply_json(conn, 200, json_pack("{s:i,s:s,s:i,s:I}", "id_slot", id, "filename", name, "n_saved",
                                                n_saved, "n_written", (json_int_t)n_written));
}

/* Reads the file whole, refusing one larger than a slot's state can be. */
static int read_file(srv *sv, const char *path, const char *name, void **buf, size_t *n, char *msg, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(msg, cap, "cannot open %s: %s", name, strerror(errno)), 404;
    uint64_t limit = latte_ctx_kv_bytes(sv->c) / (uint64_t)latte_ctx_n_seq(sv->c) +
                     sizeof(int32_t) * (uint64_t)latte_ctx_n_ctx(sv->c) + 4096;
    long size = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    int status = 0;
    if (size < 0 || fseek(f, 0, SEEK_SET)) status = 500, snprintf(msg, cap, "cannot read %s: %s", name, strerror(errno));
    else if ((uint64_t)size > limit)
        status = 400, snprintf(msg, cap, "%s is %ld bytes, more than a slot's state here can be (%llu)", name, size,
                               (unsigned long long)limit);
    else if (!(*buf = malloc(size ? (size_t)size : 1))) status = 500, snprintf(msg, cap, "out of memory");
    else if (fread(*buf, 1, (size_t)size, f) != (size_t)size) status = 500, snprintf(msg, cap, "cannot read %s", name);
    fclose(f);
    if (status) free(*buf), *buf = NULL;
    *n = (size_t)(size > 0 ? size : 0);
    return status;
}

static enum MHD_Result restore(srv *sv, struct MHD_Connection *conn, int id, const char *path, const char *name) {
    void *buf = NULL;
    size_t n = 0;
    char msg[600];
    int status = read_file(sv, path, name, &buf, &n, msg, sizeof msg);
    if (status) return http_reply_error(conn, status, "%s", msg);
    task *t = run_state_task(sv, id, TASK_STATE_LOAD, buf, n, &status, msg, sizeof msg);
    if (!t) return http_reply_error(conn, status, "%s", msg);
    int code = t->err_code, n_pos = t->n_state_pos;
    bool done = t->finish == FINISH_LENGTH;
    if (!done) snprintf(msg, sizeof msg, "cannot restore %s: %s", name, t->err[0] ? t->err : "cancelled");
    sched_release(sv->sch, t);
    if (!done) /* a file that does not fit is the client's error; the rest is ours */
        return http_reply_error(conn, code == LATTE_E_FORMAT || code == LATTE_E_ARG || code == LATTE_E_CTX ? 400 : 500,
                                "%s", msg);
    return http_reply_json(conn, 200, json_pack("{s:i,s:s,s:i,s:I}", "id_slot", id, "filename", name, "n_restored",
                                                n_pos, "n_read", (json_int_t)n));
}

enum MHD_Result slots_action(srv *sv, struct MHD_Connection *conn, const char *idtext, json_t *body) {
    char *end;
    long id = strtol(idtext, &end, 10);
    if (end == idtext || *end || id < 0 || id >= sched_n_slots(sv->sch))
        return http_reply_error(conn, 404, "no slot '%s' (slots are 0..%d)", idtext, sched_n_slots(sv->sch) - 1);
    const char *action = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "action");
    if (!action || (strcmp(action, "save") && strcmp(action, "restore")))
        return http_reply_error(conn, 400, "?action= must be save or restore");
    if (!sv->p.slot_save_path) return http_reply_error(conn, 501, "slot save/restore needs --slot-save-path");
    const char *name = json_string_value(json_object_get(body, "filename"));
    if (!name_ok(name)) return http_reply_error(conn, 400, "\"filename\" must be a plain file name");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sv->p.slot_save_path, name);
    return !strcmp(action, "save") ? save(sv, conn, (int)id, path, name) : restore(sv, conn, (int)id, path, name);
}
