/* chat_format.c: native formatters for the chat template families of chat.h. Each one
 * mirrors its official Jinja template for system/user/assistant messages, including the
 * template's string operations (Jinja `trim` is Python's str.strip over Unicode whitespace,
 * `split('</think>')[-1]` keeps the text after the last closing tag). The output grows in
 * one buffer (sbuf), which also records the ranges copied from message contents (sb_msg)
 * apart from the template's own text (sb_add); any allocation failure is reported once,
 * at the end. */
#include "text/chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
    tok_range *msg; /* ranges of p that came from message contents */
    size_t n_msg, msg_cap;
    bool oom;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_add(sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

/* Appends message text s[0..n) and records its range (merged with an adjacent one). */
static void sb_msg(sbuf *b, const char *s, size_t n) {
    size_t start = b->len;
    sb_addn(b, s, n);
    if (b->oom || n == 0) return;
    if (b->n_msg > 0 && b->msg[b->n_msg - 1].off + b->msg[b->n_msg - 1].len == start) {
        b->msg[b->n_msg - 1].len += n;
        return;
    }
    if (b->n_msg == b->msg_cap) {
        size_t cap = b->msg_cap ? 2 * b->msg_cap : 16;
        tok_range *q = realloc(b->msg, cap * sizeof *q);
        if (!q) {
            b->oom = true;
            return;
        }
        b->msg = q, b->msg_cap = cap;
    }
    b->msg[b->n_msg++] = (tok_range){start, n};
}

static void sb_msg0(sbuf *b, const char *s) { sb_msg(b, s, strlen(s)); }

/* ---- Python string helpers, on byte ranges [*b, *e) ---- */

/* Decodes the UTF-8 code point at s[0..n) into *cp; returns its length, 0 if invalid. */
static size_t utf8_at(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    if (s[0] < 0x80) return *cp = s[0], 1;
    size_t len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    return *cp = c, len;
}

/* Python's str.isspace() set. */
static bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* str.strip(): drops Unicode whitespace from both ends of [*b, *e). */
static void py_strip(const char **b, const char **e) {
    uint32_t cp;
    size_t l;
    while (*b < *e && (l = utf8_at((const unsigned char *)*b, (size_t)(*e - *b), &cp)) && py_space(cp))
        *b += l;
    while (*e > *b) {
        const char *s = *e - 1; /* back up to the start of the last code point */
        while (s > *b && ((unsigned char)*s & 0xC0) == 0x80 && *e - s < 4) s--;
        l = utf8_at((const unsigned char *)s, (size_t)(*e - s), &cp);
        if (l != (size_t)(*e - s) || !py_space(cp)) break;
        *e = s;
    }
}

static void lstrip_nl(const char **b, const char *e) {
    while (*b < e && **b == '\n') (*b)++;
}

static void rstrip_nl(const char *b, const char **e) {
    while (*e > b && (*e)[-1] == '\n') (*e)--;
}

/* Returns the first occurrence of needle in [b, e), or NULL. */
static const char *find_in(const char *b, const char *e, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = b; p + n <= e; p++)
        if (memcmp(p, needle, n) == 0) return p;
    return NULL;
}

/* Returns the last occurrence of needle in [b, e), or NULL. */
static const char *rfind_in(const char *b, const char *e, const char *needle) {
    size_t n = strlen(needle), len = (size_t)(e - b);
    for (size_t i = len >= n ? len - n + 1 : 0; i-- > 0;)
        if (memcmp(b + i, needle, n) == 0) return b + i;
    return NULL;
}

/* Jinja `x.split(sep)[-1]`: the text after the last sep (all of x if none). */
static const char *after_last(const char *b, const char *e, const char *sep) {
    const char *p = rfind_in(b, e, sep);
    return p ? p + strlen(sep) : b;
}

static bool is_role(const chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

/* ---- families ---- */

#define DS_USER "<｜User｜>"
#define DS_ASSISTANT "<｜Assistant｜>"
#define DS_EOS "<｜end▁of▁sentence｜>"

/* DeepSeek-V3 and R1: bos, system prompt(s), then <｜User｜>/<｜Assistant｜> turns. */
static void fmt_deepseek3(sbuf *b, chat_kind k, const chat_msg *m, size_t n, bool gen, const char *bos) {
    bool r1 = k == CHAT_DEEPSEEK_R1 || k == CHAT_DEEPSEEK_R1_THINK;
    sb_add(b, bos);
    if (r1) { /* R1 keeps the last system message only */
        const char *sys = "";
        for (size_t i = 0; i < n; i++)
            if (is_role(&m[i], "system")) sys = m[i].content;
        sb_msg0(b, sys);
    } else { /* V3 joins all system messages with a blank line */
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (!is_role(&m[i], "system")) continue;
            if (!first) sb_add(b, "\n\n");
            sb_msg0(b, m[i].content);
            first = false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content, *e = c + strlen(c);
        if (is_role(&m[i], "user")) {
            sb_add(b, DS_USER);
            sb_msg0(b, c);
        } else if (is_role(&m[i], "assistant")) {
            if (r1) c = after_last(c, e, "</think>");
            sb_add(b, DS_ASSISTANT);
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, DS_EOS);
        }
    }
    if (gen) sb_add(b, k == CHAT_DEEPSEEK_R1_THINK ? DS_ASSISTANT "<think>\n" : DS_ASSISTANT);
}

/* DeepSeek-V2 chat: "User: u\n\nAssistant: a<eos>", system text followed by a blank line. */
static void fmt_deepseek2(sbuf *b, const chat_msg *m, size_t n, bool gen, const char *bos) {
    sb_add(b, bos);
    for (size_t i = 0; i < n; i++) {
        if (is_role(&m[i], "user")) {
            sb_add(b, "User: ");
            sb_msg0(b, m[i].content);
            sb_add(b, "\n\n");
        } else if (is_role(&m[i], "assistant")) {
            sb_add(b, "Assistant: ");
            sb_msg0(b, m[i].content);
            sb_add(b, DS_EOS);
        } else {
            sb_msg0(b, m[i].content);
            sb_add(b, "\n\n");
        }
    }
    if (gen) sb_add(b, "Assistant:");
}

static void llama_turn(sbuf *b, const char *role, const char *content) {
    const char *cb = content, *ce = content + strlen(content);
    py_strip(&cb, &ce);
    sb_add(b, "<|start_header_id|>");
    sb_add(b, role);
    sb_add(b, "<|end_header_id|>\n\n");
    sb_msg(b, cb, (size_t)(ce - cb));
    sb_add(b, "<|eot_id|>");
}

/* Llama 3: bos before the first turn, every turn's content trimmed. Llama 3.1 always opens
 * with a system turn holding the knowledge cutoff and the template's default date. */
static void fmt_llama3(sbuf *b, chat_kind k, const chat_msg *m, size_t n, bool gen, const char *bos) {
    size_t i = 0;
    if (k == CHAT_LLAMA31) {
        const char *sb = "", *se = sb;
        if (n > 0 && is_role(&m[0], "system")) {
            sb = m[0].content, se = sb + strlen(sb), i = 1;
            py_strip(&sb, &se);
        }
        sb_add(b, bos);
        sb_add(b, "<|start_header_id|>system<|end_header_id|>\n\n"
                  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
        sb_msg(b, sb, (size_t)(se - sb));
        sb_add(b, "<|eot_id|>");
    } else if (n > 0) {
        sb_add(b, bos);
    }
    for (; i < n; i++) llama_turn(b, m[i].role, m[i].content);
    if (gen) sb_add(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void chatml_turn(sbuf *b, const char *role, const char *c, size_t clen) {
    sb_add(b, "<|im_start|>");
    sb_add(b, role);
    sb_add(b, "\n");
    sb_msg(b, c, clen);
    sb_add(b, "<|im_end|>\n");
}

/* ChatML and its flavours that insert a default system prompt when none leads. */
static void fmt_chatml(sbuf *b, chat_kind k, const chat_msg *m, size_t n, bool gen) {
    const char *def = k == CHAT_QWEN2     ? "You are a helpful assistant."
                      : k == CHAT_SMOLLM2 ? "You are a helpful AI assistant named SmolLM, "
                                            "trained by Hugging Face"
                                          : NULL;
    if (def && n > 0 && !is_role(&m[0], "system")) chatml_turn(b, "system", def, strlen(def));
    for (size_t i = 0; i < n; i++) chatml_turn(b, m[i].role, m[i].content, strlen(m[i].content));
    if (gen) sb_add(b, "<|im_start|>assistant\n");
}

/* Qwen3: assistant turns after the last user query keep their reasoning in a normalised
 * <think> block (always for the final turn); earlier ones lose it. */
static void fmt_qwen3(sbuf *b, const chat_msg *m, size_t n, bool gen) {
    size_t last_query = n > 0 ? n - 1 : 0;
    for (size_t j = n; j-- > 0;) {
        const char *c = m[j].content, *e = c + strlen(c);
        bool tool_resp = strncmp(c, "<tool_response>", 15) == 0 && e - c >= 16 &&
                         strcmp(e - 16, "</tool_response>") == 0;
        if (is_role(&m[j], "user") && !tool_resp) {
            last_query = j;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content, *e = c + strlen(c);
        if (is_role(&m[i], "system")) {
            chatml_turn(b, "system", c, (size_t)(e - c));
        } else if (is_role(&m[i], "user")) {
            chatml_turn(b, "user", c, (size_t)(e - c));
        } else {
            const char *ab = c, *rb = c, *re = c; /* answer [ab, e), reasoning [rb, re) */
            const char *close = find_in(c, e, "</think>");
            if (close) {
                ab = after_last(c, e, "</think>");
                lstrip_nl(&ab, e);
                re = close;
                rstrip_nl(c, &re);
                rb = after_last(c, re, "<think>");
                lstrip_nl(&rb, re);
            }
            sb_add(b, "<|im_start|>assistant\n");
            if (i > last_query && (i == n - 1 || re > rb)) {
                lstrip_nl(&rb, re); /* reasoning.strip('\n') */
                rstrip_nl(rb, &re);
                lstrip_nl(&ab, e);
                sb_add(b, "<think>\n");
                sb_msg(b, rb, (size_t)(re - rb));
                sb_add(b, "\n</think>\n\n");
            }
            sb_msg(b, ab, (size_t)(e - ab));
            sb_add(b, "<|im_end|>\n");
        }
    }
    if (gen) sb_add(b, "<|im_start|>assistant\n");
}

/* DeepSeek-V3.1: bos and the joined system prompts; an assistant turn right after a user
 * turn opens with <｜Assistant｜></think>, and keeps the text after its first </think>;
 * tool results follow as outputs; the generation prompt, only after a user turn, ends with
 * </think> (thinking off) or <think> (thinking on). */
static void fmt_deepseek31(sbuf *b, chat_kind k, const chat_msg *m, size_t n, bool gen, const char *bos) {
    sb_add(b, bos);
    bool first = true, last_user = false, after_tool = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_role(&m[i], "system")) continue;
        if (!first) sb_add(b, "\n\n");
        sb_msg0(b, m[i].content);
        first = false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content, *e = c + strlen(c);
        if (is_role(&m[i], "user")) {
            after_tool = false, last_user = true;
            sb_add(b, DS_USER);
            sb_msg(b, c, (size_t)(e - c));
        } else if (is_role(&m[i], "assistant")) {
            if (last_user) sb_add(b, DS_ASSISTANT "</think>");
            last_user = false;
            if (!after_tool) {
                const char *close = find_in(c, e, "</think>");
                if (close) c = close + strlen("</think>");
            }
            after_tool = false;
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, DS_EOS);
        } else if (is_role(&m[i], "tool")) {
            last_user = false, after_tool = true;
            sb_add(b, "<｜tool▁output▁begin｜>");
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, "<｜tool▁output▁end｜>");
        }
    }
    if (gen && last_user && !after_tool)
        sb_add(b, k == CHAT_DEEPSEEK31_THINK ? DS_ASSISTANT "<think>" : DS_ASSISTANT "</think>");
}

/* DeepSeek-R1-0528: bos and the joined system prompts; each user turn already ends with
 * <｜Assistant｜> (so the generation prompt adds nothing after one); assistant turns keep the
 * text after their last </think>; tool results are grouped as outputs, the first one of
 * the conversation opening the group (the template resets that only at tool calls). */
static void fmt_deepseek_r1_0528(sbuf *b, const chat_msg *m, size_t n, bool gen, const char *bos) {
    sb_add(b, bos);
    bool first = true, last_user = false, in_tool = false, output_first = true;
    for (size_t i = 0; i < n; i++) {
        if (!is_role(&m[i], "system")) continue;
        if (!first) sb_add(b, "\n\n");
        sb_msg0(b, m[i].content);
        first = false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = m[i].content, *e = c + strlen(c);
        if (is_role(&m[i], "user")) {
            in_tool = false, last_user = true;
            sb_add(b, DS_USER);
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, DS_ASSISTANT);
        } else if (is_role(&m[i], "assistant")) {
            c = after_last(c, e, "</think>");
            last_user = false;
            if (in_tool) sb_add(b, "<｜tool▁outputs▁end｜>");
            in_tool = false;
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, DS_EOS);
        } else if (is_role(&m[i], "tool")) {
            last_user = false, in_tool = true;
            sb_add(b, output_first ? "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" : "\n<｜tool▁output▁begin｜>");
            output_first = false;
            sb_msg(b, c, (size_t)(e - c));
            sb_add(b, "<｜tool▁output▁end｜>");
        }
    }
    if (in_tool) sb_add(b, "<｜tool▁outputs▁end｜>");
    if (gen && !last_user && !in_tool) sb_add(b, DS_ASSISTANT);
}

/* Kimi-K2: a default system turn when none leads, then <|im_ROLE|>ROLE<|im_middle|>text<|im_end|>
 * (tool results under the system marker), no separators. */
static void fmt_kimi_k2(sbuf *b, const chat_msg *m, size_t n, bool gen) {
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && !is_role(&m[0], "system"))
            sb_add(b, "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>");
        sb_add(b, is_role(&m[i], "system")      ? "<|im_system|>system<|im_middle|>"
                  : is_role(&m[i], "user")      ? "<|im_user|>user<|im_middle|>"
                  : is_role(&m[i], "assistant") ? "<|im_assistant|>assistant<|im_middle|>"
                                                : "<|im_system|>tool<|im_middle|>");
        sb_msg0(b, m[i].content);
        sb_add(b, "<|im_end|>");
    }
    if (gen) sb_add(b, "<|im_assistant|>assistant<|im_middle|>");
}

static bool takes_tool_role(chat_kind k) {
    return k == CHAT_KIMI_K2 || k == CHAT_DEEPSEEK31 || k == CHAT_DEEPSEEK31_THINK || k == CHAT_DEEPSEEK_R1_0528;
}

static int check_msgs(chat_kind kind, const chat_msg *msgs, size_t n, latte_err *err) {
    if (n > 0 && !msgs) return err_set(err, LATTE_E_ARG, "chat_format: %zu messages but no array", n);
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content)
            return err_set(err, LATTE_E_ARG, "chat message %zu has no %s", i,
                           msgs[i].role ? "content" : "role");
        if (is_role(&msgs[i], "system") || is_role(&msgs[i], "user") || is_role(&msgs[i], "assistant") ||
            (is_role(&msgs[i], "tool") && takes_tool_role(kind)))
            continue;
        return err_set(err, LATTE_E_ARG,
                       "chat message %zu has role '%.64s'; the %s template takes system, user and "
                       "assistant%s", i, msgs[i].role, chat_kind_name(kind),
                       takes_tool_role(kind) ? " and tool" : "");
    }
    return 0;
}

void chat_text_free(chat_text *t) {
    if (!t) return;
    free(t->text);
    free(t->plain);
    memset(t, 0, sizeof *t);
}

int chat_render(chat_kind kind, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                const char *bos_text, chat_text *out, latte_err *err) {
    memset(out, 0, sizeof *out);
    int rc = check_msgs(kind, msgs, n, err);
    if (rc) return rc;
    if (!bos_text) bos_text = "";
    sbuf b = {0};
    b.p = calloc(1, 256); /* an empty conversation still yields an allocated "" */
    b.cap = 256;
    b.oom = b.p == NULL;
    bool gen = add_generation_prompt;
    switch (kind) {
    case CHAT_DEEPSEEK3:
    case CHAT_DEEPSEEK_R1:
    case CHAT_DEEPSEEK_R1_THINK: fmt_deepseek3(&b, kind, msgs, n, gen, bos_text); break;
    case CHAT_DEEPSEEK31:
    case CHAT_DEEPSEEK31_THINK: fmt_deepseek31(&b, kind, msgs, n, gen, bos_text); break;
    case CHAT_DEEPSEEK_R1_0528: fmt_deepseek_r1_0528(&b, msgs, n, gen, bos_text); break;
    case CHAT_DEEPSEEK2: fmt_deepseek2(&b, msgs, n, gen, bos_text); break;
    case CHAT_LLAMA3:
    case CHAT_LLAMA31: fmt_llama3(&b, kind, msgs, n, gen, bos_text); break;
    case CHAT_CHATML:
    case CHAT_QWEN2:
    case CHAT_SMOLLM2: fmt_chatml(&b, kind, msgs, n, gen); break;
    case CHAT_QWEN3: fmt_qwen3(&b, msgs, n, gen); break;
    case CHAT_KIMI_K2: fmt_kimi_k2(&b, msgs, n, gen); break;
    default:
        free(b.p);
        free(b.msg);
        return err_set(err, LATTE_E_ARG, "chat_format: unknown chat kind %d", (int)kind);
    }
    if (b.oom) {
        free(b.p);
        free(b.msg);
        return err_set(err, LATTE_E_NOMEM, "chat_format: out of memory building the prompt");
    }
    *out = (chat_text){b.p, b.len, b.msg, b.n_msg};
    return 0;
}

int chat_format(chat_kind kind, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                const char *bos_text, char **out, latte_err *err) {
    *out = NULL;
    chat_text t;
    int rc = chat_render(kind, msgs, n, add_generation_prompt, bos_text, &t, err);
    if (rc) return rc;
    free(t.plain);
    *out = t.text;
    return 0;
}
