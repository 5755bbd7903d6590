/* Counts every heap allocation of a process (LD_PRELOAD); prints the total at exit.
   Used where valgrind 3.19 cannot run Swift binaries. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static atomic_ulong allocations;
#define COUNT atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed)
void *malloc(size_t n) { COUNT; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT; return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { COUNT; return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { COUNT; return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    COUNT; void *p = __libc_memalign(a, n); if (!p) return ENOMEM; *out = p; return 0;
}
__attribute__((destructor)) static void report(void) {
    fprintf(stderr, "malloc-counter: allocations=%lu\n", (unsigned long)atomic_load(&allocations));
}
