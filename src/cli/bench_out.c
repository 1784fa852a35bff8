/* bench_out.c: bench rows in llama-bench's formats. md: a table (model, weight type, size,
 * parameters, backend, threads, MLA mode, FA, cache types, test, t/s), optional columns only
 * for lists the user gave; json (one array), jsonl (an object per line) and csv carry
 * llama-bench's field names (n_prompt, n_gen, n_depth, avg_ts, stddev_ts, model_type,
 * model_size, model_n_params, ...) plus latte's own (mla_attn, bytes per token, bandwidth). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct bench_out {
    int fmt, n_rows;
    bool show_ctv, show_ub, show_b;
};

static const char *cache_name(int id) {
    switch (id) {
    case 0: return "f32";
    case 1: return "f16";
    case 30: return "bf16";
    case 8: return "q8_0";
    case 2: return "q4_0";
    case 133: return "q6_0";
    default: return "?";
    }
}

/* "135M" / "1.5B": the parameter count as model names write it. */
static void params_label(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.1fB", n / 1e9);
    else snprintf(buf, cap, "%.0fM", n / 1e6);
}

static json_t *row_json(const bench_row *r) {
    const latte_model_info *mi = r->model;
    char type[192], label[32];
    params_label(mi->n_params, label, sizeof label);
    snprintf(type, sizeof type, "%s %s %s", mi->arch, label, mi->type_name);
    json_t *j = json_object(), *sns = json_array(), *sts = json_array();
    double n_tok = r->test.n_prompt + r->test.n_gen;
    for (int i = 0; i < r->n_samples; i++) {
        json_array_append_new(sns, json_integer((json_int_t)r->samples_ns[i]));
        json_array_append_new(sts, json_real(n_tok * 1e9 / r->samples_ns[i]));
    }
    json_object_set_new(j, "model_filename", json_string(r->inst.model ? r->inst.model : cli_default_model_path()));
    json_object_set_new(j, "model_name", json_string(mi->name));
    json_object_set_new(j, "model_type", json_string(type));
    json_object_set_new(j, "model_size", json_integer((json_int_t)mi->weight_bytes));
    json_object_set_new(j, "model_n_params", json_integer((json_int_t)mi->n_params));
    json_object_set_new(j, "model_bytes_per_token", json_integer((json_int_t)mi->bytes_per_token));
    json_object_set_new(j, "backends", json_string(mi->backends));
    json_object_set_new(j, "n_batch", json_integer(r->inst.n_batch));
    json_object_set_new(j, "n_ubatch", json_integer(r->inst.n_ubatch));
    json_object_set_new(j, "n_threads", json_integer(r->inst.n_threads));
    json_object_set_new(j, "type_k", json_string(cache_name(r->inst.type_k)));
    json_object_set_new(j, "type_v", json_string(cache_name(r->inst.type_v)));
    json_object_set_new(j, "mla_attn", json_integer(r->mla_mode));
    json_object_set_new(j, "flash_attn", json_boolean(r->inst.fa == 1));
    json_object_set_new(j, "n_prompt", json_integer(r->test.n_prompt));
    json_object_set_new(j, "n_gen", json_integer(r->test.n_gen));
    json_object_set_new(j, "n_depth", json_integer(r->test.n_depth));
    json_object_set_new(j, "test", json_string(r->name));
    json_object_set_new(j, "test_time", json_string(r->time));
    json_object_set_new(j, "avg_ns", json_integer((json_int_t)r->avg_ns));
    json_object_set_new(j, "stddev_ns", json_integer((json_int_t)r->stddev_ns));
    json_object_set_new(j, "avg_ts", json_real(r->avg_ts));
    json_object_set_new(j, "stddev_ts", json_real(r->stddev_ts));
    json_object_set_new(j, "samples_ns", sns);
    json_object_set_new(j, "samples_ts", sts);
    json_object_set_new(j, "read_gbs", r->bw_gbs > 0 ? json_real(r->bw_gbs) : json_null());
    json_object_set_new(j, "read_bw_share", r->bw_gbs > 0 ? json_real(r->bw_share) : json_null());
    return j;
}

static void csv_value(const json_t *v) {
    if (json_is_string(v)) {
        putchar('"');
        for (const char *p = json_string_value(v); *p; p++) {
            if (*p == '"') putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else if (json_is_array(v)) { /* llama-bench: the samples space-separated in one cell */
        size_t i;
        json_t *x;
        putchar('"');
        json_array_foreach(v, i, x) {
            if (i) putchar(' ');
            if (json_is_integer(x)) printf("%lld", (long long)json_integer_value(x));
            else printf("%g", json_number_value(x));
        }
        putchar('"');
    } else if (json_is_integer(v)) {
        printf("%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        printf("%.6g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        printf("%s", json_is_true(v) ? "1" : "0");
    } /* null: an empty cell */
}

static void csv_row(const json_t *j, bool header) {
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)j, key, v) {
        if (!first) putchar(',');
        first = false;
        if (header) printf("%s", key);
        else csv_value(v);
    }
    putchar('\n');
}

/* md: the columns, each {title, width, left-aligned} and its cell text */
static void md_cells(const bench_out *b, const bench_row *r, bool header) {
    char size[32], params[32], mla[8], ts[64], thr[16], ub[16], nb[16];
    const char *cells[16], *titles[16];
    int widths[16], n = 0;
    bool left[16];
#define COL(t, w, l, v) (titles[n] = t, widths[n] = w, left[n] = l, cells[n++] = v)
    if (r) {
        const latte_model_info *mi = r->model;
        if (mi->weight_bytes >= (1ull << 30)) snprintf(size, sizeof size, "%.2f GiB", mi->weight_bytes / 1073741824.0);
        else snprintf(size, sizeof size, "%.2f MiB", mi->weight_bytes / 1048576.0);
        if (mi->n_params >= 1000000000ull) snprintf(params, sizeof params, "%.2f B", mi->n_params / 1e9);
        else snprintf(params, sizeof params, "%.2f M", mi->n_params / 1e6);
        snprintf(mla, sizeof mla, r->mla_mode >= 0 ? "%d" : "-", r->mla_mode);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        snprintf(thr, sizeof thr, "%d", r->inst.n_threads);
        snprintf(ub, sizeof ub, "%d", r->inst.n_ubatch);
        snprintf(nb, sizeof nb, "%d", r->inst.n_batch);
    }
    COL("model", 30, true, r ? r->model->name : "");
    COL("type", 6, true, r ? r->model->type_name : "");
    COL("size", 10, false, r ? size : "");
    COL("params", 10, false, r ? params : "");
    COL("backend", 7, true, r ? r->model->backends : "");
    COL("threads", 7, false, r ? thr : "");
    COL("mla", 3, false, r ? mla : "");
    COL("fa", 2, false, r ? (r->inst.fa == 1 ? "1" : "0") : "");
    COL("type_k", 6, true, r ? cache_name(r->inst.type_k) : "");
    if (b->show_ctv) COL("type_v", 6, true, r ? cache_name(r->inst.type_v) : "");
    if (b->show_b) COL("n_batch", 7, false, r ? nb : "");
    if (b->show_ub) COL("n_ubatch", 8, false, r ? ub : "");
    COL("test", 16, false, r ? r->name : "");
    COL("t/s", 20, false, r ? ts : "");
#undef COL
    for (int i = 0; i < n; i++) {
        const char *s = header ? titles[i] : cells[i];
        /* "±" is two bytes but one column */
        int w = widths[i] + (!header && strstr(s, "±") ? 1 : 0);
        printf(left[i] ? "| %-*s " : "| %*s ", w, s);
    }
    printf("|\n");
    if (header) {
        for (int i = 0; i < n; i++) {
            printf("| ");
            for (int k = 0; k < widths[i] - (left[i] ? 0 : 1); k++) putchar('-');
            printf(left[i] ? " " : ": ");
        }
        printf("|\n");
    }
}

bench_out *bench_out_begin(int fmt, const cli_opts *o) {
    bench_out *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->fmt = fmt;
    b->show_ctv = cli_given(o, "-ctv");
    b->show_ub = cli_given(o, "-ub");
    b->show_b = cli_given(o, "-b");
    if (fmt == 1) printf("[\n");
    return b;
}

int bench_out_row(bench_out *b, const bench_row *r) {
    if (b->fmt == 0) {
        if (!b->n_rows) md_cells(b, NULL, true);
        md_cells(b, r, false);
    } else {
        json_t *j = row_json(r);
        if (!j) return -1;
        if (b->fmt == 2) {
            if (!b->n_rows) csv_row(j, true);
            csv_row(j, false);
        } else {
            char *s = json_dumps(j, b->fmt == 1 ? JSON_INDENT(2) | JSON_REAL_PRECISION(10) : JSON_COMPACT | JSON_REAL_PRECISION(10));
            if (s) printf("%s%s\n", b->fmt == 1 && b->n_rows ? ",\n" : "", s);
            free(s);
            if (!s) { json_decref(j); return -1; }
        }
        json_decref(j);
    }
    b->n_rows++;
    return fflush(stdout) ? -1 : 0;
}

int bench_out_end(bench_out *b, const char *notes) {
    if (b->fmt == 1) printf("]\n");
    if (b->fmt == 0 && b->n_rows && *notes) printf("\n%s", notes);
    else if (*notes) fprintf(stderr, "%s", notes);
    free(b);
    return fflush(stdout) ? -1 : 0;
}
