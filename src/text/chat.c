/* chat.c: names of the chat template families, recognising a family from the template
 * text, and splitting generated reasoning from the answer. The formatters themselves live
 * in chat_format.c. Recognition looks for substrings that only the official template of
 * one family contains; anything ambiguous is refused rather than guessed, because a wrong
 * template silently degrades a model. */
#include "text/chat.h"

#include <string.h>

static const struct {
    const char *name;
    chat_kind kind;
} chat_names[] = {
    {"chatml", CHAT_CHATML},
    {"qwen2", CHAT_QWEN2},
    {"smollm2", CHAT_SMOLLM2},
    {"qwen3", CHAT_QWEN3},
    {"deepseek2", CHAT_DEEPSEEK2},
    {"deepseek3", CHAT_DEEPSEEK3},
    {"deepseek-r1", CHAT_DEEPSEEK_R1},
    {"deepseek-r1-think", CHAT_DEEPSEEK_R1_THINK},
    {"llama3", CHAT_LLAMA3},
    {"llama3.1", CHAT_LLAMA31},
    {"deepseek-r1-0528", CHAT_DEEPSEEK_R1_0528},
    {"deepseek3.1", CHAT_DEEPSEEK31},
    {"deepseek3.1-think", CHAT_DEEPSEEK31_THINK},
    {"kimi-k2", CHAT_KIMI_K2},
    /* aliases (after the canonical names so chat_kind_name finds those first) */
    {"deepseek-v2", CHAT_DEEPSEEK2},
    {"deepseek-v3", CHAT_DEEPSEEK3},
    {"llama31", CHAT_LLAMA31},
    {"deepseek-v3.1", CHAT_DEEPSEEK31},
    {"deepseek-v3.1-think", CHAT_DEEPSEEK31_THINK},
    {"kimi", CHAT_KIMI_K2},
};
#define CHAT_N_NAMES (sizeof chat_names / sizeof chat_names[0])

#define CHAT_NAME_LIST                                                                        \
    "chatml, qwen2, smollm2, qwen3, deepseek2, deepseek3, deepseek-r1, deepseek-r1-think, " \
    "llama3, llama3.1, deepseek-r1-0528, deepseek3.1, deepseek3.1-think, kimi-k2"

const char *chat_kind_name(chat_kind kind) {
    for (size_t i = 0; i < CHAT_N_NAMES; i++)
        if (chat_names[i].kind == kind) return chat_names[i].name;
    return "?";
}

static bool has(const char *text, const char *needle) { return strstr(text, needle) != NULL; }

/* Returns the family of template text t, or -1 when no family is recognised. */
static int chat_detect(const char *t) {
    if (has(t, "<｜User｜>") && has(t, "<｜Assistant｜>")) {
        if (has(t, "tool_calls") && !has(t, "</think>")) return CHAT_DEEPSEEK3;
        /* V3.1: the thinking switch (off unless the caller sets it; deepseek3.1-think sets
         * it); V3.2's template, which adds prefix turns, is not this one */
        if (has(t, "thinking") && has(t, "'<｜Assistant｜></think>'") &&
            has(t, "split('</think>', 1)[1]") && has(t, "ns.is_last_user and not ns.is_tool") &&
            !has(t, "is_prefix") && !has(t, "is_only_sys"))
            return CHAT_DEEPSEEK31;
        /* R1-0528 (and its Qwen3-8B distill): the user turn itself opens the assistant's */
        if (has(t, "{{'<｜User｜>' + content + '<｜Assistant｜>'}}") &&
            has(t, "content.split('</think>')[-1]") &&
            has(t, "add_generation_prompt and not ns.is_last_user and not ns.is_tool") &&
            !has(t, "enable_thinking") && !has(t, "thinking is defined"))
            return CHAT_DEEPSEEK_R1_0528;
        if (has(t, "split('</think>')[-1]")) {
            if (has(t, "{{'<｜Assistant｜><think>\\n'}}")) return CHAT_DEEPSEEK_R1_THINK;
            if (has(t, "{{'<｜Assistant｜>'}}")) return CHAT_DEEPSEEK_R1;
        }
        return -1;
    }
    if (has(t, "'User: '") && has(t, "'Assistant: '") && has(t, "'Assistant:'") &&
        has(t, "eos_token"))
        return CHAT_DEEPSEEK2;
    if (has(t, "<|im_user|>") && has(t, "<|im_assistant|>") && has(t, "<|im_middle|>")) {
        /* Kimi-K2-Instruct; K2-Thinking's template (another default prompt, <think> in
         * assistant turns) is not this one */
        if (has(t, "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>") &&
            !has(t, "<think>"))
            return CHAT_KIMI_K2;
        return -1;
    }
    if (has(t, "<|start_header_id|>") && has(t, "<|eot_id|>")) {
        if (has(t, "Cutting Knowledge Date: December 2023") && has(t, "\"26 Jul 2024\"") &&
            !has(t, "strftime_now"))
            return CHAT_LLAMA31;
        if (!has(t, "Cutting Knowledge") && has(t, "| trim")) return CHAT_LLAMA3;
        return -1;
    }
    if (has(t, "<|im_start|>") && has(t, "<|im_end|>")) {
        if (has(t, "reasoning_content") && has(t, "</think>") && has(t, "last_query_index"))
            return CHAT_QWEN3;
        if (has(t, "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
            return CHAT_SMOLLM2;
        if (has(t, "system\\nYou are a helpful assistant.<|im_end|>") ||
            has(t, "system\nYou are a helpful assistant.<|im_end|>"))
            return has(t, "tools") ? -1 : CHAT_QWEN2;
        /* plain ChatML: no default system prompt, no tools, no reasoning handling */
        if (!has(t, "You are") && !has(t, "tools") && !has(t, "think") &&
            !has(t, "messages[0]"))
            return CHAT_CHATML;
    }
    return -1;
}

int chat_kind_pick(const char *name, const char *template_text, chat_kind *out, latte_err *err) {
    if (name) {
        for (size_t i = 0; i < CHAT_N_NAMES; i++) {
            if (strcmp(chat_names[i].name, name) == 0) {
                *out = chat_names[i].kind;
                return 0;
            }
        }
        return err_set(err, LATTE_E_UNSUPPORTED,
                       "chat template name '%s' is unknown; pass --chat-template NAME with one "
                       "of: " CHAT_NAME_LIST,
                       name);
    }
    if (!template_text)
        return err_set(err, LATTE_E_UNSUPPORTED,
                       "the model has no tokenizer.chat_template; pass --chat-template NAME with "
                       "one of: " CHAT_NAME_LIST);
    int k = chat_detect(template_text);
    if (k < 0)
        return err_set(err, LATTE_E_UNSUPPORTED,
                       "the model's chat template (%zu bytes) is not one latte recognises; pass "
                       "--chat-template NAME with one of: " CHAT_NAME_LIST,
                       strlen(template_text));
    *out = (chat_kind)k;
    return 0;
}

/* Returns the offset of the first occurrence of needle in text[from..len), or len. */
static size_t find_from(const char *text, size_t len, size_t from, const char *needle) {
    size_t nl = strlen(needle);
    for (size_t i = from; i + nl <= len; i++)
        if (memcmp(text + i, needle, nl) == 0) return i;
    return len;
}

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

void chat_split_reasoning(const char *text, size_t len, size_t *think_begin, size_t *think_end,
                          size_t *answer_begin) {
    static const char open[] = "<think>", close[] = "</think>";
    size_t c = find_from(text, len, 0, close);
    if (c < len) {
        size_t tb = 0;
        for (size_t o = find_from(text, c, 0, open); o < c; o = find_from(text, c, o + 1, open))
            tb = o + sizeof open - 1;
        size_t ab = c + sizeof close - 1;
        while (ab < len && is_ws(text[ab])) ab++;
        *think_begin = tb, *think_end = c, *answer_begin = ab;
        return;
    }
    size_t s = 0;
    while (s < len && is_ws(text[s])) s++;
    if (len - s >= sizeof open - 1 && memcmp(text + s, open, sizeof open - 1) == 0) {
        *think_begin = s + sizeof open - 1, *think_end = len, *answer_begin = len;
        return;
    }
    *think_begin = 0, *think_end = 0, *answer_begin = 0;
}
