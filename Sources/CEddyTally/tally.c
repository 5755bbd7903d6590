#include "eddy_tally.h"
#include <string.h>

__thread int64_t eddy_tally_slots[EDDY_TALLY_SLOTS] __attribute__((tls_model("initial-exec")));
int eddy_tally_enabled = 1;

void eddy_tally_take(int64_t *into) {
    memcpy(into, eddy_tally_slots, sizeof(eddy_tally_slots));
    memset(eddy_tally_slots, 0, sizeof(eddy_tally_slots));
}

void eddy_tally_set_enabled(int enabled) { eddy_tally_enabled = enabled ? 1 : 0; }
