/* tool_progress.c: the progress line of the file-writing commands (synth, quantize) on
 * stderr: percent, MiB done of total, rate and the tensor being written; redrawn in place
 * on a terminal at most 10 times a second, one line per 10% otherwise. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

void cli_file_progress(uint64_t done, uint64_t total, const char *tensor, void *user) {
    static double t0, last;
    static int last_decile = -1;
    double now = cli_now();
    if (t0 == 0) t0 = now;
    bool tty = isatty(2), end = done >= total;
    int decile = total ? (int)(done * 10 / total) : 10;
    if (tty ? (!end && now - last < 0.1) : decile == last_decile) return;
    last = now;
    last_decile = decile;
    double mib = done / 1048576.0, rate = now > t0 ? mib / (now - t0) : 0;
    fprintf(stderr, "%s%s: %3.0f%% %8.1f / %.1f MiB, %.0f MiB/s  %-40.40s%s", tty ? "\r" : "", (const char *)user,
            total ? 100.0 * done / total : 100.0, mib, total / 1048576.0, rate, end ? "done" : tensor,
            tty && !end ? "" : "\n");
}
