/* json_guide.c: a JSON schema as a tree of nodes, and a pushdown automaton that reads JSON
 * text one byte at a time against it. A frame on the stack is one value being read (an
 * object, its key, an array, a string, a number, one of a set of literals); a finished
 * value pops itself, its parent already waits in the phase that follows a value. Frames are
 * a few bytes, so trying a token on a copy of the stack is cheap: masking a 49k vocabulary
 * first tries each of the 256 bytes once, then whole tokens only where the first byte fits. */
#include "json_guide.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 256
#define MAX_DEPTH 32
#define MAX_PROPS 64
#define MAX_WS 16       /* whitespace in a row: a model must not pad forever */
#define MAX_NUM_LEN 24

typedef enum { N_ANY, N_OBJECT, N_ARRAY, N_STRING, N_NUMBER, N_INTEGER, N_LITS } node_kind;

typedef struct node {
    node_kind kind;
    int n_props;               /* object: declared properties (0: any keys, any values) */
    char **names;
    int *props;                /* node of each property */
    uint64_t required;
    int items;                 /* array: node of the items */
    int min_n, max_n;          /* array items / string characters (max -1: none) */
    char **lits;               /* literal texts (enum, const, boolean, null) */
    int n_lits;
} node;

typedef enum { F_VALUE, F_OBJ, F_KEY, F_ARR, F_STR, F_NUM, F_LIT } frame_kind;
enum { OBJ_OPEN, OBJ_NEXT_KEY, OBJ_COLON, OBJ_AFTER_VALUE };
enum { ARR_OPEN, ARR_AFTER_VALUE };
enum { NUM_START, NUM_MINUS, NUM_ZERO, NUM_INT, NUM_DOT, NUM_FRAC, NUM_E, NUM_ESIGN, NUM_EXP };

typedef struct frame {
    uint8_t kind, phase;
    uint8_t key;               /* F_STR: the string is an object key (free keys) */
    int16_t node;
    int16_t prop;              /* F_OBJ: the property whose value comes next */
    int32_t len;               /* characters / items / literal bytes so far */
    uint64_t mask;             /* F_OBJ: properties seen; F_KEY, F_LIT: candidates left */
} frame;

typedef struct gstate {
    int depth, ws;
    frame f[MAX_DEPTH];
} gstate;

struct json_guide {
    node nodes[MAX_NODES];
    int n_nodes;
    gstate st;
};

/* ---- schema ---- */

typedef struct perr {
    char *msg;
    size_t cap;
} perr;

static int fail(perr *e, const char *what) {
    snprintf(e->msg, e->cap, "response_format schema: %s", what);
    return -1;
}

static int new_node(json_guide *g, node_kind k, perr *e) {
    if (g->n_nodes >= MAX_NODES) return fail(e, "too many sub-schemas");
    node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = k;
    n->max_n = -1;
    return g->n_nodes++;
}

static int add_lit(json_guide *g, int id, json_t *v, perr *e) {
    node *n = &g->nodes[id];
    if (n->n_lits >= 64) return fail(e, "an enum has more than 64 values");
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char **nl = text ? realloc(n->lits, sizeof *nl * (size_t)(n->n_lits + 1)) : NULL;
    if (!nl) { free(text); return fail(e, "out of memory"); }
    n->lits = nl;
    n->lits[n->n_lits++] = text;
    return 0;
}

static int parse_node(json_guide *g, json_t *s, int depth, perr *e);

static int parse_object(json_guide *g, int id, json_t *s, int depth, perr *e) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"), *v;
    const char *k;
    size_t i;
    if (props && !json_is_object(props)) return fail(e, "\"properties\" must be an object");
    if (props && json_object_size(props) > MAX_PROPS) return fail(e, "more than 64 properties");
    int n = props ? (int)json_object_size(props) : 0;
    g->nodes[id].names = calloc((size_t)n + 1, sizeof(char *));
    g->nodes[id].props = calloc((size_t)n + 1, sizeof(int));
    if (!g->nodes[id].names || !g->nodes[id].props) return fail(e, "out of memory");
    json_object_foreach(props, k, v) {
        if (strpbrk(k, "\"\\") || !*k) return fail(e, "property names must be plain text");
        int c = parse_node(g, v, depth + 1, e);
        if (c < 0) return -1;
        node *nd = &g->nodes[id];
        if (!(nd->names[nd->n_props] = strdup(k))) return fail(e, "out of memory");
        nd->props[nd->n_props++] = c;
    }
    if (req && !json_is_array(req)) return fail(e, "\"required\" must be an array of names");
    json_array_foreach(req, i, v) {
        node *nd = &g->nodes[id];
        int p = 0;
        while (p < nd->n_props && (!json_is_string(v) || strcmp(nd->names[p], json_string_value(v)))) p++;
        if (p == nd->n_props) return fail(e, "a \"required\" name is not among the properties");
        nd->required |= 1ull << p;
    }
    return 0;
}

static int get_count(json_t *s, const char *key, int *out, perr *e) {
    json_t *v = json_object_get(s, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000)
        return fail(e, "a min/max count is not an integer in [0, 100000]");
    *out = (int)json_integer_value(v);
    return 0;
}

static int parse_node(json_guide *g, json_t *s, int depth, perr *e) {
    static const char *const refused[] = {"pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                          "multipleOf", "anyOf", "oneOf", "allOf", "not", "$ref", "if",
                                          "patternProperties", "prefixItems", "uniqueItems", NULL};
    if (depth > 12) return fail(e, "nested too deep");
    if (!json_is_object(s)) return fail(e, "every sub-schema must be an object");
    for (int i = 0; refused[i]; i++)
        if (json_object_get(s, refused[i])) {
            char why[96];
            snprintf(why, sizeof why, "\"%s\" is not supported", refused[i]);
            return fail(e, why);
        }
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const"), *v;
    size_t i;
    if (en || cn) {
        int id = new_node(g, N_LITS, e);
        if (id < 0) return -1;
        if (en && (!json_is_array(en) || !json_array_size(en))) return fail(e, "\"enum\" must be a non-empty array");
        json_array_foreach(en, i, v) if (add_lit(g, id, v, e)) return -1;
        if (cn && add_lit(g, id, cn, e)) return -1;
        return id;
    }
    json_t *ty = json_object_get(s, "type");
    if (ty && !json_is_string(ty)) return fail(e, "\"type\" must be one type name");
    const char *t = ty ? json_string_value(ty) : json_object_get(s, "properties") ? "object"
                                                 : json_object_get(s, "items")    ? "array" : NULL;
    if (!t) return new_node(g, N_ANY, e);
    if (!strcmp(t, "boolean") || !strcmp(t, "null")) {
        int id = new_node(g, N_LITS, e);
        if (id < 0) return -1;
        if (!strcmp(t, "null")) return add_lit(g, id, json_null(), e) ? -1 : id;
        return add_lit(g, id, json_true(), e) || add_lit(g, id, json_false(), e) ? -1 : id;
    }
    static const struct { const char *name; node_kind k; } kinds[] = {
        {"object", N_OBJECT}, {"array", N_ARRAY}, {"string", N_STRING}, {"number", N_NUMBER}, {"integer", N_INTEGER}};
    for (size_t k = 0; k < 5; k++) {
        if (strcmp(t, kinds[k].name)) continue;
        int id = new_node(g, kinds[k].k, e);
        if (id < 0) return -1;
        if (kinds[k].k == N_OBJECT) return parse_object(g, id, s, depth, e) ? -1 : id;
        if (kinds[k].k == N_ARRAY) {
            json_t *it = json_object_get(s, "items");
            int c = it ? parse_node(g, it, depth + 1, e) : 0;
            if (c < 0) return -1;
            g->nodes[id].items = c;
            if (get_count(s, "minItems", &g->nodes[id].min_n, e) || get_count(s, "maxItems", &g->nodes[id].max_n, e))
                return -1;
        }
        if (kinds[k].k == N_STRING &&
            (get_count(s, "minLength", &g->nodes[id].min_n, e) || get_count(s, "maxLength", &g->nodes[id].max_n, e)))
            return -1;
        return id;
    }
    return fail(e, "an unknown \"type\"");
}

json_guide *guide_new(json_t *schema, char *msg, size_t cap) {
    json_guide *g = calloc(1, sizeof *g);
    perr e = {msg, cap};
    if (!g) { fail(&e, "out of memory"); return NULL; }
    int any = new_node(g, N_ANY, &e); /* node 0: any value (free objects' values, untyped items) */
    int root = schema ? parse_node(g, schema, 0, &e) : new_node(g, N_OBJECT, &e);
    if (any < 0 || root < 0) { guide_free(g); return NULL; }
    g->st.depth = 1;
    g->st.f[0] = (frame){.kind = F_VALUE, .node = (int16_t)root};
    return g;
}

void guide_free(json_guide *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        node *n = &g->nodes[i];
        for (int p = 0; p < n->n_props; p++) free(n->names[p]);
        for (int l = 0; l < n->n_lits; l++) free(n->lits[l]);
        free(n->names);
        free(n->props);
        free(n->lits);
    }
    free(g);
}

/* ---- the automaton ---- */

static bool is_ws(unsigned c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static bool push(gstate *s, frame f) {
    if (s->depth >= MAX_DEPTH) return false;
    s->f[s->depth++] = f;
    return true;
}

static uint64_t all_lits(const node *n) { return n->n_lits >= 64 ? ~0ull : (1ull << n->n_lits) - 1; }

/* Replaces the F_VALUE frame on top with the frame that reads a value of its node starting
 * with c; false when no such value starts with c. c itself is fed by the caller. */
static bool begin_value(const json_guide *g, gstate *s, unsigned c) {
    frame *f = &s->f[s->depth - 1];
    const node *n = &g->nodes[f->node];
    bool num_start = c == '-' || (c >= '0' && c <= '9');
    switch (n->kind) {
    case N_ANY:
        if (c == 't' || c == 'f' || c == 'n') { /* true, false, null: see any_lit */
            *f = (frame){.kind = F_LIT, .node = (int16_t)(c == 't' ? -1 : c == 'f' ? -2 : -3)};
            return true;
        }
        if (c == '{') { *f = (frame){.kind = F_OBJ, .node = f->node}; return true; }
        if (c == '[') { *f = (frame){.kind = F_ARR, .node = f->node}; return true; }
        if (c == '"') { *f = (frame){.kind = F_STR, .node = f->node}; return true; }
        if (num_start) { *f = (frame){.kind = F_NUM, .node = f->node}; return true; }
        return false;
    case N_OBJECT: if (c != '{') return false; f->kind = F_OBJ; return true;
    case N_ARRAY: if (c != '[') return false; f->kind = F_ARR; return true;
    case N_STRING: if (c != '"') return false; f->kind = F_STR; return true;
    case N_NUMBER:
    case N_INTEGER: if (!num_start) return false; f->kind = F_NUM; return true;
    case N_LITS: f->kind = F_LIT; f->mask = all_lits(n); return true;
    }
    return false;
}

static const char *any_lit(int16_t node) { return node == -1 ? "true" : node == -2 ? "false" : "null"; }

static bool num_final(int phase) { return phase == NUM_ZERO || phase == NUM_INT || phase == NUM_FRAC || phase == NUM_EXP; }

/* One byte of a number; false when it cannot continue it. */
static bool num_step(frame *f, bool integer, unsigned c) {
    bool digit = c >= '0' && c <= '9';
    int p = f->phase, np = -1;
    if (f->len >= MAX_NUM_LEN) return false;
    if (p == NUM_START) np = c == '-' ? NUM_MINUS : c == '0' ? NUM_ZERO : digit ? NUM_INT : -1;
    else if (p == NUM_MINUS) np = c == '0' ? NUM_ZERO : digit ? NUM_INT : -1;
    else if (p == NUM_ZERO || p == NUM_INT) {
        if (digit && p == NUM_INT) np = NUM_INT;
        else if (!integer && c == '.') np = NUM_DOT;
        else if (!integer && (c == 'e' || c == 'E')) np = NUM_E;
    } else if (p == NUM_DOT || p == NUM_FRAC) {
        if (digit) np = NUM_FRAC;
        else if (p == NUM_FRAC && (c == 'e' || c == 'E')) np = NUM_E;
    } else if (p == NUM_E) np = c == '+' || c == '-' ? NUM_ESIGN : digit ? NUM_EXP : -1;
    else if (p == NUM_ESIGN || p == NUM_EXP) np = digit ? NUM_EXP : -1;
    if (np < 0) return false;
    f->phase = (uint8_t)np;
    f->len++;
    return true;
}

/* A free key or string value ended: tell an object parent that its colon comes next. */
static void pop_string(gstate *s) {
    bool key = s->f[s->depth - 1].key;
    s->depth--;
    if (key) s->f[s->depth - 1].phase = OBJ_COLON;
}

static bool feed_obj(const json_guide *g, gstate *s, frame *f, unsigned c) {
    const node *n = &g->nodes[f->node];
    bool free_keys = n->kind == N_ANY || n->n_props == 0;
    uint64_t unseen = free_keys ? 1 : (n->n_props >= 64 ? ~0ull : (1ull << n->n_props) - 1) & ~f->mask;
    bool can_end = (n->required & ~f->mask) == 0;
    if (is_ws(c)) return ++s->ws <= MAX_WS;
    s->ws = 0;
    switch (f->phase) {
    case OBJ_OPEN:
    case OBJ_NEXT_KEY:
        if (c == '}' && f->phase == OBJ_OPEN && can_end) { s->depth--; return true; }
        if (c != '"' || !unseen) return false;
        f->phase = OBJ_COLON;
        if (free_keys) return push(s, (frame){.kind = F_STR, .key = 1, .node = 0});
        return push(s, (frame){.kind = F_KEY, .node = f->node, .mask = unseen});
    case OBJ_COLON: {
        if (c != ':') return false;
        f->phase = OBJ_AFTER_VALUE;
        int child = free_keys || f->prop < 0 ? 0 : n->props[f->prop];
        return push(s, (frame){.kind = F_VALUE, .node = (int16_t)child});
    }
    case OBJ_AFTER_VALUE:
        if (c == '}' && can_end) { s->depth--; return true; }
        if (c != ',' || !unseen) return false;
        f->phase = OBJ_NEXT_KEY;
        return true;
    }
    return false;
}

static bool feed_key(const json_guide *g, gstate *s, frame *f, unsigned c) {
    const node *n = &g->nodes[f->node];
    if (c == '"') {
        for (int p = 0; p < n->n_props; p++)
            if ((f->mask >> p & 1) && (int)strlen(n->names[p]) == f->len) {
                frame *obj = &s->f[s->depth - 2];
                obj->prop = (int16_t)p;
                obj->mask |= 1ull << p;
                s->depth--;
                return true;
            }
        return false;
    }
    uint64_t keep = 0;
    for (int p = 0; p < n->n_props; p++)
        if ((f->mask >> p & 1) && (int)strlen(n->names[p]) > f->len && (unsigned char)n->names[p][f->len] == c)
            keep |= 1ull << p;
    if (!keep) return false;
    f->mask = keep;
    f->len++;
    return true;
}

static bool feed(const json_guide *g, gstate *s, unsigned c);

static bool feed_arr(const json_guide *g, gstate *s, frame *f, unsigned c) {
    const node *n = &g->nodes[f->node];
    int items = n->kind == N_ANY ? 0 : n->items, min_n = n->kind == N_ANY ? 0 : n->min_n;
    int max_n = n->kind == N_ANY ? -1 : n->max_n;
    if (is_ws(c)) return ++s->ws <= MAX_WS;
    s->ws = 0;
    if (c == ']') {
        if (f->len < min_n) return false;
        s->depth--;
        return true;
    }
    if (f->phase == ARR_AFTER_VALUE && c != ',') return false;
    if (max_n >= 0 && f->len >= max_n) return false;
    bool open = f->phase == ARR_OPEN;
    f->phase = ARR_AFTER_VALUE;
    f->len++;
    if (!push(s, (frame){.kind = F_VALUE, .node = (int16_t)items})) return false;
    return open ? feed(g, s, c) : true; /* after '[' this byte starts the first item */
}

static bool feed_str(const json_guide *g, gstate *s, frame *f, unsigned c) {
    const node *n = &g->nodes[f->node];
    int min_n = n->kind == N_STRING ? n->min_n : 0, max_n = n->kind == N_STRING ? n->max_n : -1;
    bool counts = true;
    if (f->phase == 1) { /* after a backslash */
        if (c == 'u') { f->phase = 2; return true; }
        if (!strchr("\"\\/bfnrt", (int)c) || !c) return false;
        f->phase = 0;
    } else if (f->phase >= 2) { /* \uXXXX */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
        f->phase = f->phase == 5 ? 0 : f->phase + 1;
        if (f->phase) return true;
    } else if (c == '"') {
        if (f->len < min_n) return false;
        pop_string(s);
        return true;
    } else if (c == '\\') {
        f->phase = 1;
        return max_n < 0 || f->len < max_n;
    } else if (c < 0x20) {
        return false;
    } else {
        counts = (c & 0xC0) != 0x80; /* a UTF-8 continuation byte is not a new character */
    }
    if (counts) {
        if (max_n >= 0 && f->len >= max_n) return false;
        f->len++;
    }
    return true;
}

static bool feed_lit(const json_guide *g, gstate *s, frame *f, unsigned c) {
    if (f->node < 0) { /* true / false / null of an untyped value */
        const char *l = any_lit(f->node);
        if ((unsigned char)l[f->len] != c) return false;
        if (!l[++f->len]) s->depth--;
        return true;
    }
    const node *n = &g->nodes[f->node];
    uint64_t keep = 0, done = 0;
    for (int i = 0; i < n->n_lits; i++) {
        if (!(f->mask >> i & 1)) continue;
        const char *l = n->lits[i];
        if ((int)strlen(l) > f->len && (unsigned char)l[f->len] == c) {
            keep |= 1ull << i;
            if (!l[f->len + 1]) done |= 1ull << i;
        }
    }
    if (!keep) return false;
    f->mask = keep;
    f->len++;
    if (done) s->depth--; /* the first literal read whole ends the value */
    return true;
}

/* Feeds one byte; false when the JSON text cannot continue with it. */
static bool feed(const json_guide *g, gstate *s, unsigned c) {
    for (;;) {
        if (s->depth == 0) return false; /* the value is complete: nothing may follow */
        frame *f = &s->f[s->depth - 1];
        switch (f->kind) {
        case F_VALUE:
            if (is_ws(c)) return ++s->ws <= MAX_WS;
            s->ws = 0;
            if (!begin_value(g, s, c)) return false;
            if (f->kind == F_OBJ || f->kind == F_ARR || f->kind == F_STR) return true; /* the opening byte */
            continue; /* numbers and literals read their first byte themselves */
        case F_OBJ: return feed_obj(g, s, f, c);
        case F_KEY: return feed_key(g, s, f, c);
        case F_ARR: return feed_arr(g, s, f, c);
        case F_STR: return feed_str(g, s, f, c);
        case F_LIT: return feed_lit(g, s, f, c);
        case F_NUM:
            if (num_step(f, g->nodes[f->node].kind == N_INTEGER, c)) return true;
            if (!num_final(f->phase)) return false;
            s->depth--; /* the number ended; the byte belongs to what follows */
            continue;
        }
        return false;
    }
}

bool guide_complete(const json_guide *g) {
    const gstate *s = &g->st;
    return s->depth == 0 || (s->depth == 1 && s->f[0].kind == F_NUM && num_final(s->f[0].phase));
}

static void copy_state(gstate *dst, const gstate *src) {
    dst->depth = src->depth;
    dst->ws = src->ws;
    memcpy(dst->f, src->f, sizeof *src->f * (size_t)src->depth);
}

static bool try_bytes(const json_guide *g, gstate *s, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed(g, s, (unsigned char)b[i])) return false;
    return true;
}

int guide_vocab_index(guide_vocab *v) {
    if (!(v->str_chars = malloc(sizeof *v->str_chars * (size_t)(v->n ? v->n : 1)))) return -1;
    for (int i = 0; i < v->n; i++) {
        int32_t n = 0;
        for (uint32_t k = v->off[i]; k < v->off[i + 1] && n >= 0; k++) {
            unsigned char c = (unsigned char)v->bytes[k];
            if (c == '"' || c == '\\' || c < 0x20) n = -1;
            else n += (c & 0xC0) != 0x80;
        }
        v->str_chars[i] = v->off[i] == v->off[i + 1] ? -1 : n;
    }
    return 0;
}

/* Inside a plain string (the common case), a token without quote, backslash or control byte
 * fits when the length limit allows its characters: no need to run the automaton. */
static bool in_plain_string(const json_guide *g, int *room) {
    const gstate *s = &g->st;
    if (!s->depth) return false;
    const frame *f = &s->f[s->depth - 1];
    if (f->kind != F_STR || f->phase != 0) return false;
    const node *n = &g->nodes[f->node];
    int max_n = n->kind == N_STRING ? n->max_n : -1;
    *room = max_n < 0 ? INT32_MAX : max_n - f->len;
    return true;
}

void guide_mask(const json_guide *g, const guide_vocab *v, float *logits) {
    bool first[256];
    gstate tmp;
    int room = 0;
    bool plain = in_plain_string(g, &room);
    for (int c = 0; c < 256; c++) {
        copy_state(&tmp, &g->st);
        first[c] = feed(g, &tmp, (unsigned)c);
    }
    bool complete = guide_complete(g);
    for (int i = 0; i < v->n; i++) {
        uint32_t a = v->off[i], b = v->off[i + 1];
        bool ok;
        if (v->eog[i]) ok = complete;
        else if (v->banned[i] || a == b || !first[(unsigned char)v->bytes[a]]) ok = false;
        else if (plain && v->str_chars[i] >= 0) ok = v->str_chars[i] <= room;
        else {
            copy_state(&tmp, &g->st);
            ok = try_bytes(g, &tmp, v->bytes + a, b - a);
        }
        if (!ok) logits[i] = -INFINITY;
    }
}

bool guide_accept(json_guide *g, const guide_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n) return false;
    if (v->eog[id]) return guide_complete(g);
    gstate tmp;
    copy_state(&tmp, &g->st);
    if (!try_bytes(g, &tmp, v->bytes + v->off[id], v->off[id + 1] - v->off[id])) return false;
    copy_state(&g->st, &tmp);
    return true;
}
