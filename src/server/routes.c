/* routes.c: which handler answers which method and path, and the small endpoints: health,
 * models, props, slots (and their save/restore), tokenize, detokenize, metrics, the page.
 * Tokenizing reads only the model's vocabulary (thread-safe); the context stays the
 * worker's. */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static enum MHD_Result get_health(srv *sv, struct MHD_Connection *conn, json_t *body) {
    return http_reply_json(conn, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result get_models(srv *sv, struct MHD_Connection *conn, json_t *body) {
    json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "id", sv->model_id, "object", "model", "created",
                          (json_int_t)sv->started, "owned_by", "latte");
    return http_reply_json(conn, 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

static enum MHD_Result get_props(srv *sv, struct MHD_Connection *conn, json_t *body) {
    const latte_sampler_params *sp = &sv->p.sp;
    json_t *gen = json_pack("{s:i,s:i,s:f,s:i,s:f,s:f}", "n_ctx", sched_n_ctx_slot(sv->sch), "n_predict",
                            sv->p.n_predict, "temperature", sp->temp, "top_k", sp->top_k, "top_p", sp->top_p, "min_p",
                            sp->min_p);
    latte_chat_msg probe = {"user", "{{MESSAGE}}"};
    char *tmpl = NULL;
    latte_err err = {0};
    latte_chat_format(sv->m, sv->p.chat_template, &probe, 1, true, &tmpl, &err);
    json_t *j = json_pack("{s:o,s:i,s:s,s:s,s:s}", "default_generation_settings", gen, "total_slots",
                          sched_n_slots(sv->sch), "model_path", sv->p.model_path, "model_alias", sv->model_id,
                          "chat_template_example", tmpl ? tmpl : "");
    free(tmpl);
    return http_reply_json(conn, 200, j);
}

static enum MHD_Result get_slots(srv *sv, struct MHD_Connection *conn, json_t *body) {
    int n = sched_n_slots(sv->sch);
    sched_slot_info *info = calloc((size_t)n, sizeof *info);
    if (!info) return http_reply_error(conn, 500, "out of memory");
    n = sched_slots(sv->sch, info, n);
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:i,s:i,s:b,s:i,s:i,s:i,s:i,s:i}", "id", info[i].id, "n_ctx",
                                           info[i].n_ctx, "is_processing", info[i].busy, "n_past", info[i].n_past,
                                           "n_prompt_tokens", info[i].n_prompt, "n_prompt_tokens_processed",
                                           info[i].n_prompt_eval, "n_cached", info[i].n_cached, "n_decoded",
                                           info[i].n_decoded));
    free(info);
    return http_reply_json(conn, 200, a);
}

static enum MHD_Result get_metrics(srv *sv, struct MHD_Connection *conn, json_t *body) {
    char *text = metrics_text(sv);
    if (!text) return http_reply_error(conn, 500, "out of memory");
    enum MHD_Result rc = http_reply(conn, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
    return rc;
}

static enum MHD_Result get_page(srv *sv, struct MHD_Connection *conn, json_t *body) {
    return http_reply(conn, 200, "text/html; charset=utf-8", WEB_PAGE, strlen(WEB_PAGE));
}

static enum MHD_Result post_tokenize(srv *sv, struct MHD_Connection *conn, json_t *body) {
    json_t *content = json_object_get(body, "content"), *as = json_object_get(body, "add_special");
    json_t *wp = json_object_get(body, "with_pieces");
    if (!json_is_string(content)) return http_reply_error(conn, 400, "\"content\" must be a string");
    if ((as && !json_is_boolean(as)) || (wp && !json_is_boolean(wp)))
        return http_reply_error(conn, 400, "\"add_special\" and \"with_pieces\" must be booleans");
    int32_t *ids = NULL;
    size_t n = 0;
    latte_err err = {0};
    if (latte_tokenize(sv->m, json_string_value(content), json_string_length(content), json_is_true(as), true, &ids,
                       &n, &err))
        return http_reply_error(conn, 400, "%s", err.msg);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!json_is_true(wp)) { json_array_append_new(a, json_integer(ids[i])); continue; }
        char piece[256];
        int nb = latte_token_to_bytes(sv->m, ids[i], piece, sizeof piece);
        json_array_append_new(a, json_pack("{s:i,s:o}", "id", ids[i], "piece",
                                           json_text(piece, (size_t)(nb < 0 ? 0 : nb > (int)sizeof piece ? (int)sizeof piece : nb))));
    }
    free(ids);
    return http_reply_json(conn, 200, json_pack("{s:o}", "tokens", a));
}

static enum MHD_Result post_detokenize(srv *sv, struct MHD_Connection *conn, json_t *body) {
    json_t *toks = json_object_get(body, "tokens"), *v;
    size_t i;
    if (!json_is_array(toks)) return http_reply_error(conn, 400, "\"tokens\" must be an array of token ids");
    int V = latte_model_n_vocab(sv->m);
    char *out = malloc(json_array_size(toks) * 256 + 1);
    size_t len = 0;
    if (!out) return http_reply_error(conn, 500, "out of memory");
    json_array_foreach(toks, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V) {
            free(out);
            return http_reply_error(conn, 400, "tokens[%zu] is not a token id in [0, %d)", i, V);
        }
        int nb = latte_token_to_bytes(sv->m, (int32_t)json_integer_value(v), out + len, 256);
        if (nb > 0) len += (size_t)(nb > 256 ? 256 : nb);
    }
    json_t *j = json_pack("{s:o}", "content", json_text(out, len));
    free(out);
    return http_reply_json(conn, 200, j);
}

static enum MHD_Result post_chat(srv *sv, struct MHD_Connection *conn, json_t *body) {
    return complete_handle(sv, conn, API_CHAT, body);
}
static enum MHD_Result post_completions(srv *sv, struct MHD_Connection *conn, json_t *body) {
    return complete_handle(sv, conn, API_COMPLETIONS, body);
}
static enum MHD_Result post_native(srv *sv, struct MHD_Connection *conn, json_t *body) {
    return complete_handle(sv, conn, API_NATIVE, body);
}

typedef struct route {
    const char *method, *path;
    bool json_body; /* the body must be a JSON object */
    enum MHD_Result (*fn)(srv *sv, struct MHD_Connection *conn, json_t *body);
} route;

static const route ROUTES[] = {
    {"GET", "/health", false, get_health},
    {"GET", "/v1/health", false, get_health},
    {"GET", "/v1/models", false, get_models},
    {"GET", "/models", false, get_models},
    {"GET", "/props", false, get_props},
    {"GET", "/slots", false, get_slots},
    {"GET", "/metrics", false, get_metrics},
    {"GET", "/", false, get_page},
    {"GET", "/index.html", false, get_page},
    {"POST", "/tokenize", true, post_tokenize},
    {"POST", "/detokenize", true, post_detokenize},
    {"POST", "/v1/chat/completions", true, post_chat},
    {"POST", "/chat/completions", true, post_chat},
    {"POST", "/v1/completions", true, post_completions},
    {"POST", "/completions", true, post_completions},
    {"POST", "/completion", true, post_native},
};

enum MHD_Result routes_dispatch(srv *sv, struct MHD_Connection *conn, const char *method, const char *url,
                                const char *body, size_t len) {
    const route *hit = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (strcmp(ROUTES[i].path, url)) continue;
        path_known = true;
        if (!strcmp(ROUTES[i].method, method)) hit = &ROUTES[i];
    }
    bool slot_post = !strncmp(url, "/slots/", 7) && !strcmp(method, "POST");
    if (!hit && !slot_post)
        return path_known ? http_reply_error(conn, 405, "%s does not take %s", url, method)
                          : http_reply_error(conn, 404, "no such endpoint: %s %s", method, url);
    json_t *j = NULL;
    if (slot_post || hit->json_body) {
        json_error_t je;
        j = len ? json_loadb(body, len, 0, &je) : NULL;
        if (!len && !slot_post) return http_reply_error(conn, 400, "the request has no body (a JSON object)");
        if (len && !j) return http_reply_error(conn, 400, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                                               je.column);
        if (j && !json_is_object(j)) {
            json_decref(j);
            return http_reply_error(conn, 400, "the body must be a JSON object");
        }
    }
    enum MHD_Result rc = slot_post ? slots_action(sv, conn, url + 7, j) : hit->fn(sv, conn, j);
    json_decref(j);
    return rc;
}
