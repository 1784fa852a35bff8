/* slots.c: POST /slots/{id}?action=save|restore|erase with {"filename": NAME}. A saved slot
 * is the token sequence its cache holds (a small header, then int32 ids) under
 * --slot-save-path; restore decodes those tokens back into the slot through the worker (the
 * cache is rebuilt, not copied: the engine keeps its cache layout to itself). Names are plain
 * file names: no path separators, no leading dot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static const char MAGIC[8] = "LATSLOT1";

static bool name_ok(const char *n) {
    return n && *n && n[0] != '.' && !strchr(n, '/') && !strchr(n, '\\') && strlen(n) < 200;
}

static enum MHD_Result save(srv *sv, struct MHD_Connection *conn, int id, const char *path, const char *name) {
    int32_t *toks = NULL;
    int n = 0, rc = sched_slot_tokens(sv->sch, id, &toks, &n);
    if (rc) return rc > 0 ? http_reply_error(conn, 409, "slot %d is busy", id) : http_reply_error(conn, 500, "out of memory");
    FILE *f = fopen(path, "wb");
    uint32_t hdr[2] = {(uint32_t)n, (uint32_t)latte_model_n_vocab(sv->m)};
    bool ok = f && fwrite(MAGIC, 1, 8, f) == 8 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
              fwrite(toks, sizeof *toks, (size_t)n, f) == (size_t)n;
    int e = errno;
    if (f && fclose(f)) ok = false;
    free(toks);
    if (!ok) return http_reply_error(conn, 500, "cannot write %s: %s", path, strerror(e));
    return http_reply_json(conn, 200, json_pack("{s:i,s:s,s:i,s:I}", "id_slot", id, "filename", name, "n_saved", n,
                                                "n_written", (json_int_t)(16 + 4 * (size_t)n)));
}

static enum MHD_Result restore(srv *sv, struct MHD_Connection *conn, int id, const char *path, const char *name) {
    FILE *f = fopen(path, "rb");
    if (!f) return http_reply_error(conn, 404, "cannot open %s: %s", name, strerror(errno));
    char magic[8];
    uint32_t hdr[2];
    int32_t *toks = NULL;
    int n_ctx = sched_n_ctx_slot(sv->sch), V = latte_model_n_vocab(sv->m);
    bool ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, MAGIC, 8) && fread(hdr, sizeof hdr, 1, f) == 1 &&
              hdr[1] == (uint32_t)V && hdr[0] >= 1 && hdr[0] < (uint32_t)n_ctx;
    if (ok) ok = (toks = malloc(sizeof *toks * hdr[0])) && fread(toks, sizeof *toks, hdr[0], f) == hdr[0];
    for (uint32_t i = 0; ok && i < hdr[0]; i++) ok = toks[i] >= 0 && toks[i] < V;
    fclose(f);
    if (!ok) {
        free(toks);
        return http_reply_error(conn, 400, "%s is not a slot file of this model holding 1..%d tokens", name, n_ctx - 1);
    }
    char msg[300];
    int status = complete_eval_in_slot(sv, id, toks, (int)hdr[0], msg, sizeof msg); /* takes toks */
    if (status) return http_reply_error(conn, status, "%s", msg);
    return http_reply_json(conn, 200, json_pack("{s:i,s:s,s:i}", "id_slot", id, "filename", name, "n_restored",
                                                (int)hdr[0]));
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
