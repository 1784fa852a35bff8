/* devices.c: moving activations between the devices of a context. Blocks run where their
 * weights were placed; between two blocks on different devices only activations travel:
 * copied out of one device's memory into a host staging buffer, then into the other's.
 * The staging buffer is reused only after the previous copy in has read it (an event on
 * that device), so a GPU backend may queue the copy in and go on. */
#include "graph.h"

void graph_use(graph_ctx *g, int d) {
    g->be = g->dev[d].be;
    g->s = &g->dev[d].s;
}

int graph_copy(graph_ctx *g, int to, void *dst, int from, const void *src, size_t bytes) {
    backend *bt = g->dev[to].be, *bf = g->dev[from].be;
    int rc;
    if (to == from) return bt->ops->copy_2d(bt, dst, bytes, src, bytes, bytes, 1);
    if (bytes > g->stage_bytes) return LATTE_E_ARG;
    if (g->stage_dev >= 0) { /* the last copy in must have read the buffer */
        backend *bs = g->dev[g->stage_dev].be;
        if ((rc = bs->ops->event_sync(bs, g->dev[g->stage_dev].ev))) return rc;
    }
    if ((rc = bf->ops->copy_out(bf, g->stage, src, bytes)) || (rc = bf->ops->sync(bf))) return rc;
    if ((rc = bt->ops->copy_in(bt, dst, g->stage, bytes)) || (rc = bt->ops->event_record(bt, g->dev[to].ev))) return rc;
    g->stage_dev = to;
    return 0;
}

int graph_move_x(graph_ctx *g, int d, int n) {
    int rc = 0;
    if (d != g->cur)
        rc = graph_copy(g, d, g->dev[d].s.x, g->cur, g->dev[g->cur].s.x, sizeof(float) * (size_t)n * g->hp->n_embd);
    g->cur = d;
    graph_use(g, d);
    return rc;
}
