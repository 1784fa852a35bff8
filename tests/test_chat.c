/* test_chat.c: the native chat formatters against jinja2 renderings of the official
 * templates (tests/data/chat, written by tools/gen_chat_expect.py), family recognition from
 * each template text, the errors for unknown names/templates/roles, and reasoning splits. */
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
    rc = chat_format(CHAT_CHATML, NULL, 0, true, NULL, &out, &err);
    report(rc == 0 && out && strcmp(out, "<|im_start|>assistant\n") == 0, "empty_conversation",
           "unexpected output");
    free(out);
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
    json_object_foreach(fams, fam, fv) {
        check_detect(fam);
        json_object_foreach(cases, cname, cv)
            check_case(fam, json_string_value(json_object_get(fv, "bos")), cname, cv);
    }
    json_decref(root);
    check_errors();
    check_split("split_full", "<think>\nplan\n</think>\n\nThe answer.", "\nplan\n", "The answer.");
    check_split("split_prompt_opened", "plan</think>\n\nAnswer", "plan", "Answer");
    check_split("split_unclosed", "\n<think>still thinking", "still thinking", "");
    check_split("split_none", "Just an answer.", "", "Just an answer.");
    check_split("split_empty_think", "<think>\n\n</think>\n\nHi", "\n\n", "Hi");
    return n_fail ? 1 : 0;
}
