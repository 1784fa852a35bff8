/* oai_parse.c: a request body (OpenAI chat/completions, or llama.cpp's /completion) into a
 * task: the prompt as tokens (chat messages through the model's template), sampling and
 * limits. Every field is checked for its type and range; the first bad one is a 400 that
 * names it. Unknown fields are ignored, as OpenAI clients send many. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv.h"

int perr(perr_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, e->cap, fmt, ap);
    va_end(ap);
    return 400;
}

/* Optional number in [lo, hi]: absent leaves *out. */
static int get_num(json_t *b, const char *key, double lo, double hi, float *out, perr_t *e) {
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return perr(e, "\"%s\" must be a number", key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        snprintf(e->msg, e->cap, "\"%s\" must be in [%g, %g] (got %g)", key, lo, hi, x);
        return 400;
    }
    *out = (float)x;
    return 0;
}

static int get_int(json_t *b, const char *key, long long lo, long long hi, long long *out, perr_t *e) {
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return perr(e, "\"%s\" must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        snprintf(e->msg, e->cap, "\"%s\" must be in [%lld, %lld] (got %lld)", key, lo, hi, x);
        return 400;
    }
    *out = x;
    return 0;
}

static int get_bool(json_t *b, const char *key, bool *out, perr_t *e) {
    json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return perr(e, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* "stop": a string or an array of at most 16 strings. */
static int get_stops(json_t *b, task *t, perr_t *e) {
    json_t *v = json_object_get(b, "stop"), *s;
    if (!v || json_is_null(v)) return 0;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0, i;
    if (!json_is_string(v) && !json_is_array(v)) return perr(e, "\"%s\" must be a string or an array of strings", "stop");
    if (n > 16) return perr(e, "\"%s\" holds at most 16 strings", "stop");
    if (!(t->p.stops = calloc(n ? n : 1, sizeof *t->p.stops))) return perr(e, "out of memory");
    for (i = 0; i < n; i++) {
        s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s)) return perr(e, "\"%s\" must be a string or an array of strings", "stop");
        if (!json_string_length(s)) continue;
        if (!(t->p.stops[t->p.n_stops] = strdup(json_string_value(s)))) return perr(e, "out of memory");
        t->p.n_stops++;
    }
    return 0;
}

/* Sampling, limits and options every endpoint shares. */
static int parse_common(const srv *sv, json_t *b, api_kind kind, task *t, req_opts *o, perr_t *e) {
    latte_sampler_params *sp = &t->p.sp;
    *sp = sv->p.sp;
    long long seed = -1, n_predict = sv->p.n_predict, top_k = sp->top_k, id_slot = -1, top_lp = 0, last_n = sp->penalty_last_n;
    int n_ctx = sched_n_ctx_slot(sv->sch), rc;
    bool lp = false;
    const char *max_key = kind == API_NATIVE ? "n_predict" : json_object_get(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if ((rc = get_num(b, "temperature", 0, 100, &sp->temp, e)) || (rc = get_num(b, "top_p", 0, 1, &sp->top_p, e)) ||
        (rc = get_num(b, "min_p", 0, 1, &sp->min_p, e)) ||
        (rc = get_num(b, "presence_penalty", -2, 2, &sp->presence_penalty, e)) ||
        (rc = get_num(b, "frequency_penalty", -2, 2, &sp->frequency_penalty, e)) ||
        (rc = get_num(b, "repeat_penalty", 0, 100, &sp->repeat_penalty, e)) ||
        (rc = get_int(b, "repeat_last_n", -1, 1 << 30, &last_n, e)) ||
        (rc = get_int(b, "top_k", 0, 1 << 30, &top_k, e)) || (rc = get_int(b, "seed", -(1LL << 62), 1LL << 62, &seed, e)) ||
        (rc = get_int(b, max_key, kind == API_NATIVE ? -1 : 1, n_ctx, &n_predict, e)) ||
        (rc = get_int(b, "id_slot", -1, sched_n_slots(sv->sch) - 1, &id_slot, e)) ||
        (rc = get_bool(b, "stream", &o->stream, e)) || (rc = get_bool(b, "cache_prompt", &t->p.cache_prompt, e)) ||
        (rc = get_stops(b, t, e)))
        return rc;
    if (sp->repeat_penalty <= 0) return perr(e, "\"%s\" must be above 0", "repeat_penalty");
    if (kind == API_CHAT) {
        if ((rc = get_bool(b, "logprobs", &lp, e)) || (rc = get_int(b, "top_logprobs", 0, TASK_MAX_PROBS, &top_lp, e)))
            return rc;
    } else if (kind == API_COMPLETIONS) {
        if ((rc = get_int(b, "logprobs", 0, TASK_MAX_PROBS, &top_lp, e))) return rc;
        lp = json_is_integer(json_object_get(b, "logprobs"));
    } else {
        if ((rc = get_int(b, "n_probs", 0, TASK_MAX_PROBS, &top_lp, e))) return rc;
        lp = top_lp > 0;
    }
    json_t *n = json_object_get(b, "n");
    if (n && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
        return perr(e, "\"%s\" must be 1 (one choice per request)", "n");
    json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return perr(e, "\"%s\" must be an object", "stream_options");
        if ((rc = get_bool(so, "include_usage", &o->include_usage, e))) return rc;
    }
    if (seed >= 0) sp->seed = (uint64_t)seed;
    else if (sv->p.sp.seed != SERVER_SEED_RANDOM) sp->seed = sv->p.sp.seed;
    else sp->seed = (uint64_t)atomic_load(&((srv *)sv)->next_id) * 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL);
    sp->top_k = (int)top_k;
    sp->penalty_last_n = (int)last_n;
    t->p.n_predict = (int)n_predict;
    t->p.id_slot = (int)id_slot;
    t->p.logprobs = o->logprobs = lp;
    t->p.n_probs = o->top_logprobs = (int)top_lp;
    return 0;
}

/* tools (an array of {"type":"function","function":{"name",...}}) and tool_choice ("none",
 * "auto", "required" or {"type":"function","function":{"name"}}). A forced call is sampled
 * under a guide: {"name": one of the offered names, "arguments": its parameters}. Returns
 * the tools to render (NULL: none). */
static int parse_tools(json_t *b, task *t, req_opts *o, json_t **render, perr_t *e) {
    json_t *tools = json_object_get(b, "tools"), *choice = json_object_get(b, "tool_choice"), *tl;
    size_t i;
    *render = NULL;
    if (!tools || json_is_null(tools)) return 0;
    if (!json_is_array(tools)) return perr(e, "\"tools\" must be an array");
    json_array_foreach(tools, i, tl) {
        if (!json_is_string(json_object_get(json_object_get(tl, "function"), "name")))
            return perr(e, "tools[%zu] must be {\"type\":\"function\",\"function\":{\"name\":...}}", i);
    }
    const char *mode = json_string_value(choice), *named = NULL;
    if (json_is_object(choice)) {
        named = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!named) return perr(e, "\"tool_choice\" must name a function: {\"type\":\"function\",\"function\":{\"name\":...}}");
    } else if (choice && !json_is_null(choice) &&
               (!mode || (strcmp(mode, "none") && strcmp(mode, "auto") && strcmp(mode, "required")))) {
        return perr(e, "\"tool_choice\" must be none, auto, required or a named function");
    }
    if (!json_array_size(tools) || (mode && !strcmp(mode, "none"))) return 0;
    *render = tools;
    o->tools = true;
    if (!named && !(mode && !strcmp(mode, "required"))) return 0;
    if (t->p.guide) return perr(e, "a forced tool call and response_format do not go together");
    o->tools_forced = true;
    json_t *names = json_array(), *params = NULL;
    json_array_foreach(tools, i, tl) {
        json_t *fn = json_object_get(tl, "function");
        const char *nm = json_string_value(json_object_get(fn, "name"));
        if (named && strcmp(named, nm)) continue;
        json_array_append_new(names, json_string(nm));
        params = json_object_get(fn, "parameters");
    }
    if (!json_array_size(names)) {
        json_decref(names);
        return perr(e, "\"tool_choice\" names %s, which is not among the tools", named);
    }
    char msg[256];
    for (int strict = json_array_size(names) == 1 && params; strict >= 0 && !t->p.guide; strict--) {
        json_t *args = strict ? json_incref(params) : json_pack("{s:s}", "type", "object");
        json_t *schema = json_pack("{s:s,s:{s:{s:O},s:o},s:[s,s]}", "type", "object", "properties", "name", "enum",
                                   names, "arguments", args, "required", "name", "arguments");
        t->p.guide = schema ? guide_new(schema, msg, sizeof msg) : NULL;
        json_decref(schema);
    }
    json_decref(names);
    return t->p.guide ? 0 : perr(e, "out of memory");
}

static int chat_prompt(const srv *sv, json_t *b, task *t, req_opts *o, perr_t *e) {
    json_t *msgs = json_object_get(b, "messages"), *tools = NULL;
    if (!json_is_array(msgs) || !json_array_size(msgs))
        return perr(e, "\"messages\" must be a non-empty array of messages");
    latte_chat_msg *cm = NULL;
    size_t n = 0;
    int rc = parse_tools(b, t, o, &tools, e);
    if (!rc) rc = chat_msgs_build(sv, msgs, tools, &cm, &n, e);
    if (rc) return rc;
    char *formatted = NULL;
    size_t n_ids = 0;
    latte_err err = {0};
    if (latte_chat_tokenize(sv->m, sv->p.chat_template, cm, n, true, &t->p.prompt, &n_ids, &formatted, &err)) {
        rc = perr(e, "%s", err.msg);
    } else {
        t->p.n_prompt = (int)n_ids;
        size_t fl = strlen(formatted);
        while (fl && (formatted[fl - 1] == '\n' || formatted[fl - 1] == ' ')) fl--;
        o->think_open = fl >= 7 && !memcmp(formatted + fl - 7, "<think>", 7);
        o->split_reasoning = true;
        t->p.hold_think = true;
    }
    free(formatted);
    chat_msgs_free(cm, n);
    return rc;
}

/* "prompt": a string, an array holding one string, or an array of token ids. */
static int text_prompt(const srv *sv, json_t *b, task *t, perr_t *e) {
    json_t *p = json_object_get(b, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    if (json_is_string(p)) {
        size_t n = 0;
        latte_err err = {0};
        if (latte_tokenize(sv->m, json_string_value(p), json_string_length(p), true, true, &t->p.prompt, &n, &err)) {
            snprintf(e->msg, e->cap, "%s", err.msg);
            return 400;
        }
        t->p.n_prompt = (int)n;
        return 0;
    }
    if (!json_is_array(p)) return perr(e, "\"%s\" must be a string or an array of token ids", "prompt");
    size_t n = json_array_size(p), i;
    json_t *v;
    int V = latte_model_n_vocab(sv->m);
    if (!(t->p.prompt = malloc(sizeof *t->p.prompt * (n ? n : 1)))) return perr(e, "out of memory");
    json_array_foreach(p, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V) {
            snprintf(e->msg, e->cap, "prompt[%zu] is not a token id in [0, %d)", i, V);
            return 400;
        }
        t->p.prompt[i] = (int32_t)json_integer_value(v);
    }
    t->p.n_prompt = (int)n;
    return 0;
}

/* response_format (OpenAI) or json_schema (llama.cpp): a guide for constrained sampling. */
static int response_format(json_t *b, task *t, perr_t *e) {
    json_t *rf = json_object_get(b, "response_format"), *schema = json_object_get(b, "json_schema");
    if (rf && !json_is_null(rf)) {
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (!json_is_object(rf) || !type) return perr(e, "\"%s\" must be an object with a \"type\"", "response_format");
        if (!strcmp(type, "text")) return 0;
        if (!strcmp(type, "json_object")) schema = json_object_get(rf, "schema");
        else if (!strcmp(type, "json_schema")) {
            schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
            if (!schema) return perr(e, "\"%s\" needs json_schema.schema", "response_format");
        } else return perr(e, "\"%s\" type must be text, json_object or json_schema", "response_format");
        if (!(t->p.guide = guide_new(schema, e->msg, e->cap))) return 400;
        return 0;
    }
    if (schema && !json_is_null(schema) && !(t->p.guide = guide_new(schema, e->msg, e->cap))) return 400;
    return 0;
}

int oai_parse(const srv *sv, json_t *body, api_kind kind, task *t, req_opts *o, char *msg, size_t cap) {
    perr_t e = {msg, cap};
    int rc = parse_common(sv, body, kind, t, o, &e);
    if (!rc) rc = response_format(body, t, &e);
    if (!rc) rc = kind == API_CHAT ? chat_prompt(sv, body, t, o, &e) : text_prompt(sv, body, t, &e);
    if (rc) return rc;
    int n_ctx = sched_n_ctx_slot(sv->sch);
    if (t->p.n_prompt == 0) {
        snprintf(msg, cap, "the prompt is empty (no tokens)");
        return 400;
    }
    if (t->p.n_prompt >= n_ctx) {
        snprintf(msg, cap, "the prompt is %d tokens but a slot holds %d (raise -c or lower -np)", t->p.n_prompt, n_ctx);
        return 400;
    }
    return 0;
}
