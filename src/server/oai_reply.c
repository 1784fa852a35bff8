/* oai_reply.c: a task's output in the shape each API expects: OpenAI chat.completion (with
 * R1-style reasoning split into reasoning_content) and text_completion, their streamed
 * chunks ending with `data: [DONE]`, and llama.cpp's /completion. Usage counts the whole
 * prompt; prompt_tokens_details.cached_tokens (and timings.cache_n) what came from a slot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static const char *finish_name(const task *t) { return t->finish == FINISH_LENGTH ? "length" : "stop"; }

/* Where reasoning and answer lie in text[0..len). */
static void split(const char *text, size_t len, bool think_open, size_t *tb, size_t *te, size_t *ab) {
    latte_chat_split_reasoning(text, len, tb, te, ab);
    if (think_open && *te == 0 && *ab == 0) *tb = 0, *te = len, *ab = len; /* no closing tag yet */
}

/* Length of the valid UTF-8 character at s[0..n), or 0 when it is not one. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!k || k > n || (k == 2 && c < 0xC2) || (k == 4 && c > 0xF4)) return 0;
    uint32_t cp = k == 1 ? c : c & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[j] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

/* Text as a JSON string; bytes that are not UTF-8 (a model may write them) become U+FFFD,
 * so a reply is always valid JSON. */
json_t *json_text(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *t = malloc(n * 3 + 1);
    size_t w = 0;
    if (!t) return json_string("");
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char((const unsigned char *)s + i, n - i);
        if (k) memcpy(t + w, s + i, k), w += k, i += k;
        else memcpy(t + w, "\xEF\xBF\xBD", 3), w += 3, i++;
    }
    j = json_stringn(t, w);
    free(t);
    return j ? j : json_string("");
}

static json_t *token_json(const srv *sv, int32_t id, float lp) {
    char piece[256];
    int nb = latte_token_to_bytes(sv->m, id, piece, sizeof piece);
    if (nb < 0) nb = 0;
    if (nb > (int)sizeof piece) nb = (int)sizeof piece;
    json_t *bytes = json_array();
    for (int i = 0; i < nb; i++) json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    return json_pack("{s:o,s:i,s:f,s:o}", "token", json_text(piece, (size_t)nb), "id", id, "logprob", (double)lp, "bytes",
                     bytes);
}

/* Chat (and native) log-probs of tokens [a, b): [{token, logprob, bytes, top_logprobs}]. */
static json_t *logprobs_content(const srv *sv, const task *t, int a, int b) {
    json_t *arr = json_array();
    int k = t->p.n_probs;
    for (int i = a; i < b; i++) {
        json_t *e = token_json(sv, t->toks[i], t->lp[i]);
        json_t *top = json_array();
        for (int j = 0; j < k; j++)
            if (t->top_id[(size_t)i * k + j] >= 0)
                json_array_append_new(top, token_json(sv, t->top_id[(size_t)i * k + j], t->top_lp[(size_t)i * k + j]));
        json_object_set_new(e, "top_logprobs", top);
        json_array_append_new(arr, e);
    }
    return arr;
}

/* Legacy completions log-probs: tokens, token_logprobs, top_logprobs, text_offset. */
static json_t *logprobs_legacy(const srv *sv, const task *t, int a, int b) {
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    int k = t->p.n_probs;
    for (int i = a; i < b; i++) {
        char piece[256];
        int nb = latte_token_to_bytes(sv->m, t->toks[i], piece, sizeof piece);
        json_array_append_new(toks, json_text(piece, nb < 0 ? 0 : nb > 256 ? 256 : (size_t)nb));
        json_array_append_new(lps, json_real(t->lp[i]));
        json_array_append_new(offs, json_integer(i ? (json_int_t)t->tok_end[i - 1] : 0));
        json_t *top = json_object();
        for (int j = 0; j < k; j++) {
            int32_t id = t->top_id[(size_t)i * k + j];
            if (id < 0) continue;
            nb = latte_token_to_bytes(sv->m, id, piece, sizeof piece);
            char key[257];
            size_t kl = nb < 0 ? 0 : nb > 256 ? 256 : (size_t)nb;
            memcpy(key, piece, kl);
            key[kl] = 0;
            json_object_set_new(top, key, json_real(t->top_lp[(size_t)i * k + j]));
        }
        json_array_append_new(tops, top);
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset",
                     offs);
}

/* Tokens whose bytes end at or before len (those a reply of len bytes shows). */
static int toks_within(const task *t, size_t len) {
    int n = 0;
    while (n < t->n_toks && t->tok_end[n] <= len) n++;
    return n;
}

static json_t *usage(const task *t) {
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", t->p.n_prompt, "completion_tokens", t->n_toks,
                     "total_tokens", t->p.n_prompt + t->n_toks, "prompt_tokens_details", "cached_tokens", t->n_cached);
}

static json_t *timings(const task *t) {
    double tp = t->t_prompt_done > t->t_start ? t->t_prompt_done - t->t_start : 0;
    double tg = t->t_end > t->t_prompt_done && t->t_prompt_done > 0 ? t->t_end - t->t_prompt_done : 0;
    return json_pack("{s:i,s:i,s:f,s:i,s:f,s:f,s:f}", "cache_n", t->n_cached, "prompt_n", t->n_prompt_eval,
                     "prompt_ms", tp * 1e3, "predicted_n", t->n_toks, "predicted_ms", tg * 1e3, "prompt_per_second",
                     tp > 0 ? t->n_prompt_eval / tp : 0.0, "predicted_per_second", tg > 0 ? t->n_toks / tg : 0.0);
}

/* OpenAI tool_calls: [{(index), id, type, function: {name, arguments}}]. */
static json_t *calls_json(const req_opts *o, const tool_call *calls, int n, bool with_index) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char id[96];
        snprintf(id, sizeof id, "call_%s_%d", o->id, i);
        json_t *c = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function", "name", calls[i].name,
                              "arguments", calls[i].args);
        if (c && with_index) json_object_set_new(c, "index", json_integer(i));
        if (c) json_array_append_new(a, c);
    }
    return a;
}

json_t *oai_final(const srv *sv, const task *t, const req_opts *o) {
    int nt = toks_within(t, t->len);
    if (o->kind == API_NATIVE) {
        json_t *j = json_pack("{s:o,s:i,s:i,s:i,s:b,s:s,s:b,s:i,s:o,s:s}", "content", json_text(t->text, t->len),
                              "tokens_predicted", t->n_toks, "tokens_evaluated", t->p.n_prompt, "tokens_cached",
                              t->n_cached, "stop", 1, "stop_type",
                              t->finish == FINISH_LENGTH ? "limit" : t->truncated_by_stop ? "word" : "eos", "truncated",
                              0, "id_slot", t->slot, "timings", timings(t), "model", sv->model_id);
        if (o->logprobs) json_object_set_new(j, "completion_probabilities", logprobs_content(sv, t, 0, nt));
        return j;
    }
    json_t *choice;
    if (o->kind == API_CHAT) {
        json_t *msg = json_pack("{s:s}", "role", "assistant");
        size_t tb, te, ab;
        split(t->text, t->len, o->think_open, &tb, &te, &ab);
        if (te > tb || ab > 0) json_object_set_new(msg, "reasoning_content", json_text(t->text + tb, te - tb));
        else ab = 0;
        tool_call *calls = NULL;
        size_t content_len = t->len - ab;
        int nc = o->tools ? tool_calls_parse(t->text + ab, t->len - ab, o->tools_forced, &calls, &content_len) : 0;
        json_object_set_new(msg, "content", nc && !content_len ? json_null() : json_text(t->text + ab, content_len));
        if (nc) json_object_set_new(msg, "tool_calls", calls_json(o, calls, nc, false));
        tool_calls_free(calls, nc);
        choice = json_pack("{s:i,s:o,s:s}", "index", 0, "message", msg, "finish_reason",
                           nc ? "tool_calls" : finish_name(t));
        json_object_set_new(choice, "logprobs",
                            o->logprobs ? json_pack("{s:o}", "content", logprobs_content(sv, t, 0, nt)) : json_null());
    } else {
        choice = json_pack("{s:i,s:o,s:s}", "index", 0, "text", json_text(t->text, t->len), "finish_reason", finish_name(t));
        json_object_set_new(choice, "logprobs", o->logprobs ? logprobs_legacy(sv, t, 0, nt) : json_null());
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o,s:o}", "id", o->id, "object",
                     o->kind == API_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)o->created,
                     "model", sv->model_id, "choices", choice, "usage", usage(t), "timings", timings(t));
}

int sse_append(char **buf, size_t *len, size_t *cap, const char *data) {
    size_t n = strlen(data), need = *len + n + 9;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 1024;
        while (nc < need) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb, *cap = nc;
    }
    *len += (size_t)snprintf(*buf + *len, *cap - *len, "data: %s\n\n", data);
    return 0;
}

static int emit(char **buf, size_t *len, size_t *cap, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = s ? sse_append(buf, len, cap, s) : -1;
    free(s);
    return rc;
}

/* One OpenAI chunk around a delta (chat) or text (completions). */
static json_t *chunk(const srv *sv, const req_opts *o, json_t *delta_or_text, const char *finish, json_t *logprobs) {
    json_t *choice = o->kind == API_CHAT ? json_pack("{s:i,s:o}", "index", 0, "delta", delta_or_text)
                                         : json_pack("{s:i,s:o}", "index", 0, "text", delta_or_text);
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(choice, "logprobs", logprobs ? logprobs : json_null());
    return json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", o->id, "object",
                     o->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)o->created, "model", sv->model_id, "choices", choice);
}

static json_t *chunk_logprobs(const srv *sv, const task *t, const req_opts *o, int a, int b) {
    if (!o->logprobs || a >= b) return NULL;
    return o->kind == API_CHAT ? json_pack("{s:o}", "content", logprobs_content(sv, t, a, b))
                               : logprobs_legacy(sv, t, a, b);
}

/* The chat delta for text [sp->sent, to): reasoning and content apart; content only up to
 * what is surely not a tool call (all of it, less the calls, once t finished). The calls
 * found at the end go to *calls. */
static json_t *chat_delta(const srv *sv, const task *t, const req_opts *o, stream_pos *sp, size_t to, tool_call **calls, int *nc) {
    json_t *d = json_object();
    if (!sp->role_sent) json_object_set_new(d, "role", json_string("assistant")), sp->role_sent = true;
    size_t tb = 0, te = 0, ab = 0;
    if (o->split_reasoning) split(t->text, to, o->think_open, &tb, &te, &ab);
    if (te > tb || ab > 0) {
        size_t r0 = sp->r_sent > tb ? sp->r_sent : tb;
        if (te > r0) json_object_set_new(d, "reasoning_content", json_text(t->text + r0, te - r0));
        sp->r_sent = te > r0 ? te : sp->r_sent;
    } else {
        ab = 0;
    }
    size_t c_end = to;
    if (o->tools && t->finish) {
        size_t content_len = to - ab;
        *nc = tool_calls_parse(t->text + ab, to - ab, o->tools_forced, calls, &content_len);
        if (*nc) c_end = ab + content_len;
    } else if (o->tools) {
        c_end = ab + tool_calls_content_limit(t->text + ab, to - ab, o->tools_forced, sv->tool_fmt);
    }
    size_t c0 = sp->c_sent > ab ? sp->c_sent : ab;
    if (c_end > c0) json_object_set_new(d, "content", json_text(t->text + c0, c_end - c0));
    if (c_end > c0) sp->c_sent = c_end;
    return d;
}

int oai_stream_events(const srv *sv, const task *t, const req_opts *o, stream_pos *sp, char **buf, size_t *len,
                      size_t *cap) {
    size_t to = t->finish ? t->len : t->safe;
    bool fresh = to > sp->sent || (o->kind == API_CHAT && !sp->role_sent && !t->finish);
    int nt = toks_within(t, to);
    if (t->finish == FINISH_ERROR || t->finish == FINISH_CANCEL) {
        json_t *e = json_pack("{s:{s:s,s:s,s:i}}", "error", "message", t->err[0] ? t->err : "cancelled", "type",
                              "server_error", "code", 500);
        return emit(buf, len, cap, e);
    }
    if (o->kind == API_NATIVE) {
        if (fresh) {
            json_t *j = json_pack("{s:o,s:b}", "content", json_text(t->text + sp->sent, to - sp->sent), "stop", 0);
            if (o->logprobs) json_object_set_new(j, "completion_probabilities", logprobs_content(sv, t, sp->toks_sent, nt));
            if (emit(buf, len, cap, j)) return -1;
        }
        sp->sent = to, sp->toks_sent = nt;
        return t->finish ? emit(buf, len, cap, oai_final(sv, t, o)) : 0;
    }
    tool_call *calls = NULL;
    int nc = 0;
    if (fresh || (o->tools && t->finish)) {
        json_t *body = o->kind == API_CHAT ? chat_delta(sv, t, o, sp, to, &calls, &nc)
                                           : json_text(t->text + sp->sent, to - sp->sent);
        if (json_object_size(body) || !json_is_object(body) || !o->tools) {
            if (emit(buf, len, cap, chunk(sv, o, body, NULL, chunk_logprobs(sv, t, o, sp->toks_sent, nt)))) {
                tool_calls_free(calls, nc);
                return -1;
            }
        } else {
            json_decref(body);
        }
        sp->sent = to, sp->toks_sent = nt;
    }
    if (!t->finish) return 0;
    if (nc) {
        json_t *d = json_pack("{s:o}", "tool_calls", calls_json(o, calls, nc, true));
        tool_calls_free(calls, nc);
        if (emit(buf, len, cap, chunk(sv, o, d, NULL, NULL))) return -1;
    }
    json_t *last = chunk(sv, o, o->kind == API_CHAT ? json_object() : json_string(""),
                         nc ? "tool_calls" : finish_name(t), NULL);
    if (emit(buf, len, cap, last)) return -1;
    if (o->include_usage) {
        json_t *u = json_pack("{s:s,s:s,s:I,s:s,s:[],s:o,s:o}", "id", o->id, "object",
                              o->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                              (json_int_t)o->created, "model", sv->model_id, "choices", "usage", usage(t), "timings",
                              timings(t));
        if (emit(buf, len, cap, u)) return -1;
    }
    return sse_append(buf, len, cap, "[DONE]");
}
