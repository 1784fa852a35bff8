/* tool_calls.c: a reply's tool calls, read out of the model's text in whichever of the
 * families' forms it wrote them: Qwen2/Hermes `<tool_call>{"name","arguments"}</tool_call>`,
 * DeepSeek-V3/R1 `<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME ```json ARGS ```<｜tool▁call▁end｜>`
 * (V3.1: NAME<｜tool▁sep｜>ARGS), Llama-3's bare `{"name","parameters"}`, or, when the call
 * was forced (tool_choice), the whole reply as that JSON object. The text before the first
 * call stays the content. */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static const char HERMES_OPEN[] = "<tool_call>", HERMES_CLOSE[] = "</tool_call>";
static const char DS_OPEN[] = "<｜tool▁call▁begin｜>", DS_SEP[] = "<｜tool▁sep｜>", DS_CLOSE[] = "<｜tool▁call▁end｜>";
static const char DS_CALLS[] = "<｜tool▁calls▁begin｜>";

static const char *find(const char *s, size_t len, const char *pat) { return memmem(s, len, pat, strlen(pat)); }

static int push_call(tool_call **calls, int *n, const char *name, size_t nl, json_t *args_json, const char *args,
                     size_t al) {
    tool_call *nc = realloc(*calls, sizeof *nc * (size_t)(*n + 1));
    if (!nc) return -1;
    *calls = nc;
    tool_call *c = &nc[*n];
    c->name = strndup(name, nl);
    c->args = args_json ? json_dumps(args_json, JSON_COMPACT) : strndup(args, al);
    if (!c->name || !c->args) { free(c->name); free(c->args); return -1; }
    (*n)++;
    return 0;
}

/* {"name": ..., "arguments" | "parameters": {...}} in text[0..len); false when it is not one. */
static bool json_call(const char *text, size_t len, tool_call **calls, int *n) {
    json_t *j = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *name = json_object_get(j, "name"), *args = json_object_get(j, "arguments");
    if (!args) args = json_object_get(j, "parameters");
    bool ok = json_is_string(name) && args &&
              push_call(calls, n, json_string_value(name), json_string_length(name), args, NULL, 0) == 0;
    json_decref(j);
    return ok;
}

static size_t trim_end(const char *s, size_t n) {
    while (n && strchr(" \t\r\n", s[n - 1])) n--;
    return n;
}

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && strchr(" \t\r\n", s[i])) i++;
    return i;
}

/* DeepSeek: name and arguments between a call's begin, separator and end markers. */
static bool ds_call(const char *a, size_t n, tool_call **calls, int *nc) {
    const char *sep = find(a, n, DS_SEP);
    if (!sep) return false;
    const char *rest = sep + strlen(DS_SEP);
    size_t rl = n - (size_t)(rest - a);
    if (sep - a == 8 && !memcmp(a, "function", 8)) { /* V3/R1: NAME\n```json\nARGS\n``` */
        const char *nl = memchr(rest, '\n', rl);
        if (!nl) return false;
        const char *body = find(nl, rl - (size_t)(nl - rest), "```json");
        const char *b0 = body ? body + 7 : nl + 1;
        const char *b1 = find(b0, rl - (size_t)(b0 - rest), "```");
        size_t bl = b1 ? (size_t)(b1 - b0) : rl - (size_t)(b0 - rest);
        json_t *j = json_loadb(b0, bl, 0, NULL);
        int rc = push_call(calls, nc, rest, (size_t)(nl - rest), j, b0, bl);
        json_decref(j);
        return rc == 0;
    }
    json_t *j = json_loadb(rest, rl, 0, NULL); /* V3.1: NAME<sep>ARGS */
    int rc = push_call(calls, nc, a, (size_t)(sep - a), j, rest, rl);
    json_decref(j);
    return rc == 0;
}

int tool_calls_parse(const char *text, size_t len, bool forced, tool_call **calls, size_t *content_len) {
    int n = 0;
    *calls = NULL;
    *content_len = len;
    size_t s0 = skip_ws(text, 0, len);
    if (forced || (len > s0 && text[s0] == '{')) { /* the whole reply is one call (forced, or Llama-3) */
        if (json_call(text + s0, len - s0, calls, &n)) { *content_len = 0; return n; }
        if (forced) return 0;
    }
    const char *h = find(text, len, HERMES_OPEN), *d = find(text, len, DS_OPEN);
    if (h && (!d || h < d)) {
        *content_len = trim_end(text, (size_t)(h - text));
        while (h) {
            const char *a = h + strlen(HERMES_OPEN), *e = find(a, len - (size_t)(a - text), HERMES_CLOSE);
            size_t al = e ? (size_t)(e - a) : len - (size_t)(a - text);
            size_t i = skip_ws(a, 0, al);
            json_call(a + i, al - i, calls, &n);
            if (!e) break;
            const char *next = e + strlen(HERMES_CLOSE);
            h = find(next, len - (size_t)(next - text), HERMES_OPEN);
        }
        return n;
    }
    if (d) {
        const char *c = find(text, len, DS_CALLS);
        *content_len = trim_end(text, (size_t)((c && c < d ? c : d) - text));
        while (d) {
            const char *a = d + strlen(DS_OPEN), *e = find(a, len - (size_t)(a - text), DS_CLOSE);
            ds_call(a, e ? (size_t)(e - a) : len - (size_t)(a - text), calls, &n);
            if (!e) break;
            const char *next = e + strlen(DS_CLOSE);
            d = find(next, len - (size_t)(next - text), DS_OPEN);
        }
    }
    return n;
}

size_t tool_calls_content_limit(const char *text, size_t len, bool forced, tool_fmt fmt) {
    static const char *const opens[] = {HERMES_OPEN, DS_CALLS, DS_OPEN};
    if (forced) return 0;
    size_t s0 = skip_ws(text, 0, len);
    if (fmt == TOOL_FMT_LLAMA3 && (s0 == len || text[s0] == '{')) return 0; /* may be a bare JSON call */
    size_t cut = len;
    for (int i = 0; i < 3; i++) {
        const char *p = find(text, len, opens[i]);
        if (p && (size_t)(p - text) < cut) cut = (size_t)(p - text);
    }
    if (cut < len) return cut;
    return len - task_tail_hold(text, len, opens, 3);
}

void tool_calls_free(tool_call *calls, int n) {
    for (int i = 0; i < n; i++) free(calls[i].name), free(calls[i].args);
    free(calls);
}
