/* sched.c: the worker that owns the engine context, and the slots it runs tasks in.
 * One mutex guards the queue, the slots' public fields and every task's output; the worker
 * drops it only while the batch decodes and while it samples. HTTP threads wait on one
 * condition (`changed`, broadcast after every step) and never call the engine. */
#include "sched.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double SCHED_LAT_BUCKETS[SCHED_N_LAT_BUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, INFINITY};

typedef enum { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN } slot_state;

typedef struct slot {
    int id;                 /* also its sequence id */
    slot_state state;
    task *t;
    int32_t *cache;         /* [n_ctx] the tokens the sequence holds */
    int n_cache;
    int32_t next;           /* SLOT_GEN: the sampled token still to decode */
    latte_sampler *smp;
    int row;                /* this step: the batch row whose logits it samples, or -1 */
    int n_in_batch;         /* this step: tokens it added */
    double t_idle;          /* when it last went idle (least recently used wins ties) */
    sched_slot_info last;   /* the last task's counts, for /slots */
} slot;

struct sched {
    latte_model *m;
    latte_ctx *c;
    sched_params p;
    int n_slots, n_ctx, n_vocab;
    slot *slots;
    task **queue;
    int n_queued;
    latte_batch batch;
    guide_vocab vocab;      /* token bytes for constrained sampling */
    float *masked;          /* [n_vocab] logits under a guide */
    pthread_mutex_t mu;
    pthread_cond_t work;    /* the worker waits here for tasks */
    pthread_cond_t changed; /* HTTP threads wait here for output */
    pthread_t thread;
    bool started, stopping;
    sched_stats st;
};

static int lcp(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Ends t (lock held): the final text drops a character cut in half, waiters wake. */
static void finish(sched *s, task *t, task_finish why, const char *err) {
    if (t->finish) return;
    t->finish = why;
    if (err) snprintf(t->err, sizeof t->err, "%s", err);
    t->len = task_utf8_complete(t->text, t->len);
    t->text[t->len] = 0;
    t->safe = t->len;
    t->t_end = task_now();
    s->st.n_requests++;
    if (why == FINISH_CANCEL) s->st.n_cancelled++;
    if (why == FINISH_ERROR) s->st.n_errors++;
    double lat = t->t_end - t->t_queued;
    for (int b = 0; b < SCHED_N_LAT_BUCKETS; b++)
        if (lat <= SCHED_LAT_BUCKETS[b]) s->st.lat_count[b]++;
    s->st.lat_sum += lat;
    s->st.n_lat++;
}

static void detach(sched *s, slot *sl) {
    sl->last.n_decoded = sl->t->n_toks;
    task_unref(sl->t);
    sl->t = NULL;
    sl->state = SLOT_IDLE;
    sl->t_idle = task_now();
}

/* Picks a free slot for t (the one holding the longest prefix of its prompt, else the least
 * recently used); NULL when none fits. */
static slot *pick_slot(sched *s, const task *t) {
    if (t->p.id_slot >= 0) {
        slot *sl = &s->slots[t->p.id_slot];
        return sl->t ? NULL : sl;
    }
    slot *best = NULL;
    int best_l = -1;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->t) continue;
        int l = t->p.cache_prompt ? lcp(sl->cache, sl->n_cache, t->p.prompt, t->p.n_prompt) : 0;
        if (l > best_l || (l == best_l && sl->t_idle < best->t_idle)) best = sl, best_l = l;
    }
    return best;
}

/* Starts t in sl: keeps the longest prefix of its prompt found in sl or, copied, in any
 * other slot; at least the last prompt token is decoded again for fresh logits. */
static void start(sched *s, slot *sl, task *t) {
    latte_err err = {0};
    const int32_t *P = t->p.prompt;
    int n = t->p.n_prompt;
    int keep = t->p.cache_prompt ? lcp(sl->cache, sl->n_cache, P, n) : 0;
    if (t->p.cache_prompt) {
        slot *src = NULL;
        int src_l = keep;
        for (int i = 0; i < s->n_slots; i++) {
            int l = lcp(s->slots[i].cache, s->slots[i].n_cache, P, n);
            if (&s->slots[i] != sl && l > src_l) src = &s->slots[i], src_l = l;
        }
        if (src && latte_seq_copy(s->c, src->id, sl->id, src_l, &err) == 0) {
            memcpy(sl->cache, src->cache, sizeof *sl->cache * (size_t)src_l);
            sl->n_cache = keep = src_l;
        }
    }
    if (keep >= n) keep = n - 1;
    if (keep > sl->n_cache) keep = sl->n_cache;
    if (latte_seq_truncate(s->c, sl->id, keep, &err)) keep = 0, latte_seq_truncate(s->c, sl->id, 0, &err);
    sl->n_cache = keep;
    t->n_cached = keep;
    t->n_prompt_eval = n - keep;
    t->slot = sl->id;
    t->t_start = task_now();
    latte_sampler_free(sl->smp);
    sl->smp = latte_sampler_init(&t->p.sp);
    sl->t = t;
    sl->state = SLOT_PROMPT;
    sl->last = (sched_slot_info){.n_prompt = n, .n_prompt_eval = n - keep, .n_cached = keep};
    s->st.n_prompt_tokens += (uint64_t)n;
    if (!sl->smp) {
        finish(s, t, FINISH_ERROR, "out of memory");
        detach(s, sl);
    }
}

/* Saves or restores idle slot sl's sequence state for t, then ends t (lock held; the worker
 * is between steps, so nothing else touches the engine). A restore brings back the slot's
 * token list too, so the next request reuses it as a prefix. */
static void state_op(sched *s, slot *sl, task *t) {
    latte_err err = {0};
    int rc;
    t->slot = sl->id;
    if (t->p.state_op == TASK_STATE_SAVE) {
        size_t n = latte_seq_state_size(s->c, sl->id);
        free(t->p.state);
        t->p.state = NULL;
        rc = LATTE_E_NOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
        if (latte_seq_len(s->c, sl->id) != sl->n_cache) /* never: commit_batch keeps them equal */
            snprintf(err.msg, sizeof err.msg, "slot %d is out of step with its sequence", sl->id), rc = LATTE_E_ARG;
        else if ((t->p.state = malloc(n)))
            rc = latte_seq_state_save(s->c, sl->id, sl->cache, t->p.state, n, &t->p.state_n, &err);
        t->n_state_pos = sl->n_cache;
    } else {
        int n = 0;
        rc = latte_seq_state_load(s->c, sl->id, t->p.state, t->p.state_n, sl->cache, &n, &err);
        if (!rc) sl->n_cache = t->n_state_pos = n;
        else if (latte_seq_len(s->c, sl->id) < sl->n_cache) sl->n_cache = latte_seq_len(s->c, sl->id);
        sl->t_idle = task_now();
    }
    t->err_code = rc;
    if (rc) snprintf(t->err, sizeof t->err, "%.250s", err.msg);
    t->t_end = task_now();
    t->finish = rc ? FINISH_ERROR : FINISH_LENGTH; /* not finish(): no completion request to count */
    task_unref(t);
}

/* Drops cancelled tasks and moves queued ones into free slots (lock held). */
static void admit(sched *s) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->t && (sl->t->cancel || s->stopping)) {
            finish(s, sl->t, FINISH_CANCEL, "cancelled");
            detach(s, sl);
        }
    }
    int w = 0;
    for (int r = 0; r < s->n_queued; r++) {
        task *t = s->queue[r];
        if (t->cancel || s->stopping) {
            finish(s, t, FINISH_CANCEL, "cancelled");
            task_unref(t);
            continue;
        }
        slot *sl = pick_slot(s, t);
        if (sl && t->p.state_op) state_op(s, sl, t);
        else if (sl) start(s, sl, t);
        else s->queue[w++] = t;
    }
    s->n_queued = w;
}

/* Fills the batch (lock held): generating slots' pending tokens, then prompt chunks. */
static void build_batch(sched *s) {
    latte_batch *b = &s->batch;
    b->n_tokens = 0;
    int budget = s->p.prompt_chunk;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->row = -1, sl->n_in_batch = 0;
        if (sl->state != SLOT_GEN) continue;
        sl->row = b->n_tokens;
        latte_batch_add(b, sl->next, sl->n_cache, sl->id, true);
        sl->n_in_batch = 1;
    }
    for (int i = 0; i < s->n_slots && budget > 0; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_PROMPT) continue;
        int todo = sl->t->p.n_prompt - sl->n_cache, k = todo < budget ? todo : budget;
        for (int j = 0; j < k; j++) {
            bool last = j == todo - 1;
            if (last) sl->row = b->n_tokens;
            latte_batch_add(b, sl->t->p.prompt[sl->n_cache + j], sl->n_cache + j, sl->id, last);
        }
        sl->n_in_batch = k;
        budget -= k;
    }
}

/* The log-softmax of logits at tok; fills the k most likely tokens. Returns the log-prob of tok and fills the top k. */
static float logprobs(sched *s, const float *logits, int32_t tok, int k, int32_t *top_id, float *top_lp) {
    int V = s->n_vocab;
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    float lse = mx + (float)log(sum);
    for (int j = 0; j < k; j++) top_id[j] = -1, top_lp[j] = -INFINITY;
    for (int i = 0; i < V && k > 0; i++) {
        float v = logits[i] - lse;
        if (!(v > top_lp[k - 1])) continue;
        int j = k - 1;
        while (j > 0 && v > top_lp[j - 1]) top_id[j] = top_id[j - 1], top_lp[j] = top_lp[j - 1], j--;
        top_id[j] = i, top_lp[j] = v;
    }
    return tok >= 0 && tok < V ? logits[tok] - lse : -INFINITY;
}

/* After the step (lock held): the text a stream may send now. */
static void update_safe(task *t) {
    static const char *const tags[] = {"<think>", "</think>"};
    size_t hold = task_tail_hold(t->text, t->len, (const char *const *)t->p.stops, t->p.n_stops);
    if (t->p.hold_think) {
        size_t h = task_tail_hold(t->text, t->len, tags, 2);
        if (h > hold) hold = h;
    }
    size_t safe = task_utf8_complete(t->text, t->len - hold);
    if (safe > t->safe) t->safe = safe;
}

/* One sampled token for sl's task (tok < 0: the sampler failed). Lock held. */
static void on_token(sched *s, slot *sl, int32_t tok, float lp, const int32_t *top_id, const float *top_lp) {
    task *t = sl->t;
    char piece[256];
    if (tok < 0) { finish(s, t, FINISH_ERROR, "sampling failed (no finite logit)"); return; }
    if (latte_token_is_eog(s->m, tok)) { finish(s, t, FINISH_STOP, NULL); return; }
    int nb = latte_token_to_bytes(s->m, tok, piece, sizeof piece);
    if (nb > (int)sizeof piece) nb = (int)sizeof piece; /* no token text is that long in practice */
    size_t from = t->safe;
    if ((nb > 0 && task_append(t, piece, (size_t)nb)) || task_push_tok(t, tok, lp, top_id, top_lp)) {
        finish(s, t, FINISH_ERROR, "out of memory");
        return;
    }
    s->st.n_gen_tokens++;
    long at = t->p.n_stops ? task_find_stop(t->text, t->len, from, (const char *const *)t->p.stops, t->p.n_stops) : -1;
    if (at >= 0) {
        t->len = (size_t)at;
        t->text[t->len] = 0;
        t->truncated_by_stop = true;
        finish(s, t, FINISH_STOP, NULL);
        return;
    }
    if ((t->p.n_predict >= 0 && t->n_toks >= t->p.n_predict) || sl->n_cache >= s->n_ctx) {
        finish(s, t, FINISH_LENGTH, NULL);
        return;
    }
    update_safe(t);
    sl->next = tok;
    sl->state = SLOT_GEN;
}

/* Samples every slot that has logits this step and publishes the results. Called without
 * the lock (sampling is the worker's own work); takes it to publish. */
static void sample_all(sched *s) {
    int32_t top_id[TASK_MAX_PROBS];
    float top_lp[TASK_MAX_PROBS];
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->row < 0) continue;
        task *t = sl->t;
        bool prompt_done = sl->state == SLOT_PROMPT;
        if (prompt_done && t->p.n_predict == 0) { /* only evaluate the prompt */
            pthread_mutex_lock(&s->mu);
            t->t_prompt_done = task_now();
            finish(s, t, FINISH_LENGTH, NULL);
            detach(s, sl);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        const float *lg = latte_ctx_logits_ith(s->c, sl->row);
        int32_t tok;
        if (t->p.guide) { /* only tokens that keep the JSON valid */
            memcpy(s->masked, lg, sizeof *lg * (size_t)s->n_vocab);
            guide_mask(t->p.guide, &s->vocab, s->masked);
            tok = latte_sampler_sample(sl->smp, s->masked, s->n_vocab);
            if (tok >= 0 && !guide_accept(t->p.guide, &s->vocab, tok)) tok = -1;
        } else {
            tok = latte_sampler_sample(sl->smp, lg, s->n_vocab);
        }
        if (tok >= 0) latte_sampler_accept(sl->smp, tok);
        float lp = t->p.logprobs ? logprobs(s, lg, tok, t->p.n_probs, top_id, top_lp) : 0;
        pthread_mutex_lock(&s->mu);
        if (prompt_done) t->t_prompt_done = task_now();
        on_token(s, sl, tok, lp, top_id, top_lp);
        if (t->finish) detach(s, sl);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Records what the batch put in each slot's sequence (lock held); rc != 0 fails them. */
static void commit_batch(sched *s, int rc, const latte_err *err) {
    const latte_batch *b = &s->batch;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->n_in_batch) continue;
        int base = -1;
        for (int r = 0; r < b->n_tokens; r++)
            if (b->seq[r] == sl->id) { base = r; break; }
        if (rc == 0 && base >= 0) {
            for (int j = 0; j < sl->n_in_batch; j++) sl->cache[sl->n_cache + j] = b->token[base + j];
            sl->n_cache += sl->n_in_batch;
            if (sl->state == SLOT_PROMPT) s->st.n_prompt_eval += (uint64_t)sl->n_in_batch;
        } else {
            latte_err e2;
            latte_seq_truncate(s->c, sl->id, sl->n_cache, &e2);
            sl->row = -1;
            if (sl->t) {
                finish(s, sl->t, FINISH_ERROR, err->msg);
                detach(s, sl);
            }
        }
    }
}

static bool any_active(const sched *s) {
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].t) return true;
    return false;
}

static void *worker(void *arg) {
    sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        admit(s);
        pthread_cond_broadcast(&s->changed);
        if (s->stopping) break;
        if (!any_active(s)) {
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        build_batch(s);
        bool has_prompt = false;
        for (int i = 0; i < s->n_slots; i++) has_prompt |= s->slots[i].state == SLOT_PROMPT;
        pthread_mutex_unlock(&s->mu);
        latte_err err = {0};
        double t0 = task_now();
        int rc = latte_decode_batch(s->c, &s->batch, &err);
        pthread_mutex_lock(&s->mu);
        commit_batch(s, rc, &err);
        s->st.n_steps++;
        pthread_mutex_unlock(&s->mu);
        if (rc == 0) sample_all(s);
        pthread_mutex_lock(&s->mu);
        double dt = task_now() - t0;
        if (has_prompt) s->st.t_prompt += dt;
        else s->st.t_gen += dt;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Every token's bytes, and which tokens a guide never allows (control, unused). */
static int vocab_init(guide_vocab *v, const latte_model *m) {
    int n = latte_model_n_vocab(m);
    size_t cap = (size_t)n * 8, len = 0;
    v->n = n;
    v->bytes = malloc(cap);
    v->off = malloc(sizeof *v->off * ((size_t)n + 1));
    v->banned = calloc((size_t)n, sizeof *v->banned);
    v->eog = calloc((size_t)n, sizeof *v->eog);
    if (!v->bytes || !v->off || !v->banned || !v->eog) return -1;
    for (int i = 0; i < n; i++) {
        char piece[256];
        int nb = latte_token_to_bytes(m, i, piece, sizeof piece), kind = latte_token_kind_of(m, i);
        if (nb < 0 || nb > (int)sizeof piece) nb = 0;
        v->eog[i] = latte_token_is_eog(m, i);
        v->banned[i] = kind == LATTE_TOKEN_CONTROL || kind == LATTE_TOKEN_UNUSED || kind == LATTE_TOKEN_UNKNOWN;
        if (len + (size_t)nb > cap) {
            char *nbuf = realloc(v->bytes, cap = cap * 2 + (size_t)nb);
            if (!nbuf) return -1;
            v->bytes = nbuf;
        }
        v->off[i] = (uint32_t)len;
        memcpy(v->bytes + len, piece, (size_t)nb);
        len += (size_t)nb;
    }
    v->off[n] = (uint32_t)len;
    return guide_vocab_index(v);
}

int sched_init(sched **out, latte_model *m, latte_ctx *c, const sched_params *p, latte_err *err) {
    sched *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) goto oom;
    s->m = m, s->c = c, s->p = *p;
    s->n_slots = latte_ctx_n_seq(c);
    s->n_ctx = latte_ctx_n_ctx(c);
    s->n_vocab = latte_model_n_vocab(m);
    if (s->p.prompt_chunk < 1) s->p.prompt_chunk = 1;
    if (s->p.max_queue < 0) s->p.max_queue = 0;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->queue = calloc((size_t)s->p.max_queue + (size_t)s->n_slots + 1, sizeof *s->queue);
    if (!s->slots || !s->queue) goto oom;
    for (int i = 0; i < s->n_slots; i++) {
        s->slots[i].id = i;
        s->slots[i].row = -1;
        if (!(s->slots[i].cache = malloc(sizeof(int32_t) * (size_t)s->n_ctx))) goto oom;
    }
    if (latte_batch_init(&s->batch, s->n_slots + s->p.prompt_chunk, err)) goto fail;
    if (vocab_init(&s->vocab, m) || !(s->masked = malloc(sizeof *s->masked * (size_t)s->n_vocab))) goto oom;
    latte_ctx_reset(c);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, worker, s)) {
        err->code = LATTE_E_NOMEM;
        snprintf(err->msg, sizeof err->msg, "cannot start the worker thread: %s", strerror(errno));
        goto fail;
    }
    s->started = true;
    *out = s;
    return 0;
oom:
    err->code = LATTE_E_NOMEM;
    snprintf(err->msg, sizeof err->msg, "out of memory for %d slots", latte_ctx_n_seq(c));
fail:
    sched_free(s);
    return err->code;
}

void sched_stop(sched *s) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->thread, NULL);
    s->started = false;
}

void sched_free(sched *s) {
    if (!s) return;
    if (s->started) sched_stop(s);
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        if (s->slots[i].t) task_unref(s->slots[i].t);
        free(s->slots[i].cache);
        latte_sampler_free(s->slots[i].smp);
    }
    for (int i = 0; i < s->n_queued; i++) task_unref(s->queue[i]);
    free(s->slots);
    free(s->queue);
    latte_batch_free(&s->batch);
    free(s->vocab.bytes);
    free(s->vocab.off);
    free(s->vocab.banned);
    free(s->vocab.eog);
    free(s->vocab.str_chars);
    free(s->masked);
    free(s);
}

int sched_submit(sched *s, task *t) {
    pthread_mutex_lock(&s->mu);
    int idle = 0; /* queued tasks up to the idle slots' number are about to start, not waiting */
    for (int i = 0; i < s->n_slots; i++) idle += !s->slots[i].t;
    int rc = s->stopping ? SCHED_STOPPING : s->n_queued - idle >= s->p.max_queue ? SCHED_FULL : SCHED_OK;
    if (rc == SCHED_OK) {
        t->refs++;
        t->t_queued = task_now();
        s->queue[s->n_queued++] = t;
        pthread_cond_signal(&s->work);
    } else {
        s->st.n_rejected++;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sched_lock(sched *s) { pthread_mutex_lock(&s->mu); }
void sched_unlock(sched *s) { pthread_mutex_unlock(&s->mu); }

void sched_wait(sched *s, task *t, size_t seen, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (!t->finish && t->safe <= seen)
        if (pthread_cond_timedwait(&s->changed, &s->mu, &ts) == ETIMEDOUT) break;
}

void sched_cancel(sched *s, task *t) {
    pthread_mutex_lock(&s->mu);
    t->cancel = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void sched_release(sched *s, task *t) {
    pthread_mutex_lock(&s->mu);
    task_unref(t);
    pthread_mutex_unlock(&s->mu);
}

int sched_n_slots(const sched *s) { return s->n_slots; }
int sched_n_ctx_slot(const sched *s) { return s->n_ctx; }

int sched_slots(sched *s, sched_slot_info *out, int cap) {
    pthread_mutex_lock(&s->mu);
    int n = s->n_slots < cap ? s->n_slots : cap;
    for (int i = 0; i < n; i++) {
        const slot *sl = &s->slots[i];
        out[i] = sl->last;
        out[i].id = i;
        out[i].n_ctx = s->n_ctx;
        out[i].n_past = sl->n_cache;
        out[i].busy = sl->t != NULL;
        if (sl->t) out[i].n_decoded = sl->t->n_toks;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void sched_get_stats(sched *s, sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->queued = s->n_queued;
    out->n_slots = s->n_slots;
    out->busy = 0;
    out->kv_used = 0;
    for (int i = 0; i < s->n_slots; i++) {
        out->busy += s->slots[i].t != NULL;
        out->kv_used += s->slots[i].n_cache;
    }
    out->kv_total = (int64_t)s->n_ctx * s->n_slots;
    pthread_mutex_unlock(&s->mu);
}
