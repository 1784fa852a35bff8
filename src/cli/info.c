/* info.c: `latte info MODEL`: needs only the metadata and the tensor directory. */
#include <stdio.h>

#include "cli.h"

int cmd_info(const cli_opts *o) {
    latte_model *m = NULL;
    int rc = cli_load_model(o, true, &m);
    if (rc) return rc;
    latte_model_describe(m, stdout);
    latte_model_free(m);
    if (fflush(stdout)) {
        fprintf(stderr, "error: cannot write the output\n");
        return CLI_ERR;
    }
    return 0;
}
