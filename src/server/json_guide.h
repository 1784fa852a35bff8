/* json_guide.h: constrained sampling for response_format json_object / json_schema. A schema
 * (a subset: object with properties / required / additionalProperties, array with items,
 * string with maxLength, number, integer, boolean, null, enum, const) becomes a tree; the
 * guide is a character-level pushdown automaton over it. Before each sample the worker masks
 * every token whose bytes the automaton would refuse (end-of-generation only once the value
 * is complete), after it feeds the chosen token's bytes. Unsupported schema keywords are
 * refused at parse time, never silently ignored where they would change validity. */
#ifndef LATTE_SERVER_JSON_GUIDE_H
#define LATTE_SERVER_JSON_GUIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_guide json_guide;

/* A guide for schema (NULL: any JSON object). Returns NULL with msg filled when the schema
 * uses what the guide cannot enforce. */
json_guide *guide_new(json_t *schema, char *msg, size_t cap);
void guide_free(json_guide *g);

/* The vocabulary as bytes, built once per server: token i is bytes[off[i] .. off[i+1]);
 * banned[i] marks tokens never allowed under a guide (control, unused). */
typedef struct guide_vocab {
    int n;
    char *bytes;
    uint32_t *off;
    bool *banned, *eog;
    int32_t *str_chars;  /* characters when the token can sit inside a JSON string as is (no quote,
                            backslash or control byte), else -1: the fast path of guide_mask */
} guide_vocab;

/* Fills v->str_chars from v->bytes (after n, bytes and off are set); -1 on out of memory. */
int guide_vocab_index(guide_vocab *v);

/* Sets logits[i] = -inf for every token the guide refuses now. */
void guide_mask(const json_guide *g, const guide_vocab *v, float *logits);
/* Feeds token id's bytes; false when they are refused (the state is then unchanged). */
bool guide_accept(json_guide *g, const guide_vocab *v, int32_t id);
/* True when the value is complete (the end of generation is allowed). */
bool guide_complete(const json_guide *g);

#endif
