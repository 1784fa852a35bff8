/* chat_msgs.c: OpenAI chat messages into the template's messages. Text parts are joined;
 * `tools` become a system-prompt section in the model family's own convention; assistant
 * `tool_calls` and `tool` results are written back the way that family's models write and
 * read them (Qwen2/Hermes <tool_call> and <tool_response>, Llama-3 JSON, DeepSeek's tool
 * markers), or passed as the tool role where the template takes it (DeepSeek-V3.1, Kimi-K2). */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) { b->oom = true; return; }
        b->s = ns, b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_add(sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

static void sb_json(sbuf *b, json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s) sb_add(b, s);
    else b->oom = true;
    free(s);
}

tool_fmt chat_tool_fmt(const latte_model *m, const char *tmpl) {
    latte_chat_msg probe = {"user", "x"};
    char *text = NULL;
    latte_err err = {0};
    tool_fmt f = TOOL_FMT_HERMES;
    if (!latte_chat_format(m, tmpl, &probe, 1, true, &text, &err)) {
        if (strstr(text, "<|start_header_id|>")) f = TOOL_FMT_LLAMA3;
        else if (strstr(text, "<｜User｜>") || strstr(text, "<｜Assistant｜>")) f = TOOL_FMT_DEEPSEEK;
    }
    free(text);
    return f;
}

bool chat_takes_tool_role(const latte_model *m, const char *tmpl) {
    latte_chat_msg probe[3] = {{"user", "x"}, {"assistant", "y"}, {"tool", "z"}};
    char *text = NULL;
    latte_err err = {0};
    bool ok = latte_chat_format(m, tmpl, probe, 3, true, &text, &err) == 0;
    free(text);
    return ok;
}

/* The tools section for the system prompt. */
static void tools_text(sbuf *b, json_t *tools, tool_fmt f) {
    size_t i;
    json_t *t;
    if (f == TOOL_FMT_HERMES) {
        sb_add(b, "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided "
                  "with function signatures within <tools></tools> XML tags:\n<tools>");
        json_array_foreach(tools, i, t) { sb_add(b, "\n"); sb_json(b, t); }
        sb_add(b, "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                  "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                  "\"arguments\": <args-json-object>}\n</tool_call>");
    } else if (f == TOOL_FMT_LLAMA3) {
        sb_add(b, "You have access to the following functions. To call a function, respond with JSON for a function "
                  "call in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
                  "value}. Do not use variables.\n");
        json_array_foreach(tools, i, t) { sb_add(b, "\n"); sb_json(b, json_object_get(t, "function")); }
    } else {
        sb_add(b, "## Tools\nYou have access to the following tools:\n");
        json_array_foreach(tools, i, t) {
            json_t *fn = json_object_get(t, "function");
            sb_add(b, "\n### ");
            sb_add(b, json_string_value(json_object_get(fn, "name")));
            const char *d = json_string_value(json_object_get(fn, "description"));
            if (d) { sb_add(b, "\nDescription: "); sb_add(b, d); }
            sb_add(b, "\n\nParameters: ");
            sb_json(b, json_object_get(fn, "parameters") ? json_object_get(fn, "parameters") : json_object());
            sb_add(b, "\n");
        }
        sb_add(b, "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
                  "function<｜tool▁sep｜>tool_call_name\n```json\ntool_call_arguments\n```<｜tool▁call▁end｜>"
                  "<｜tool▁calls▁end｜>");
    }
}

/* An assistant message's tool calls, written as its model writes them. */
static int calls_text(sbuf *b, json_t *calls, tool_fmt f, perr_t *e) {
    size_t i;
    json_t *c;
    if (f == TOOL_FMT_DEEPSEEK) sb_add(b, "<｜tool▁calls▁begin｜>");
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        if (!name || !args) return perr(e, "a tool call needs function.name and function.arguments (a string)");
        json_t *a = json_loads(args, JSON_DECODE_ANY, NULL);
        if (f == TOOL_FMT_HERMES) {
            sb_add(b, i ? "\n<tool_call>\n{\"name\": " : "<tool_call>\n{\"name\": ");
            sb_json(b, json_object_get(fn, "name"));
            sb_add(b, ", \"arguments\": ");
            if (a) sb_json(b, a); else sb_add(b, args);
            sb_add(b, "}\n</tool_call>");
        } else if (f == TOOL_FMT_LLAMA3) {
            sb_add(b, "{\"name\": ");
            sb_json(b, json_object_get(fn, "name"));
            sb_add(b, ", \"parameters\": ");
            if (a) sb_json(b, a); else sb_add(b, args);
            sb_add(b, "}");
        } else {
            sb_add(b, "<｜tool▁call▁begin｜>function<｜tool▁sep｜>");
            sb_add(b, name);
            sb_add(b, "\n```json\n");
            if (a) sb_json(b, a); else sb_add(b, args);
            sb_add(b, "\n```<｜tool▁call▁end｜>");
        }
        json_decref(a);
    }
    if (f == TOOL_FMT_DEEPSEEK) sb_add(b, "<｜tool▁calls▁end｜>");
    return 0;
}

/* A message's content: a string, null, or an array of {"type":"text","text":...} parts. */
static int content_text(sbuf *b, json_t *c, size_t i, perr_t *e) {
    if (!c || json_is_null(c)) return 0;
    if (json_is_string(c)) { sb_add(b, json_string_value(c)); return 0; }
    if (!json_is_array(c)) return perr(e, "messages[%zu].content must be a string or an array of text parts", i);
    size_t k;
    json_t *part;
    json_array_foreach(c, k, part) {
        json_t *tx = json_object_get(part, "text");
        if (!json_is_string(tx)) return perr(e, "messages[%zu].content[%zu] must be {\"type\":\"text\",\"text\":...}", i, k);
        sb_addn(b, json_string_value(tx), json_string_length(tx));
    }
    return 0;
}

static const char *role_of(json_t *m) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", NULL};
    const char *r = json_string_value(json_object_get(m, "role"));
    for (int k = 0; r && roles[k]; k++)
        if (!strcmp(r, roles[k])) return k == 4 ? "system" : roles[k];
    return NULL;
}

int chat_msgs_build(const srv *sv, json_t *msgs, json_t *tools, latte_chat_msg **out, size_t *n_out, perr_t *e) {
    size_t n = json_array_size(msgs), i, k = 0;
    json_t *m;
    bool sys_first = n && json_is_object(json_array_get(msgs, 0)) && role_of(json_array_get(msgs, 0)) &&
                     !strcmp(role_of(json_array_get(msgs, 0)), "system");
    bool add_sys = tools && !sys_first;
    latte_chat_msg *cm = calloc(n + 1, sizeof *cm);
    if (!cm) return perr(e, "out of memory");
    int rc = 0;
    if (add_sys) {
        sbuf b = {0};
        tools_text(&b, tools, sv->tool_fmt);
        cm[k++] = (latte_chat_msg){"system", b.s};
        if (b.oom || !b.s) rc = perr(e, "out of memory");
    }
    json_array_foreach(msgs, i, m) {
        if (rc) break;
        const char *role = json_is_object(m) ? role_of(m) : NULL;
        if (!role) { rc = perr(e, "messages[%zu] needs a \"role\": system, user, assistant or tool", i); break; }
        sbuf b = {0};
        bool tool = !strcmp(role, "tool");
        if (tool && !sv->tool_role) sb_add(&b, sv->tool_fmt == TOOL_FMT_DEEPSEEK ? "<｜tool▁output▁begin｜>" : "<tool_response>\n");
        if ((rc = content_text(&b, json_object_get(m, "content"), i, e))) { free(b.s); break; }
        if (tool && !sv->tool_role) sb_add(&b, sv->tool_fmt == TOOL_FMT_DEEPSEEK ? "<｜tool▁output▁end｜>" : "\n</tool_response>");
        json_t *calls = json_object_get(m, "tool_calls");
        if (!strcmp(role, "assistant") && json_is_array(calls) && json_array_size(calls)) {
            if (b.len) sb_add(&b, "\n");
            if ((rc = calls_text(&b, calls, sv->tool_fmt, e))) { free(b.s); break; }
        }
        if (i == 0 && sys_first && tools) {
            sb_add(&b, "\n\n");
            tools_text(&b, tools, sv->tool_fmt);
        }
        if (!b.s) sb_add(&b, "");
        if (b.oom) { free(b.s); rc = perr(e, "out of memory"); break; }
        cm[k++] = (latte_chat_msg){tool && !sv->tool_role ? "user" : role, b.s};
    }
    if (rc) {
        chat_msgs_free(cm, k);
        return rc;
    }
    *out = cm;
    *n_out = k;
    return 0;
}

void chat_msgs_free(latte_chat_msg *cm, size_t n) {
    for (size_t i = 0; cm && i < n; i++) free((char *)cm[i].content);
    free(cm);
}
