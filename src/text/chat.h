/* chat.h: chat templates without a Jinja interpreter. A template family is recognised
 * from distinctive substrings of `tokenizer.chat_template` (or picked by name) and the
 * conversation is formatted natively; for plain system/user/assistant messages the output
 * equals, byte for byte, what jinja2 renders from the model's own template
 * (tests/data/chat holds the rendered references). The render also says which bytes came
 * from the messages, so that tokenizing it can keep control tokens out of them. Tool
 * results (role "tool") are rendered by the families whose templates take them (Kimi-K2,
 * DeepSeek-V3.1, R1-0528); assistant tool calls are not supported. */
#ifndef LATTE_TEXT_CHAT_H
#define LATTE_TEXT_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "text/tok.h"

typedef struct chat_msg {
    const char *role;    /* "system", "user", "assistant" (or "tool" where supported) */
    const char *content; /* UTF-8, NUL-terminated */
} chat_msg;

typedef enum chat_kind {
    CHAT_CHATML,            /* plain <|im_start|>role\n...<|im_end|>\n, no default system */
    CHAT_QWEN2,             /* ChatML, default system "You are a helpful assistant." */
    CHAT_SMOLLM2,           /* ChatML, SmolLM2's default system prompt */
    CHAT_QWEN3,             /* ChatML with Qwen3's <think> handling of assistant turns */
    CHAT_DEEPSEEK2,         /* "User: ...\n\nAssistant: ..." (DeepSeek-V2 / V2-Lite chat) */
    CHAT_DEEPSEEK3,         /* <｜User｜>/<｜Assistant｜>, all system prompts joined (V3) */
    CHAT_DEEPSEEK_R1,       /* as V3, last system prompt, reasoning dropped from history */
    CHAT_DEEPSEEK_R1_THINK, /* as R1, the generation prompt also opens <think>\n */
    CHAT_LLAMA3,            /* Llama 3 instruct headers, content trimmed */
    CHAT_LLAMA31,           /* Llama 3.1: system header with knowledge/today dates */
    CHAT_DEEPSEEK_R1_0528,  /* R1-0528: each user turn ends <｜Assistant｜>, reasoning dropped */
    CHAT_DEEPSEEK31,        /* DeepSeek-V3.1, thinking off: the prompt ends </think> */
    CHAT_DEEPSEEK31_THINK,  /* DeepSeek-V3.1 with thinking = true: the prompt ends <think> */
    CHAT_KIMI_K2,           /* Kimi-K2: <|im_user|>user<|im_middle|>...<|im_end|> */
    CHAT_KIND_COUNT
} chat_kind;

/* Returns the canonical name of kind ("chatml", "deepseek3", ...), or "?" if out of range. */
const char *chat_kind_name(chat_kind kind);

/* Picks the family: by name when name != NULL (canonical names plus a few aliases such as
 * "deepseek-v3", "llama3.1"), else by recognising template_text. An unknown name, a NULL or
 * unrecognised template: LATTE_E_UNSUPPORTED with a message that lists the names and says
 * to pass --chat-template NAME. *out is written only on success. */
int chat_kind_pick(const char *name, const char *template_text, chat_kind *out, latte_err *err);

/* A rendered conversation. */
typedef struct chat_text {
    char *text;       /* NUL-terminated (malloc'ed) */
    size_t len;
    tok_range *plain; /* the bytes copied from message contents: sorted, disjoint, merged
                         where adjacent (malloc'ed; NULL when n_plain == 0) */
    size_t n_plain;
} chat_text;

/* As chat_format, and also returns where the messages' own text lies in the result
 * (everything else is the template's markup). Free with chat_text_free. */
int chat_render(chat_kind kind, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                const char *bos_text, chat_text *out, latte_err *err);
void chat_text_free(chat_text *t);

/* Formats msgs[0..n) for kind; *out is malloc'ed and NUL-terminated (caller frees; NULL
 * on failure). bos_text is the BOS token's text, used by the
 * families whose template starts with bos_token (DeepSeek, Llama); NULL means "". Returns 0,
 * LATTE_E_ARG for a role the family does not take (system/user/assistant always, tool for
 * Kimi-K2, DeepSeek-V3.1 and R1-0528) or a NULL content, or
 * LATTE_E_NOMEM. */
int chat_format(chat_kind kind, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                const char *bos_text, char **out, latte_err *err);

/* Splits generated assistant text (R1 / Qwen3 style) into reasoning and answer:
 * - "...<think>R</think>A": think = R (between the tags, as is), answer = A after leading
 *   whitespace; text before "<think>" is ignored; without an opening tag (the prompt opened
 *   it) the reasoning starts at 0;
 * - "<think>R" with no closing tag yet: think = R up to len, answer empty (at len);
 * - no tags: think empty (0,0), answer = the whole text (0).
 * Offsets are byte indices into text; think_begin <= think_end <= answer_begin <= len. */
void chat_split_reasoning(const char *text, size_t len, size_t *think_begin, size_t *think_end,
                          size_t *answer_begin);

#endif
