/* metrics.c: GET /metrics in the Prometheus text format: requests, tokens, time spent on
 * prompts and generation, request latency (a histogram), slots busy, queue and KV use.
 * Names carry a latte_ prefix; counters end in _total. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct out {
    char *s;
    size_t len, cap;
    bool oom;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
    if (o->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) { o->len += (size_t)n; return; }
        size_t nc = o->cap * 2 + (n > 0 ? (size_t)n : 0);
        char *ns = realloc(o->s, nc);
        if (!ns) { o->oom = true; return; }
        o->s = ns, o->cap = nc;
    }
}

static void metric(out *o, const char *name, const char *type, const char *help, double v) {
    put(o, "# HELP latte_%s %s\n# TYPE latte_%s %s\nlatte_%s %.17g\n", name, help, name, type, name, v);
}

char *metrics_text(srv *sv) {
    sched_stats st;
    sched_get_stats(sv->sch, &st);
    out o = {.s = malloc(4096), .cap = 4096};
    if (!o.s) return NULL;
    o.s[0] = 0;
    metric(&o, "requests_total", "counter", "Completion requests finished (any way).", (double)st.n_requests);
    metric(&o, "requests_cancelled_total", "counter", "Requests cancelled (client gone, shutdown).", (double)st.n_cancelled);
    metric(&o, "requests_rejected_total", "counter", "Requests refused with 503 (queue full).", (double)st.n_rejected);
    metric(&o, "requests_failed_total", "counter", "Requests ended by an engine error.", (double)st.n_errors);
    metric(&o, "prompt_tokens_total", "counter", "Prompt tokens of started requests.", (double)st.n_prompt_tokens);
    metric(&o, "prompt_tokens_evaluated_total", "counter", "Prompt tokens decoded (the rest came from slot caches).",
           (double)st.n_prompt_eval);
    metric(&o, "tokens_predicted_total", "counter", "Generated tokens.", (double)st.n_gen_tokens);
    metric(&o, "prompt_seconds_total", "counter", "Seconds of decode steps that carried prompt tokens.", st.t_prompt);
    metric(&o, "tokens_predicted_seconds_total", "counter", "Seconds of decode steps with generation only.", st.t_gen);
    metric(&o, "decode_steps_total", "counter", "Batched decode steps.", (double)st.n_steps);
    metric(&o, "slots", "gauge", "Parallel slots.", st.n_slots);
    metric(&o, "slots_busy", "gauge", "Slots running a request.", st.busy);
    metric(&o, "requests_queued", "gauge", "Requests waiting for a slot.", st.queued);
    metric(&o, "kv_cache_tokens", "gauge", "Tokens held in the KV cache over all slots.", (double)st.kv_used);
    metric(&o, "kv_cache_usage_ratio", "gauge", "Share of the KV cache in use.",
           st.kv_total ? (double)st.kv_used / (double)st.kv_total : 0.0);
    put(&o, "# HELP latte_request_duration_seconds Time from queueing to the last token.\n"
            "# TYPE latte_request_duration_seconds histogram\n");
    for (int b = 0; b < SCHED_N_LAT_BUCKETS; b++) {
        if (isinf(SCHED_LAT_BUCKETS[b])) put(&o, "latte_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                                             (unsigned long long)st.lat_count[b]);
        else put(&o, "latte_request_duration_seconds_bucket{le=\"%g\"} %llu\n", SCHED_LAT_BUCKETS[b],
                 (unsigned long long)st.lat_count[b]);
    }
    put(&o, "latte_request_duration_seconds_sum %.17g\nlatte_request_duration_seconds_count %llu\n", st.lat_sum,
        (unsigned long long)st.n_lat);
    if (o.oom) { free(o.s); return NULL; }
    return o.s;
}
