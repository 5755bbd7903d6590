#ifndef EDDY_TALLY_H
#define EDDY_TALLY_H

#include <stdint.h>

// Per-thread metric tallies: each thread (in practice each event loop's thread) owns its own
// array, so an add is a plain increment of thread-local memory: no lock, no atomic, no cache
// line shared with another core. Only the owning thread reads them back
// (`eddy_tally_take`), which is how they are folded into swift-metrics (EddyMetrics).

#define EDDY_TALLY_SLOTS 64

// initial-exec: the address is one fs-relative offset (no __tls_get_addr call). Eddy is linked
// into executables (and the test runner), never dlopen'ed.
extern __thread int64_t eddy_tally_slots[EDDY_TALLY_SLOTS] __attribute__((tls_model("initial-exec")));

// 0 turns every add into a no-op (`--no-metrics`). Set once at start, before loops run.
extern int eddy_tally_enabled;

static inline void eddy_tally_add(uint32_t slot, int64_t amount) {
    if (eddy_tally_enabled && slot < EDDY_TALLY_SLOTS) {
        eddy_tally_slots[slot] += amount;
    }
}

void eddy_tally_set_enabled(int enabled);
static inline int eddy_tally_is_enabled(void) { return eddy_tally_enabled; }

// Copies this thread's tallies into `into` (EDDY_TALLY_SLOTS values) and zeroes them.
void eddy_tally_take(int64_t *into);

#endif
