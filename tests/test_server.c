/* test_server.c: the server's pure parts, without a model or a socket: the JSON guide
 * (schema-constrained sampling) accepts exactly the texts the schema allows, byte by byte and
 * through token masks; the reasoning split sends <think> text as reasoning_content and the
 * rest as content, streamed in any cut or whole, also when the prompt opened the tag. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

static int n_fail;

static void report(bool ok, const char *name, const char *why) {
    if (ok) printf("PASS %s\n", name);
    else printf("FAIL %s: %s\n", name, why), n_fail++;
}

/* A vocabulary of the 256 single bytes, then the given multi-byte tokens. */
static guide_vocab byte_vocab(const char *const *extra, int n_extra) {
    guide_vocab v = {.n = 256 + n_extra};
    size_t len = 256;
    for (int i = 0; i < n_extra; i++) len += strlen(extra[i]);
    v.bytes = malloc(len);
    v.off = malloc(sizeof *v.off * ((size_t)v.n + 1));
    v.banned = calloc((size_t)v.n, 1);
    v.eog = calloc((size_t)v.n, 1);
    size_t at = 0;
    for (int i = 0; i < 256; i++) v.off[i] = (uint32_t)at, v.bytes[at++] = (char)i;
    for (int i = 0; i < n_extra; i++) {
        v.off[256 + i] = (uint32_t)at;
        memcpy(v.bytes + at, extra[i], strlen(extra[i]));
        at += strlen(extra[i]);
    }
    v.off[v.n] = (uint32_t)at;
    v.banned[0] = true; /* a NUL token, as control tokens are */
    guide_vocab_index(&v);
    return v;
}

static void free_vocab(guide_vocab *v) {
    free(v->bytes), free(v->off), free(v->banned), free(v->eog), free(v->str_chars);
}

/* Feeds text byte by byte; returns the bytes accepted, and whether the value is complete. */
static size_t run_guide(const char *schema_text, const char *text, bool *complete) {
    json_t *schema = schema_text ? json_loads(schema_text, 0, NULL) : NULL;
    char msg[256];
    json_guide *g = guide_new(schema, msg, sizeof msg);
    json_decref(schema);
    if (!g) { printf("  guide_new: %s\n", msg); *complete = false; return 0; }
    guide_vocab v = byte_vocab(NULL, 0);
    size_t i = 0;
    while (text[i] && guide_accept(g, &v, (unsigned char)text[i])) i++;
    *complete = guide_complete(g);
    guide_free(g);
    free_vocab(&v);
    return i;
}

static const char PERSON[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},\"age\":{\"type\":\"integer\"},"
    "\"color\":{\"enum\":[\"red\",\"green\"]},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"number\"},\"maxItems\":2},"
    "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"color\"]}";

static void check_guide_texts(void) {
    static const struct {
        const char *schema, *text;
        int stop_at; /* -1: all accepted and complete; else the first byte refused */
        const char *name;
    } cases[] = {
        {PERSON, "{\"name\": \"Al\", \"age\": -3, \"color\": \"red\", \"tags\": [1.5e3, 0], \"ok\": true}", -1, "valid"},
        {PERSON, "{ \"color\" : \"green\" , \"name\" : \"\\u00e9\\n\" }", -1, "escapes and spaces"},
        {PERSON, "{\"name\": \"Al\"}", 13, "missing required"},
        {PERSON, "{\"color\": \"pink\"}", 11, "not in the enum"},
        {PERSON, "{\"age\": 1.5}", 9, "integer with a fraction"},
        {PERSON, "{\"name\": \"abcdef\"}", 15, "over maxLength"},
        {PERSON, "{\"nam\": 1}", 5, "unknown key"},
        {PERSON, "{\"name\": \"a\", \"name\": \"b\"}", 15, "key twice"},
        {PERSON, "{\"tags\": [1, 2, 3]}", 14, "over maxItems"},
        {PERSON, "{\"ok\": yes}", 7, "not a boolean"},
        {PERSON, "{\"name\": \"a\", \"color\": \"red\"} x", 29, "text after the value"},
        {NULL, "{\"a\": [1, -2.5e-3, \"x\", null, true, false, {\"b\": {}}, []]}", -1, "any object"},
        {NULL, "[1]", 0, "json_object wants an object"},
        {NULL, "{\"a\" 1}", 5, "missing colon"},
        {NULL, "{\"a\": 01}", 7, "leading zero"},
        {NULL, "{\"a\": [1,]}", 9, "trailing comma"},
        {NULL, "{\"a\": \"x\ny\"}", 8, "raw newline in a string"},
        {"{\"type\":\"number\"}", "12.5", -1, "a bare number"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1}", "[]", 1, "under minItems"},
        {"{\"const\":\"yes\"}", "\"yes\"", -1, "const"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool complete;
        size_t got = run_guide(cases[i].schema, cases[i].text, &complete);
        bool ok = cases[i].stop_at < 0 ? got == strlen(cases[i].text) && complete : (int)got == cases[i].stop_at;
        char name[96], why[160];
        snprintf(name, sizeof name, "guide %s", cases[i].name);
        snprintf(why, sizeof why, "accepted %zu bytes (complete %d), want %d", got, complete, cases[i].stop_at);
        report(ok, name, why);
    }
    char msg[256];
    json_t *bad = json_loads("{\"type\":\"string\",\"pattern\":\"a+\"}", 0, NULL);
    json_guide *g = guide_new(bad, msg, sizeof msg);
    report(!g && strstr(msg, "pattern"), "guide refuses what it cannot enforce", msg);
    guide_free(g);
    json_decref(bad);
}

/* The mask over multi-byte tokens agrees with feeding them, and ends with only EOG. */
static void check_guide_mask(void) {
    static const char *const toks[] = {"{\"", "name", "\":", " \"", "Al", "ice", "\"}", "\",", "\"color", " \"red\"}"};
    guide_vocab v = byte_vocab(toks, 10);
    v.eog['\n'] = true; /* pretend the newline byte is the end-of-generation token */
    json_t *schema = json_loads(PERSON, 0, NULL);
    char msg[256];
    json_guide *g = guide_new(schema, msg, sizeof msg);
    json_decref(schema);
    float *l = malloc(sizeof *l * (size_t)v.n);
    bool ok = g != NULL;
    const int path[] = {256, 257, 258, 259, 260, 263, 264, 258, 265}; /* {"name": "Al", "color": "red"} */
    for (size_t k = 0; ok && k < sizeof path / sizeof path[0]; k++) {
        for (int i = 0; i < v.n; i++) l[i] = 0;
        guide_mask(g, &v, l);
        if (isinf(l[path[k]]) || !isinf(l[0]) || !isinf(l['\n'])) ok = false;
        if (k == 5 && (isinf(l[261]) || !isinf(l[262]))) ok = false; /* "Al"+"ice" fits maxLength 5; "} misses color */
        ok = ok && guide_accept(g, &v, path[k]);
    }
    for (int i = 0; i < v.n; i++) l[i] = 0;
    if (ok) guide_mask(g, &v, l);
    int open = 0;
    for (int i = 0; i < v.n; i++) open += !isinf(l[i]);
    report(ok && guide_complete(g) && open == 1 && !isinf(l['\n']), "guide mask follows a token path to EOG only",
           "a wanted token was masked or an unwanted one left open");
    free(l);
    guide_free(g);
    free_vocab(&v);
}

/* Streams text as the worker would publish it (a partial tag held back) in steps of `step`
 * bytes; collects reasoning and content from the events. */
static void stream_split(const char *text, bool think_open, size_t step, char *reasoning, char *content) {
    srv sv = {0};
    snprintf(sv.model_id, sizeof sv.model_id, "test");
    task *t = task_new();
    t->p.hold_think = true;
    req_opts o = {.kind = API_CHAT, .split_reasoning = true, .think_open = think_open};
    stream_pos sp = {0};
    char *buf = NULL;
    size_t len = 0, cap = 0, n = strlen(text);
    static const char *const tags[] = {"<think>", "</think>"};
    reasoning[0] = content[0] = 0;
    for (size_t at = 0; at < n || !t->finish;) {
        size_t k = at + step < n ? step : n - at;
        task_append(t, text + at, k);
        at += k;
        t->safe = t->len - task_tail_hold(t->text, t->len, tags, 2);
        if (at == n) t->finish = FINISH_STOP, t->safe = t->len;
        len = 0;
        oai_stream_events(&sv, t, &o, &sp, &buf, &len, &cap);
        for (char *line = buf; line && line < buf + len; line = strstr(line, "\n\n") + 2) {
            json_t *j = json_loadb(line + 6, (size_t)(strstr(line, "\n\n") - line - 6), 0, NULL);
            json_t *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
            const char *r = json_string_value(json_object_get(d, "reasoning_content"));
            const char *c = json_string_value(json_object_get(d, "content"));
            if (r) strcat(reasoning, r);
            if (c) strcat(content, c);
            json_decref(j);
        }
    }
    free(buf);
    task_unref(t);
}

static void check_reasoning(void) {
    static const struct {
        const char *text;
        bool think_open;
        const char *reasoning, *content;
    } cases[] = {
        {"<think>\nabc def\n</think>\n\nthe answer", false, "\nabc def\n", "the answer"},
        {"abc def</think>the answer", true, "abc def", "the answer"},
        {"just an answer <b>", false, "", "just an answer <b>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t step = 1; step <= 40; step += 13) {
            char r[256], c[256], name[96], why[640];
            stream_split(cases[i].text, cases[i].think_open, step, r, c);
            snprintf(name, sizeof name, "reasoning split case %zu step %zu", i, step);
            snprintf(why, sizeof why, "reasoning %s, content %s", r, c);
            report(!strcmp(r, cases[i].reasoning) && !strcmp(c, cases[i].content), name, why);
        }
}

static void check_tool_parse(void) {
    static const struct {
        const char *text;
        bool forced;
        int n;
        const char *name, *args, *content;
    } cases[] = {
        {"Let me look.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>", false, 1, "f",
         "{\"a\":1}", "Let me look."},
        {"<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}"
         "</tool_call>", false, 2, "f", "{}", ""},
        {"ok<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\": [1]}\n```"
         "<｜tool▁call▁end｜><｜tool▁calls▁end｜>", false, 1, "f", "{\"a\":[1]}", "ok"},
        {"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"b\": 2}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         false, 1, "f", "{\"b\":2}", ""},
        {" {\"name\": \"f\", \"parameters\": {\"c\": \"x\"}}", false, 1, "f", "{\"c\":\"x\"}", ""},
        {"{\"arguments\": {}, \"name\": \"f\"}", true, 1, "f", "{}", ""},
        {"no call here {", false, 0, NULL, NULL, "no call here {"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tool_call *calls = NULL;
        size_t cl = 0, len = strlen(cases[i].text);
        int n = tool_calls_parse(cases[i].text, len, cases[i].forced, &calls, &cl);
        bool ok = n == cases[i].n && cl == strlen(cases[i].content) && !memcmp(cases[i].text, cases[i].content, cl);
        if (ok && n) ok = !strcmp(calls[0].name, cases[i].name) && !strcmp(calls[0].args, cases[i].args);
        char name[64], why[512];
        snprintf(name, sizeof name, "tool call parse case %zu", i);
        snprintf(why, sizeof why, "%d calls (%s %s), content %zu bytes", n, n ? calls[0].name : "-", n ? calls[0].args : "-",
                 cl);
        report(ok, name, why);
        tool_calls_free(calls, n);
    }
    const char *partial = "Sure <tool_c";
    report(tool_calls_content_limit(partial, strlen(partial), false, TOOL_FMT_HERMES) == 5,
           "tool call opener held back while streaming", partial);
}

int main(void) {
    check_tool_parse();
    check_guide_texts();
    check_guide_mask();
    check_reasoning();
    return n_fail ? 1 : 0;
}
