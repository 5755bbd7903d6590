/* live-heap: live heap bytes of a process by allocation size class (LD_PRELOAD), to see
   what an idle connection costs. Every second it looks for the file named by
   $LIVE_HEAP_TRIGGER (default /tmp/live-heap.trigger); when it exists, the file is removed
   and one table (size class, live allocations, live bytes) goes to stderr. Sizes come from
   malloc_usable_size, so a class counts what glibc really handed out. Classes are 16 bytes
   wide below 8 KiB (a row "272" holds usable sizes 272..287: one object type, usually) and
   powers of two above (a row "131072" holds 131072..262143). glibc's chunk is the usable
   size + 8, rounded up to 16.
   Build: gcc -O2 -shared -fPIC -o liblive-heap.so live-heap.c -lpthread (see rss notes). */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define SMALL 512 /* 16-byte classes up to 8 KiB */
#define CLASSES (SMALL + 40)
static atomic_long live_count[CLASSES];
static atomic_long live_bytes[CLASSES];

static int class_of(size_t n) {
    if (n < SMALL * 16) return (int)(n / 16);
    int c = 0; while (n > 1 && c < 39) { n >>= 1; c++; } return SMALL + c;
}
static long class_bytes(int c) { return c < SMALL ? (long)c * 16 : 1L << (c - SMALL); }
static void note(void *p, int sign) {
    if (!p) return;
    size_t n = malloc_usable_size(p);
    int c = class_of(n);
    atomic_fetch_add_explicit(&live_count[c], sign, memory_order_relaxed);
    atomic_fetch_add_explicit(&live_bytes[c], sign * (long)n, memory_order_relaxed);
}
void *malloc(size_t n) { void *p = __libc_malloc(n); note(p, 1); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); note(p, 1); return p; }
void free(void *p) { note(p, -1); __libc_free(p); }
void *realloc(void *p, size_t n) { note(p, -1); void *q = __libc_realloc(p, n); note(q ? q : (n ? NULL : NULL), 1); return q; }
void *memalign(size_t a, size_t n) { void *p = __libc_memalign(a, n); note(p, 1); return p; }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) { void *p = memalign(a, n); if (!p) return 12; *out = p; return 0; }

static void *watch(void *unused) {
    (void)unused;
    const char *trigger = getenv("LIVE_HEAP_TRIGGER");
    if (!trigger) trigger = "/tmp/live-heap.trigger";
    for (;;) {
        sleep(1);
        if (access(trigger, F_OK) != 0) continue;
        unlink(trigger);
        long total = 0;
        fprintf(stderr, "live-heap: class_bytes live_allocations live_bytes\n");
        for (int c = 0; c < CLASSES; c++) {
            long n = atomic_load(&live_count[c]), b = atomic_load(&live_bytes[c]);
            total += b;
            if (n > 0) fprintf(stderr, "live-heap: %ld %ld %ld\n", class_bytes(c), n, b);
        }
        fprintf(stderr, "live-heap: total %ld\n", total);
        fflush(stderr);
    }
    return NULL;
}
__attribute__((constructor)) static void start(void) { pthread_t t; pthread_create(&t, NULL, watch, NULL); pthread_detach(t); }
