/* args.c: the parser and --help over a command's flag table (flags.c). Every value is
 * checked: numbers parse whole and lie in range, names are one of the choices, a value that
 * is itself a flag is refused (`-p -n 4`), words that are no flag are refused unless the
 * command takes a positional argument. `--flag=value` works for short spellings too. A flag
 * of another command is an error naming the commands that take it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static bool flag_named(const cli_flag *f, const char *name) {
    return (f->s && !strcmp(f->s, name)) || (f->l && !strcmp(f->l, name));
}

static const cli_flag *find_flag(const cli_command *cmd, const char *name) {
    for (const cli_group *const *g = cmd->groups; *g; g++)
        for (size_t i = 0; i < (*g)->n; i++)
            if (flag_named(&(*g)->flags[i], name)) return &(*g)->flags[i];
    return NULL;
}

/* Writes the names of the commands that take the flag into buf; returns how many. */
static int owners(const char *name, char *buf, size_t cap) {
    int n = 0;
    buf[0] = 0;
    for (const cli_command *c = CLI_COMMANDS; c->name; c++) {
        if (!find_flag(c, name)) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", n ? ", " : "", c->name);
        n++;
    }
    return n;
}

static int bad(const char *flag, const char *val, const char *why) {
    fprintf(stderr, "error: %s '%s': %s\n", flag, val, why);
    return CLI_USAGE;
}

static int out_of_range(const cli_flag *f, const char *name, const char *v) {
    char why[96];
    snprintf(why, sizeof why, "must be in %s%g, %g]", f->lo_open ? "(" : "[", f->lo, f->hi);
    return bad(name, v, why);
}

static int parse_choice(const cli_flag *f, const char *name, const char *v, int *out) {
    for (const cli_choice *c = f->choices; c->name; c++)
        if (!strcmp(c->name, v)) { *out = c->value; return 0; }
    char why[160] = "expected one of";
    for (const cli_choice *c = f->choices; c->name; c++) {
        size_t len = strlen(why);
        snprintf(why + len, sizeof why - len, "%s %s", c == f->choices ? "" : ",", c->name);
    }
    return bad(name, v, why);
}

static int parse_int(const cli_flag *f, const char *name, const char *v, const char **end, long *out) {
    char *e;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || e == v) return bad(name, v, "not an integer");
    if (x < f->lo || x > f->hi) return out_of_range(f, name, v);
    *end = e;
    *out = x;
    return 0;
}

static int list_push(cli_ints *l, const char *name, const char *v, long x) {
    if (l->n >= CLI_MAX_LIST) return bad(name, v, "too many values");
    l->v[l->n++] = (int)x;
    return 0;
}

/* One element of a list: a choice name, an integer, or a range A-B, A-B+S, A-B*M. */
static int parse_list_item(const cli_flag *f, const char *name, const char *item, cli_ints *l) {
    if (f->choices) {
        int x;
        int rc = parse_choice(f, name, item, &x);
        return rc ? rc : list_push(l, name, item, x);
    }
    const char *e;
    long a, b, step = 1;
    int rc = parse_int(f, name, item, &e, &a);
    if (rc) return rc;
    if (!*e) return list_push(l, name, item, a);
    if (*e != '-' || (rc = parse_int(f, name, e + 1, &e, &b))) return rc ? rc : bad(name, item, "not an integer or range");
    char op = *e ? *e : '+';
    if (*e && (op != '+' && op != '*')) return bad(name, item, "a range is A-B, A-B+STEP or A-B*FACTOR");
    if (*e) {
        char *e2;
        errno = 0;
        step = strtol(e + 1, &e2, 10);
        if (errno || e2 == e + 1 || *e2 || step < (op == '*' ? 2 : 1) || step > (1 << 30))
            return bad(name, item, "bad range step");
    }
    if (b < a) return bad(name, item, "a range must not run backwards");
    for (long x = a; x <= b; x = op == '*' ? x * step : x + step) {
        if ((rc = list_push(l, name, item, x))) return rc;
        if (op == '*' && x == 0) break;
    }
    return 0;
}

/* Splits a comma list into items (each at most 63 bytes) and parses them into l. */
static int parse_list(const cli_flag *f, const char *name, const char *v, cli_ints *l, int want_n) {
    int before = l->n;
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item) return bad(name, v, "empty or overlong list item");
        memcpy(item, p, len);
        item[len] = 0;
        int rc = parse_list_item(f, name, item, l);
        if (rc) return rc;
        if (!comma) break;
        p = comma + 1;
    }
    if (want_n && l->n - before != want_n) return bad(name, v, "expected two integers PP,TG");
    return 0;
}

/* Stores value v of flag f (spelled name) into o. */
static int set(const cli_flag *f, const char *name, const char *v, cli_opts *o) {
    void *dst = (char *)o + f->off;
    char *end;
    errno = 0;
    switch (f->type) {
    case CLI_STR: *(const char **)dst = v; return 0;
    case CLI_BOOL: *(bool *)dst = true; return 0;
    case CLI_NOTE:
    case CLI_NOTE_VALUE: fprintf(stderr, "note: %s changes nothing: %s\n", name, f->help); return 0;
    case CLI_CHOICE:
    case CLI_OPT_CHOICE: return parse_choice(f, name, v, (int *)dst);
    case CLI_STRS: {
        cli_strs *l = dst;
        if (!*v) return bad(name, v, "must not be empty");
        if (l->n >= CLI_MAX_LIST) return bad(name, v, "given too often");
        l->v[l->n++] = v;
        return 0;
    }
    case CLI_INTS: return parse_list(f, name, v, dst, 0);
    case CLI_PAIRS: return parse_list(f, name, v, dst, 2);
    case CLI_INT: {
        const char *e;
        long x;
        int rc = parse_int(f, name, v, &e, &x);
        if (!rc && *e) rc = bad(name, v, "not an integer");
        if (!rc) *(int *)dst = (int)x;
        return rc;
    }
    case CLI_SEED: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < -1) return bad(name, v, "expected -1 (random) or a seed >= 0");
        *(long long *)dst = x;
        return 0;
    }
    case CLI_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end || !isfinite(x)) return bad(name, v, "not a number");
        if (x < f->lo || x > f->hi || (f->lo_open && x == f->lo)) return out_of_range(f, name, v);
        *(float *)dst = x;
        return 0;
    }
    }
    return CLI_USAGE;
}

static bool is_choice(const cli_flag *f, const char *v) {
    for (const cli_choice *c = f->choices; c->name; c++)
        if (!strcmp(c->name, v)) return true;
    return false;
}

/* A word that is some command's flag: never taken as a value (`-p -n 4`). */
static bool is_known_flag(const char *v) {
    if (v[0] != '-' || !isalpha((unsigned char)v[v[1] == '-' ? 2 : 1])) return false;
    char buf[64];
    return owners(v, buf, sizeof buf) > 0 || !strcmp(v, "-h") || !strcmp(v, "--help");
}

bool cli_given(const cli_opts *o, const char *name) {
    for (int i = 0; i < o->n_given; i++)
        if (flag_named(o->given[i], name)) return true;
    return false;
}

static void defaults(const cli_command *cmd, cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    for (const cli_group *const *g = cmd->groups; *g; g++)
        for (size_t i = 0; i < (*g)->n; i++) {
            const cli_flag *f = &(*g)->flags[i];
            if (f->def && set(f, f->l ? f->l : f->s, f->def, o)) abort(); /* our table is wrong */
        }
}

/* Marks f given; the first use of a list flag replaces its default list. */
static int mark_given(const cli_flag *f, cli_opts *o) {
    for (int i = 0; i < o->n_given; i++)
        if (o->given[i] == f) return 0;
    if (o->n_given >= CLI_MAX_GIVEN) return bad("flags", "...", "too many flags");
    o->given[o->n_given++] = f;
    if (f->def && (f->type == CLI_INTS || f->type == CLI_PAIRS)) ((cli_ints *)((char *)o + f->off))->n = 0;
    return 0;
}

static int positional(const cli_command *cmd, const char *a, cli_opts *o) {
    if (cmd->positional && !o->model) {
        o->model = a;
        return 0;
    }
    if (cmd->positional && o->args.n + 1 < cmd->n_positional && o->args.n < CLI_MAX_LIST) {
        o->args.v[o->args.n++] = a;
        return 0;
    }
    if (cmd->positional && cmd->n_positional > 1)
        fprintf(stderr, "error: unexpected argument '%s': %s takes %s\n", a, cmd->name, cmd->positional);
    else if (cmd->positional)
        fprintf(stderr, "error: unexpected argument '%s': %s takes one %s\n", a, cmd->name, cmd->positional);
    else
        fprintf(stderr, "error: unexpected argument '%s': %s takes flags only (quote text with spaces: -p \"...\")\n",
                a, cmd->name);
    return CLI_USAGE;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_opts *o) {
    defaults(cmd, o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            int rc = positional(cmd, a, o);
            if (rc) return rc;
            continue;
        }
        char name[64];
        const char *eq = strchr(a, '='), *val = eq ? eq + 1 : NULL;
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return bad("flag", a, "unknown flag");
        memcpy(name, a, nl);
        name[nl] = 0;
        const cli_flag *f = find_flag(cmd, name);
        if (!f) {
            char who[160];
            if (owners(name, who, sizeof who))
                fprintf(stderr, "error: %s is not a flag of %s (it is one of: %s); see `latte %s --help`\n", name,
                        cmd->name, who, cmd->name);
            else
                fprintf(stderr, "error: unknown flag %s; see `latte %s --help`\n", name, cmd->name);
            return CLI_USAGE;
        }
        if (f->type == CLI_BOOL || f->type == CLI_NOTE) {
            if (val) return bad(name, val, "takes no value");
        } else if (f->type == CLI_OPT_CHOICE) {
            if (!val) val = i + 1 < argc && is_choice(f, argv[i + 1]) ? argv[++i] : f->choices[0].name;
        } else if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: %s needs a value\n", name);
                return CLI_USAGE;
            }
            val = argv[++i];
            if (is_known_flag(val)) {
                fprintf(stderr, "error: %s needs a value but got the flag %s (write %s=%s to mean the text)\n",
                        name, val, name, val);
                return CLI_USAGE;
            }
        }
        int rc = mark_given(f, o);
        if (!rc) rc = set(f, name, val ? val : "", o);
        if (rc) return rc;
    }
    return 0;
}

static void print_flag(const cli_flag *f) {
    char spell[64];
    snprintf(spell, sizeof spell, "%s%s%s%s%s", f->s ? f->s : "", f->s && f->l ? ", " : "", f->l ? f->l : "",
             f->meta ? " " : "", f->meta ? f->meta : "");
    printf("  %-38s %s", spell, f->help);
    if (f->choices && (f->type == CLI_CHOICE || f->type == CLI_INTS)) {
        printf(" (");
        for (const cli_choice *c = f->choices; c->name; c++) printf("%s%s", c == f->choices ? "" : ", ", c->name);
        printf(")");
    }
    if (f->def) printf(" [default: %s]", f->def);
    printf("\n");
}

void cli_usage(const cli_command *cmd) {
    printf("usage: latte %s %s\n%s\n", cmd->name, cmd->usage, cmd->summary);
    for (const cli_group *const *g = cmd->groups; *g; g++) {
        if ((*g)->title[0]) printf("\n%s:\n", (*g)->title);
        for (size_t i = 0; i < (*g)->n; i++) print_flag(&(*g)->flags[i]);
    }
}
