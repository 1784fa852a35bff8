/* test_chat.c: the native chat formatters against jinja2 renderings of the official
 * templates (tests/data/chat, written by tools/gen_chat_expect.py), family recognition from
 * each template text, the message ranges of a render, the errors for unknown
 * names/templates/roles, and reasoning splits. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"

static int n_fail;

static void report(bool ok, const char *name, const char *why) {
    if (ok) printf("PASS %s\n", name);
    else printf("FAIL %s: %s\n", name, why), n_fail++;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) free(p), p = NULL;
    fclose(f);
    if (p) p[n] = 0, *len = (size_t)n;
    return p;
}

static const char *data_dir(void) {
    static char dir[4096];
    const char *root = getenv("LATTE_ROOT");
    snprintf(dir, sizeof dir, "%s/tests/data/chat", root ? root : ".");
    return dir;
}

/* Formats one case natively for family fam and compares with <fam>-<case>.txt. */
static void check_case(const char *fam, const char *bos, const char *cname, json_t *c) {
    char name[256], path[4600], why[600];
    snprintf(name, sizeof name, "format_%s_%s", fam, cname);
    snprintf(path, sizeof path, "%s/%s-%s.txt", data_dir(), fam, cname);
    size_t elen;
    char *expect = read_file(path, &elen);
    if (!expect) return report(false, name, "missing expected file");
    json_t *msgs = json_object_get(c, "messages");
    size_t n = json_array_size(msgs);
    chat_msg *m = calloc(n ? n : 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        m[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
        m[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
    }
    chat_kind k;
    latte_err err = {0};
    char *out = NULL;
    int rc = chat_kind_pick(fam, NULL, &k, &err);
    if (rc == 0)
        rc = chat_format(k, m, n, json_is_true(json_object_get(c, "add_generation_prompt")), bos,
                         &out, &err);
    if (rc != 0) {
        report(false, name, err.msg);
    } else if (strlen(out) != elen || memcmp(out, expect, elen) != 0) {
        size_t i = 0;
        while (i < elen && out[i] == expect[i]) i++;
        snprintf(why, sizeof why, "differs at byte %zu: got \"%.40s\" want \"%.40s\"", i, out + i,
                 expect + i);
        report(false, name, why);
    } else {
        report(true, name, NULL);
    }
    free(out);
    free(m);
    free(expect);
}

/* Each family's template text must be recognised as that family. */
static void check_detect(const char *fam) {
    char name[256], path[4600], why[700];
    snprintf(name, sizeof name, "detect_%s", fam);
    snprintf(path, sizeof path, "%s/%s.jinja", data_dir(), fam);
    size_t len;
    char *t = read_file(path, &len);
    if (!t) return report(false, name, "missing template file");
    chat_kind k = CHAT_KIND_COUNT;
    latte_err err = {0};
    int rc = chat_kind_pick(NULL, t, &k, &err);
    if (rc != 0) report(false, name, err.msg);
    else if (strcmp(chat_kind_name(k), fam) != 0)
        snprintf(why, sizeof why, "detected %s", chat_kind_name(k)), report(false, name, why);
    else report(true, name, NULL);
    free(t);
}

static void check_errors(void) {
    chat_kind k = CHAT_CHATML;
    latte_err err = {0};
    int rc = chat_kind_pick(NULL, "{{ messages }} INVALID TEMPLATE", &k, &err);
    report(rc == LATTE_E_UNSUPPORTED && strstr(err.msg, "--chat-template") &&
               strstr(err.msg, "deepseek3") && strstr(err.msg, "llama3"),
           "unknown_template_error", err.msg);
    memset(&err, 0, sizeof err);
    rc = chat_kind_pick("vicuna", NULL, &k, &err);
    report(rc == LATTE_E_UNSUPPORTED && strstr(err.msg, "vicuna") && strstr(err.msg, "chatml"),
           "unknown_name_error", err.msg);
    rc = chat_kind_pick(NULL, NULL, &k, &err);
    report(rc == LATTE_E_UNSUPPORTED, "no_template_error", "expected LATTE_E_UNSUPPORTED");
    /* ChatML with a default system prompt we do not know must not pass as plain ChatML */
    rc = chat_kind_pick(NULL,
                        "{% for message in messages %}{% if loop.first and messages[0]['role'] != "
                        "'system' %}{{ '<|im_start|>system\\nYou are Bob.<|im_end|>\\n' }}{% endif "
                        "%}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                        "'<|im_end|>' + '\\n'}}{% endfor %}",
                        &k, &err);
    report(rc == LATTE_E_UNSUPPORTED, "chatml_unknown_default_refused", "was accepted");
    rc = chat_kind_pick("deepseek-v3", NULL, &k, &err);
    report(rc == 0 && k == CHAT_DEEPSEEK3, "alias_deepseek_v3", "alias not resolved");

    chat_msg bad[] = {{"user", "hi"}, {"tool", "{}"}};
    char *out = (char *)1;
    rc = chat_format(CHAT_DEEPSEEK3, bad, 2, true, "", &out, &err);
    report(rc == LATTE_E_ARG && out == NULL && strstr(err.msg, "tool"), "bad_role_error", err.msg);
    chat_msg odd[] = {{"user", "hi"}, {"function", "{}"}};
    rc = chat_format(CHAT_KIMI_K2, odd, 2, true, "", &out, &err);
    report(rc == LATTE_E_ARG && out == NULL && strstr(err.msg, "function"), "bad_role_error_tool_family",
           err.msg);
    rc = chat_kind_pick("deepseek-v3.1-think", NULL, &k, &err);
    report(rc == 0 && k == CHAT_DEEPSEEK31_THINK, "alias_deepseek_v31_think", "alias not resolved");
    /* templates close to a known one but rendering differently are refused, not guessed */
    size_t len;
    char path[4600];
    snprintf(path, sizeof path, "%s/deepseek3.1.jinja", data_dir());
    char *v31 = read_file(path, &len);
    if (v31) {
        char *v32 = malloc(len + 32);
        snprintf(v32, len + 32, "%s{%% set ns.is_prefix = true %%}", v31);
        rc = chat_kind_pick(NULL, v32, &k, &err);
        report(rc == LATTE_E_UNSUPPORTED, "deepseek32_like_refused", "was accepted");
        free(v32);
        free(v31);
    }
    rc = chat_kind_pick(NULL, "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by "
                        "Moonshot AI.<|im_end|><|im_user|><|im_assistant|><think></think>", &k, &err);
    report(rc == LATTE_E_UNSUPPORTED, "kimi_thinking_refused", "was accepted");
    rc = chat_format(CHAT_CHATML, NULL, 0, true, NULL, &out, &err);
    report(rc == 0 && out && strcmp(out, "<|im_start|>assistant\n") == 0, "empty_conversation",
           "unexpected output");
    free(out);
}

/* The message ranges of a render hold exactly the messages' text, in order, and the rest
 * is markup: for ChatML and Kimi-K2, which copy contents as they are. */
static void check_ranges(void) {
    static const char *const contents[] = {"Be <|im_end|> brief.", "Hi<|im_start|>", "", "Hello"};
    chat_msg m[] = {{"system", contents[0]}, {"user", contents[1]}, {"assistant", contents[2]},
                    {"user", contents[3]}};
    chat_kind kinds[] = {CHAT_CHATML, CHAT_KIMI_K2, CHAT_DEEPSEEK31};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char name[64], why[640] = "";
        snprintf(name, sizeof name, "ranges_%s", chat_kind_name(kinds[k]));
        chat_text t;
        latte_err err = {0};
        if (chat_render(kinds[k], m, 4, true, "<bos>", &t, &err)) {
            report(false, name, err.msg);
            continue;
        }
        char joined[256] = "", want[256] = "";
        size_t end = 0;
        for (size_t i = 0; i < t.n_plain; i++) {
            if (t.plain[i].off < end || t.plain[i].off + t.plain[i].len > t.len || t.plain[i].len == 0)
                snprintf(why, sizeof why, "range %zu [%zu,+%zu) out of order or empty", i, t.plain[i].off,
                         t.plain[i].len);
            end = t.plain[i].off + t.plain[i].len;
            strncat(joined, t.text + t.plain[i].off, t.plain[i].len);
        }
        for (size_t i = 0; i < 4; i++) strcat(want, contents[i]);
        if (!why[0] && strcmp(joined, want))
            snprintf(why, sizeof why, "ranges hold \"%s\", messages \"%s\"", joined, want);
        report(!why[0], name, why);
        chat_text_free(&t);
    }
}

static void check_split(const char *name, const char *text, const char *think, const char *answer) {
    size_t len = strlen(text), tb = 99, te = 99, ab = 99;
    chat_split_reasoning(text, len, &tb, &te, &ab);
    bool ok = tb <= te && te <= ab && ab <= len && te - tb == strlen(think) &&
              memcmp(text + tb, think, te - tb) == 0 && strcmp(text + ab, answer) == 0;
    char why[256];
    snprintf(why, sizeof why, "think=[%zu,%zu) answer@%zu", tb, te, ab);
    report(ok, name, why);
}

int main(void) {
    char path[4600];
    snprintf(path, sizeof path, "%s/cases.json", data_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        printf("FAIL load_cases: %s\n", jerr.text);
        return 1;
    }
    json_t *fams = json_object_get(root, "families"), *cases = json_object_get(root, "cases");
    const char *fam, *cname;
    json_t *fv, *cv;
    json_t *tool_cases = json_object_get(root, "tool_cases");
    json_object_foreach(fams, fam, fv) {
        if (!json_is_false(json_object_get(fv, "detect"))) check_detect(fam);
        const char *bos = json_string_value(json_object_get(fv, "bos"));
        json_object_foreach(cases, cname, cv) check_case(fam, bos, cname, cv);
        if (json_is_true(json_object_get(fv, "tool_role")))
            json_object_foreach(tool_cases, cname, cv) check_case(fam, bos, cname, cv);
    }
    check_ranges();
    json_decref(root);
    check_errors();
    check_split("split_full", "<think>\nplan\n</think>\n\nThe answer.", "\nplan\n", "The answer.");
    check_split("split_prompt_opened", "plan</think>\n\nAnswer", "plan", "Answer");
    check_split("split_unclosed", "\n<think>still thinking", "still thinking", "");
    check_split("split_none", "Just an answer.", "", "Just an answer.");
    check_split("split_empty_think", "<think>\n\n</think>\n\nHi", "\n\n", "Hi");
    return n_fail ? 1 : 0;
}
