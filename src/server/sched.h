/* sched.h: the slot scheduler. One worker thread owns the engine context; each sequence of
 * the context is a slot. HTTP threads only submit tasks, wait on them and cancel them. Each
 * step the worker decodes, in one batch, the pending token of every generating slot plus a
 * bounded chunk of prompt tokens, so a long prompt never stalls the others for long. A new
 * task reuses the longest prompt prefix its slot (or another slot, by copy) already holds. */
#ifndef LATTE_SERVER_SCHED_H
#define LATTE_SERVER_SCHED_H

#include "task.h"

enum { SCHED_OK = 0, SCHED_FULL = 1, SCHED_STOPPING = 2 };

typedef struct sched_params {
    int max_queue;     /* tasks waiting for a slot before new ones get 503 */
    int prompt_chunk;  /* prompt tokens per step, over all slots */
} sched_params;

typedef struct sched sched;

/* Per-slot facts for /slots. */
typedef struct sched_slot_info {
    int id, n_ctx, n_past;  /* n_past: tokens the slot's sequence holds */
    bool busy;
    int n_prompt, n_prompt_eval, n_cached, n_decoded; /* of the last (or current) task */
} sched_slot_info;

#define SCHED_N_LAT_BUCKETS 10
extern const double SCHED_LAT_BUCKETS[SCHED_N_LAT_BUCKETS]; /* seconds; the last is +inf */

/* Counters for /metrics. */
typedef struct sched_stats {
    uint64_t n_requests, n_cancelled, n_rejected, n_errors;
    uint64_t n_prompt_tokens, n_prompt_eval, n_gen_tokens;
    double t_prompt, t_gen;          /* seconds spent in steps carrying prompt / generation */
    uint64_t lat_count[SCHED_N_LAT_BUCKETS];
    double lat_sum;
    uint64_t n_lat;
    int busy, queued, n_slots;
    int64_t kv_used, kv_total;       /* tokens held / positions over all slots */
    uint64_t n_steps;
} sched_stats;

/* Starts the worker over c (one slot per sequence). */
int sched_init(sched **out, latte_model *m, latte_ctx *c, const sched_params *p, latte_err *err);
/* Cancels all work, stops the worker and frees everything (the engine stays the caller's). */
void sched_free(sched *s);
/* Cancels in-flight and queued tasks and wakes their waiters; later submits are refused. */
void sched_stop(sched *s);

/* Queues t (the worker takes its own reference): SCHED_OK, SCHED_FULL or SCHED_STOPPING. */
int sched_submit(sched *s, task *t);
/* The task's output is read with the lock held. */
void sched_lock(sched *s);
void sched_unlock(sched *s);
/* With the lock held: waits until t->safe passes seen, t finishes, or timeout_ms pass. */
void sched_wait(sched *s, task *t, size_t seen, int timeout_ms);
/* Asks the worker to stop t and free its slot (lock not held). */
void sched_cancel(sched *s, task *t);
/* Drops the caller's reference (lock not held). */
void sched_release(sched *s, task *t);

int sched_n_slots(const sched *s);
int sched_n_ctx_slot(const sched *s);
/* Fills up to cap slot records; returns how many. */
int sched_slots(sched *s, sched_slot_info *out, int cap);
void sched_get_stats(sched *s, sched_stats *out);

#endif
