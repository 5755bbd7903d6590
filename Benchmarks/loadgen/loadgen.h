/*
 * loadgen.h: what Eddy's C load generators share (tcp-echo-load, ws-load, dag-dashboards):
 * option values with their ranges, the file-descriptor limit, base64, and a log-linear
 * latency histogram. Static functions only: each program is one translation unit and
 * defines LG_PROG (its name, for messages) before including this file.
 */
#ifndef EDDY_LOADGEN_H
#define EDDY_LOADGEN_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#ifndef LG_PROG
#error "define LG_PROG (the program's name) before including loadgen.h"
#endif

/* An integer option value in [lo, hi], or exit 1 with a message naming the flag. */
static inline long long parse_ll(const char *flag, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, LG_PROG ": bad value for %s: '%s' (want %lld..%lld)\n", flag, v, lo, hi);
        exit(1);
    }
    return x;
}

/* A decimal option value in [lo, hi], or exit 1. */
static inline double parse_d(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, LG_PROG ": bad value for %s: '%s' (want %g..%g)\n", flag, v, lo, hi);
        exit(1);
    }
    return x;
}

/* Raises the soft open-files limit to the hard one; exit 2 if `needed` descriptors (for
   `count` `noun`s) still do not fit. */
static inline void raise_nofile(int needed, int count, const char *noun)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)needed > rl.rlim_cur) {
        fprintf(stderr, LG_PROG ": %d %s need ~%d file descriptors but the limit is %llu\n", count, noun, needed,
                (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

/* Standard base64 of in[0..n) into out (4 * ceil(n / 3) + 1 bytes, NUL-terminated). */
static inline void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- latency histogram (nanoseconds, log-linear) ----
 * Values below H_LINEAR are counted exactly; above, each power of two is split into
 * H_SUB buckets (at most 0.8 % wide relative to their values), up to 2^40 ns (18 min). */
#define H_LINEAR 256
#define H_SUB 128
#define H_BUCKETS (H_LINEAR + 32 * H_SUB)

struct hist {
    uint64_t count[H_BUCKETS];
    uint64_t total, min, max;
};

static inline unsigned h_index(uint64_t v)
{
    if (v < H_LINEAR)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
    unsigned shift = m - 7u;                         /* v >> shift is in [128, 255] */
    unsigned idx = H_LINEAR + (shift - 1u) * H_SUB + (unsigned)((v >> shift) - H_SUB);
    return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static inline void h_bucket(unsigned idx, uint64_t *low, uint64_t *width)
{
    if (idx < H_LINEAR) {
        *low = idx;
        *width = 1;
        return;
    }
    unsigned shift = (idx - H_LINEAR) / H_SUB + 1;
    *low = (uint64_t)((idx - H_LINEAR) % H_SUB + H_SUB) << shift;
    *width = (uint64_t)1 << shift;
}

static inline void h_record(struct hist *h, uint64_t v)
{
    h->count[h_index(v)]++;
    if (h->total++ == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

static inline void h_merge(struct hist *into, const struct hist *from)
{
    if (!from->total)
        return;
    for (unsigned i = 0; i < H_BUCKETS; i++)
        into->count[i] += from->count[i];
    if (into->total == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->total += from->total;
}

/* Value at percentile p (0 < p <= 100): the middle of its bucket, within [min, max]. */
static inline uint64_t h_percentile(const struct hist *h, double p)
{
    if (!h->total)
        return 0;
    if (p >= 100)
        return h->max;
    uint64_t target = (uint64_t)((p / 100.0) * (double)h->total + 0.999999), seen = 0, low, width;
    if (target < 1)
        target = 1;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= target) {
            h_bucket(i, &low, &width);
            uint64_t v = low + width / 2;
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

#endif
