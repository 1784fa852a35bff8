/* stubs.c: commands not yet written. */
#include <stdio.h>
#include "cli.h"
int cmd_bench(const cli_opts *o) { fprintf(stderr, "error: bench is not built yet\n"); return 1; }
