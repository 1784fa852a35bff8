/* bench_plot.c: `latte bench --plot FILE.svg`: prompt processing and generation speed against
 * the depth (-d) as an SVG with two panels, pp on the left and tg on the right (their speeds
 * differ by orders of magnitude), one line per model, test and engine setting, error bars of
 * one standard deviation. Plain SVG 1.1 text, no dependencies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SERIES 32
#define MAX_POINTS 64

typedef struct series {
    char label[256];
    bool tg;           /* right panel: generation only (tgN rows) */
    int n;
    double depth[MAX_POINTS], ts[MAX_POINTS], sd[MAX_POINTS];
} series;

struct bench_plot {
    char *path;
    series s[MAX_SERIES];
    int n;
    bool dropped;
};

bench_plot *bench_plot_begin(const char *path) {
    bench_plot *p = calloc(1, sizeof *p);
    if (p && !(p->path = strdup(path))) {
        free(p);
        return NULL;
    }
    return p;
}

void bench_plot_add(bench_plot *p, const bench_row *r) {
    char label[256], test[32];
    const bench_test *t = &r->test;
    if (t->n_gen == 0) snprintf(test, sizeof test, "pp%d", t->n_prompt);
    else if (t->n_prompt == 0) snprintf(test, sizeof test, "tg%d", t->n_gen);
    else snprintf(test, sizeof test, "pp%d+tg%d", t->n_prompt, t->n_gen);
    snprintf(label, sizeof label, "%.100s %s, t %d, mla %d, fa %d, ub %d", r->model->name, test, r->inst.n_threads,
             r->mla_mode, r->inst.fa, r->inst.n_ubatch);
    int i = 0;
    while (i < p->n && strcmp(p->s[i].label, label)) i++;
    if (i == p->n) {
        if (p->n == MAX_SERIES) { p->dropped = true; return; }
        memset(&p->s[i], 0, sizeof p->s[i]);
        snprintf(p->s[i].label, sizeof p->s[i].label, "%s", label);
        p->s[i].tg = t->n_prompt == 0;
        p->n++;
    }
    series *s = &p->s[i];
    if (s->n == MAX_POINTS) { p->dropped = true; return; }
    s->depth[s->n] = t->n_depth, s->ts[s->n] = r->avg_ts, s->sd[s->n] = r->stddev_ts;
    s->n++;
}

/* A round step for about 5 ticks over [0, hi]. */
static double tick_step(double hi) {
    double raw = hi / 5, mag = pow(10, floor(log10(raw > 0 ? raw : 1))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                                     "#17becf"};

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* One panel at x0 (width W, plot height H, legend below). */
static void panel(FILE *f, const bench_plot *p, bool tg, double x0, const char *title) {
    const double W = 460, H = 300, L = 60, T = 40;
    double dmax = 0, ymax = 0;
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->s[i].tg != tg) continue;
        n++;
        for (int k = 0; k < p->s[i].n; k++) {
            dmax = fmax(dmax, p->s[i].depth[k]);
            ymax = fmax(ymax, p->s[i].ts[k] + p->s[i].sd[k]);
        }
    }
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", x0 + L, title);
    if (!n) {
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\">no such rows</text>\n", x0 + L + 20, T + H / 2);
        return;
    }
    double ystep = tick_step(ymax * 1.05), ytop = ceil(ymax * 1.05 / ystep) * ystep;
    double xstep = tick_step(dmax > 0 ? dmax : 1), xtop = dmax > 0 ? ceil(dmax / xstep) * xstep : 1;
#define PX(d) (x0 + L + (dmax > 0 ? (d) / xtop * (W - L - 10) : (W - L - 10) / 2))
#define PY(v) (T + H - (v) / ytop * H)
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", x0 + L,
            T, W - L - 10, H);
    for (double y = 0; y <= ytop * 1.0001; y += ystep)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" "
                   "font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                x0 + L, PY(y), x0 + W - 10, PY(y), x0 + L - 4, PY(y) + 4, y);
    for (double d = 0; dmax > 0 && d <= xtop * 1.0001; d += xstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", PX(d), T + H + 16, d);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">depth (tokens in the context, -d)</text>\n",
            x0 + L + (W - L) / 2, T + H + 34);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %.0f %.0f)\">"
               "tokens/s</text>\n", x0 + 16, T + H / 2, x0 + 16, T + H / 2);
    int c = 0;
    for (int i = 0; i < p->n; i++) {
        const series *s = &p->s[i];
        if (s->tg != tg) continue;
        const char *col = COLORS[c % 8];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int k = 0; k < s->n; k++) fprintf(f, "%.1f,%.1f ", PX(s->depth[k]), PY(s->ts[k]));
        fprintf(f, "\"/>\n");
        for (int k = 0; k < s->n; k++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                       "y2=\"%.1f\" stroke=\"%s\"/>\n",
                    PX(s->depth[k]), PY(s->ts[k]), col, PX(s->depth[k]), PY(fmax(0, s->ts[k] - s->sd[k])),
                    PX(s->depth[k]), PY(s->ts[k] + s->sd[k]), col);
        double ly = T + H + 52 + 16 * c;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"/>"
                   "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">", x0 + L, ly - 4, x0 + L + 18, ly - 4, col, x0 + L + 24, ly);
        xml_text(f, s->label);
        fprintf(f, "</text>\n");
        c++;
    }
#undef PX
#undef PY
}

int bench_plot_end(bench_plot *p) {
    int n_pp = 0, n_tg = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->s[i].tg) n_tg++;
        else n_pp++;
    }
    int rows = n_pp > n_tg ? n_pp : n_tg;
    FILE *f = fopen(p->path, "w");
    int rc = 0;
    if (!f) {
        fprintf(stderr, "error: --plot %s: cannot create it\n", p->path);
        rc = -1;
    } else {
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"940\" height=\"%d\" font-family=\"sans-serif\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", 400 + 16 * rows + 10);
        panel(f, p, false, 0, "prompt processing (pp, pp+tg)");
        panel(f, p, true, 470, "generation (tg)");
        fprintf(f, "</svg>\n");
        if (fclose(f)) {
            fprintf(stderr, "error: --plot %s: write failed\n", p->path);
            rc = -1;
        } else if (p->dropped) {
            fprintf(stderr, "warning: --plot %s: more than %d lines or %d depths; the rest are left out\n", p->path,
                    MAX_SERIES, MAX_POINTS);
        }
    }
    free(p->path);
    free(p);
    return rc;
}
