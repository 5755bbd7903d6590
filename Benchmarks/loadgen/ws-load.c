/*
 * ws-load: WebSocket load generator in C (epoll, non-blocking sockets), so that
 * WebSocket benchmarks are not limited by a load generator that costs as much
 * CPU as the server. Two modes, with the semantics and RESULT fields of the
 * Swift generators `eddy bench` and `eddy fanout`:
 *
 *   ws-load echo --port P [--host 127.0.0.1] [--path /] [--connections 100]
 *                [--in-flight 1] [--payload 32] [--text] [--rate R] [--duration 5]
 *                [--warmup 1] [--threads 1] [--concurrency 200] [--connect-timeout 30]
 *                [--timeout S]
 *
 *     Closed loop against an echo server: N connections each keep K messages of
 *     B bytes in flight. Every echoed message is checked (opcode, length and
 *     content, in order) and immediately replaced by a new one. A message's
 *     first 16 bytes carry the connection's sequence number and the send time
 *     (binary: two big-endian 64-bit words; --text: 16 printable characters,
 *     6 bits each); the rest is a per-connection, per-message slice of a fixed
 *     pseudo-random table (printable ASCII with --text, so the text is valid
 *     UTF-8). permessage-deflate is never offered. A message counts when its
 *     echo arrives inside the measured window and it was sent inside it.
 *
 *     --rate R: open loop at R messages per second in all, instead: every
 *     millisecond each thread sends the messages its share of R has made due
 *     since it started, round-robin over its connections, an echo no longer
 *     triggering the next message. So the load comes in 1 kHz bursts of about
 *     R / (1000 N) messages per connection. K is then a cap: a message due when
 *     every connection already has K outstanding is not sent and counts in
 *     missed (the server fell behind R, or answers or this client stalled for
 *     longer than N K / R). Latency runs from when a message is sent, not from
 *     when it fell due. For CPU per message at the same load whatever the
 *     server's speed (e.g. one loop against two).
 *
 *     RESULT url=ws://H:P/path connections=N in_flight=K payload=B mode=binary|text
 *            deflate=off negotiated=0/N seconds=S messages=M msgs_per_sec=X
 *            [rate=R missed=Z] p50_us=a p99_us=b p999_us=c max_us=d errors=E
 *            client_cpu_sec=U
 *
 *   ws-load fanout --port P [--host 127.0.0.1] [--path /] [--subscribers 1000]
 *                  [--stalled 0] [--payload 64] [--rate R | --window 16]
 *                  [--duration 5] [--warmup 1] [--threads 1] [--concurrency 200]
 *                  [--connect-timeout 30] [--timeout S]
 *
 *     Against a broadcast server (every message a client sends goes to every
 *     client, sender included). Stalled subscribers connect first (small
 *     SO_RCVBUF), complete the handshake and are never read again; then the N
 *     reading subscribers, then one publisher (which discards its own copies).
 *     The publisher sends binary messages: 8-byte big-endian sequence number,
 *     8-byte big-endian send time (ns), then 0x2A filler. --rate R: R messages
 *     per second on a fixed schedule (timerfd; every tick due before the end of
 *     the window is published, late ones in a burst, stamped with the time they
 *     are actually written, as eddy fanout does). Otherwise windowed: at most W
 *     messages outstanding, a message being complete once every reading
 *     subscriber got it (per-sequence delivery counts in a ring; a window stuck
 *     for 1 s is forced forward and reported on stderr). Every subscriber checks
 *     that sequence numbers arrive in order (a gap or a repeat counts in
 *     out_of_order) and records the delivery latency of messages sent inside the
 *     measured window. After the window the publisher stops and ws-load waits
 *     (at most 2 s) for the last deliveries.
 *
 *     RESULT url=ws://H:P/path subscribers=N stalled=K payload=B mode=rate=R|window=W
 *            seconds=S published=P deliveries=D deliveries_per_sec=X p50_us=a
 *            p99_us=b p999_us=c out_of_order=O errors=E client_cpu_sec=U
 *
 *     published and deliveries are totals (warm-up and drain included, so
 *     deliveries ~ published * N); deliveries_per_sec counts deliveries of
 *     messages sent in the measured window, divided by its length.
 *
 * Common: "ws-load: N connections upgraded in S s" on stderr once every
 * connection is open; the measured window starts --warmup seconds later and lasts
 * --duration seconds; latencies (µs, one decimal) come from a
 * log-linear histogram (128 linear sub-buckets per power of two: < 0.4% error
 * from 256 ns to 270 s); client_cpu_sec is getrusage(RUSAGE_SELF) user+system
 * time over the measured window. Connections are opened --concurrency at a time
 * (connect + upgrade in progress), so the server's backlog is not overrun.
 * Client frames are masked (fixed random key per connection); server pings are
 * answered with pongs; a close frame, a protocol error or a connection error
 * counts in errors. --threads T splits the connections over T threads, each
 * with its own epoll (the fan-out publisher lives in thread 0). At the end every
 * socket gets a close frame and is reset (SO_LINGER 0: no TIME_WAIT left).
 *
 * Exit codes: 0 ok; 1 usage; 2 connect/handshake failure; 3 validation failure
 * (echo: wrong echo content, length, opcode or order - the run aborts; fan-out:
 * malformed delivery or out_of_order > 0 - the RESULT line is still printed);
 * 4 connection errors during the run, or nothing measured; 5 hard time limit
 * hit (--timeout).
 *
 * Build: gcc -O2 -Wall -Wextra -o ws-load ws-load.c -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LG_PROG "ws-load"
#include "loadgen.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define RECV_BUF (64 * 1024)
#define MAX_EVENTS 512
#define HS_BUF 2048           /* handshake request / response buffer */
#define PATLEN 65521u         /* filler table length (prime), stored twice */
#define CONN_SHIFT 7919u
#define SEQ_SHIFT 257u
#define MAX_PAYLOAD (16u << 20)
#define FANOUT_FILL 0x2A
#define CNT_BITS 20           /* window ring slot: (seq << CNT_BITS) | deliveries */
#define CNT_MASK ((1ull << CNT_BITS) - 1)
#define STALL_NS 1000000000ull /* a window stuck this long is forced forward */
#define DRAIN_NS 2000000000ull /* wait at most this long for the last deliveries */
#define MAX_ERROR_LINES 10

enum { MODE_ECHO = 1, MODE_FANOUT = 2 };
enum { ROLE_ECHO, ROLE_SUB, ROLE_STALLED, ROLE_PUB };
enum { HS_CONNECTING = 1, HS_SENDING, HS_READING, HS_DONE };

/* ---- options ---- */
static int opt_mode;
static const char *opt_host = "127.0.0.1";
static int opt_port = -1;
static const char *opt_path = "/";
static int opt_conns = 100;
static int opt_inflight = 1;
static int opt_payload = -1; /* default depends on the mode */
static int opt_text;
static int opt_subs = 1000;
static int opt_stalled;
static long opt_rate;  /* fan-out: 0 = windowed; echo: 0 = closed loop */
static int opt_window = 16;
static double opt_duration = 5.0;
static double opt_warmup = 1.0;
static int opt_threads = 1;
static int opt_concurrency = 200;
static double opt_connect_timeout = 30.0;
static double opt_timeout; /* 0 = auto */

/* ---- shared state ---- */
static int stop_flag;  /* main -> workers: return */
static int fatal_flag; /* echo validation failure: everything stops */
static int error_lines;
static uint64_t t0_abs;             /* CLOCK_MONOTONIC ns at start; every timestamp is relative to it */
static uint64_t win_from, win_until; /* measured window, ns since t0 */
static unsigned char pattern[2 * PATLEN];
static unsigned char fanout_fill[4096];

/* fan-out shared state */
static uint64_t *ring; /* window mode: per-seq delivery counts */
static uint64_t ring_mask;
static int live_readers;   /* reading subscribers still connected */
static uint64_t published; /* messages published (written by thread 0) */
static int pub_done;       /* thread 0 stopped publishing */
static uint64_t window_forced;

/* Value at percentile p (0 < p <= 100): the middle of its bucket, within [min, max]. */
/* ---- SHA-1 and base64, for Sec-WebSocket-Accept ---- */
static inline uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *b)
{
    uint32_t w[80], a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20) {
            f = (bb & c) | (~bb & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = bb ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (bb & c) | (bb & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = bb ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(bb, 30);
        bb = a;
        a = t;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    unsigned char tail[128];
    size_t full = len & ~(size_t)63, rest = len - full, tl;
    uint64_t bits = (uint64_t)len * 8;
    for (size_t off = 0; off < full; off += 64)
        sha1_block(h, msg + off);
    memset(tail, 0, sizeof tail);
    memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    tl = rest + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* ---- connections and workers ---- */
struct conn {
    int fd;
    uint32_t id;
    uint8_t role, dead, out_armed, hs_state;
    /* frame parser (server -> client) */
    uint8_t in_hdr;   /* collecting a frame header */
    uint8_t hdr_have;
    uint8_t fop, ffin; /* current frame */
    uint8_t msg_op;    /* opcode of the message in progress, 0 = none */
    uint8_t ctrl_have;
    uint8_t hdr[14];
    uint64_t flen;    /* payload bytes left in the current frame */
    uint64_t msg_len; /* payload bytes of the current message so far */
    uint8_t ctrl[126];
    uint8_t mhead[16]; /* fan-out: the first 16 bytes of the current message */
    /* output: pending bytes are obuf[ohead, otail) */
    uint8_t *obuf;
    size_t ocap, ohead, otail;
    uint8_t maskb[4];
    uint64_t mask64;
    /* echo: messages [recv_seq, send_seq) are outstanding */
    uint64_t send_seq, recv_seq;
    uint64_t *sent_at; /* send time of seq, at [seq % in_flight] */
    uint32_t shift;
    /* fan-out subscriber */
    uint64_t expect;
    /* handshake */
    char key[28];
    char *hsbuf;
    size_t hslen, hsoff;
    uint8_t *left; /* bytes that followed the 101 response */
    size_t leftlen;
};

struct worker {
    /* written only by the owning worker; main reads them with relaxed atomics */
    uint64_t deliveries __attribute__((aligned(64)));
    uint64_t errors;
    uint64_t measured;     /* echo: messages in the window; fan-out: deliveries of window messages */
    uint64_t out_of_order; /* fan-out */
    uint64_t malformed;    /* fan-out */
    struct hist *hist;
    pthread_t thread;
    int index, epfd, evfd, tfd;
    struct conn **conns;
    int nconns;
    uint8_t *rbuf;
    uint64_t now; /* timestamp of the bytes being parsed */
    int pump;     /* thread 0: a window slot may have completed */
    /* thread 0, fan-out: the publisher */
    struct conn *pub;
    uint64_t next_seq, done_seq, last_progress;
    uint64_t first_tick, interval, ticks; /* --rate: tick k is due at first_tick + k * interval */
    /* echo --rate: this thread's share of R; messages due and not sent (no room) */
    uint64_t echo_rate, missed;
    int next_conn; /* round-robin position */
} __attribute__((aligned(64)));

static struct worker *workers;
static int evfd_tag, tfd_tag; /* their addresses tag eventfd / timerfd in epoll */

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ns(void) { return mono_ns() - t0_abs; }

static double cpu_sec(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_alarm(int sig)
{
    static const char msg[] = "ws-load: FATAL: hard time limit (--timeout) reached, aborting\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(5);
}

static void usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "ws-load: %s\n", msg);
    fprintf(stderr,
            "usage: ws-load echo --port P [--host H] [--path /] [--connections N] [--in-flight K]\n"
            "                    [--payload B] [--text] [--rate R] [--duration S] [--warmup S] [--threads T]\n"
            "                    [--concurrency C] [--connect-timeout S] [--timeout S]\n"
            "       ws-load fanout --port P [--host H] [--path /] [--subscribers N] [--stalled K]\n"
            "                    [--payload B] [--rate R | --window W] [--duration S] [--warmup S]\n"
            "                    [--threads T] [--concurrency C] [--connect-timeout S] [--timeout S]\n");
    exit(1);
}

static void parse_args(int argc, char **argv)
{
    int window_given = 0;
    if (argc < 2)
        usage(NULL);
    if (!strcmp(argv[1], "echo"))
        opt_mode = MODE_ECHO;
    else if (!strcmp(argv[1], "fanout"))
        opt_mode = MODE_FANOUT;
    else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        usage(NULL);
    else
        usage("the first argument must be 'echo' or 'fanout'");
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        const char *v;
        int echo = opt_mode == MODE_ECHO;
        if (!strcmp(f, "-h") || !strcmp(f, "--help"))
            usage(NULL);
        if (!strcmp(f, "--text")) {
            if (!echo)
                usage("--text is an echo option");
            opt_text = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ws-load: missing value for %s\n", f);
            usage(NULL);
        }
        v = argv[++i];
        if (!strcmp(f, "--host"))
            opt_host = v;
        else if (!strcmp(f, "--port"))
            opt_port = (int)parse_ll(f, v, 1, 65535);
        else if (!strcmp(f, "--path"))
            opt_path = v;
        else if (!strcmp(f, "--payload"))
            opt_payload = (int)parse_ll(f, v, echo ? 0 : 16, MAX_PAYLOAD);
        else if (!strcmp(f, "--duration"))
            opt_duration = parse_d(f, v, 0.01, 86400);
        else if (!strcmp(f, "--warmup"))
            opt_warmup = parse_d(f, v, 0, 86400);
        else if (!strcmp(f, "--threads"))
            opt_threads = (int)parse_ll(f, v, 1, 256);
        else if (!strcmp(f, "--concurrency"))
            opt_concurrency = (int)parse_ll(f, v, 1, 100000);
        else if (!strcmp(f, "--connect-timeout"))
            opt_connect_timeout = parse_d(f, v, 0.1, 3600);
        else if (!strcmp(f, "--timeout"))
            opt_timeout = parse_d(f, v, 1, 86400 * 2);
        else if (echo && !strcmp(f, "--connections"))
            opt_conns = (int)parse_ll(f, v, 1, 1000000);
        else if (echo && !strcmp(f, "--in-flight"))
            opt_inflight = (int)parse_ll(f, v, 1, 1000000);
        else if (!echo && !strcmp(f, "--subscribers"))
            opt_subs = (int)parse_ll(f, v, 1, 1000000);
        else if (!echo && !strcmp(f, "--stalled"))
            opt_stalled = (int)parse_ll(f, v, 0, 1000000);
        else if (!strcmp(f, "--rate"))
            opt_rate = (long)parse_ll(f, v, 0, 100000000);
        else if (!echo && !strcmp(f, "--window")) {
            opt_window = (int)parse_ll(f, v, 1, 1 << 20);
            window_given = 1;
        } else {
            fprintf(stderr, "ws-load: unknown %s option %s\n", echo ? "echo" : "fanout", f);
            usage(NULL);
        }
    }
    if (opt_port < 0)
        usage("--port is required");
    if (opt_path[0] != '/')
        usage("--path must start with '/'");
    if (strlen(opt_path) > 512 || strlen(opt_host) > 255 || strpbrk(opt_path, " \r\n") || strpbrk(opt_host, " \r\n/"))
        usage("bad --host or --path");
    if (window_given && opt_rate > 0)
        usage("--window only applies without --rate");
    if (opt_payload < 0)
        opt_payload = opt_mode == MODE_ECHO ? 32 : 64;
    {
        int n = opt_mode == MODE_ECHO ? opt_conns : opt_subs;
        if (opt_threads > n)
            opt_threads = n;
    }
    if ((uint64_t)opt_subs >= CNT_MASK)
        usage("too many subscribers");
    if (opt_timeout == 0) /* auto: generous, but always bounded */
        opt_timeout = 3 * opt_connect_timeout + opt_warmup + opt_duration + 30;
}

static void fill_pattern(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (unsigned i = 0; i < PATLEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = opt_text ? (unsigned char)(0x20 + (x >> 24) % 95) : (unsigned char)(x >> 24);
    }
    memcpy(pattern + PATLEN, pattern, PATLEN);
    memset(fanout_fill, FANOUT_FILL, sizeof fanout_fill);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/* The first 16 bytes of echo message `seq`: seq and send time. */
static inline void echo_head(uint64_t seq, uint64_t ts, uint8_t out[16])
{
    if (!opt_text) {
        put_be64(out, seq);
        put_be64(out + 8, ts);
        return;
    }
    for (int i = 0; i < 8; i++) { /* 48 bits each, 6 bits per printable character '0'..'o' */
        out[i] = (uint8_t)('0' + ((seq >> (42 - 6 * i)) & 63));
        out[8 + i] = (uint8_t)('0' + ((ts >> (42 - 6 * i)) & 63));
    }
}

/* Where echo message `seq`'s filler starts in the pattern table. */
static inline uint32_t filler_start(const struct conn *c, uint64_t seq)
{
    return (uint32_t)((c->shift + (seq % PATLEN) * SEQ_SHIFT) % PATLEN);
}

static inline void mask_bytes(uint8_t *p, size_t n, uint64_t m64, const uint8_t m[4])
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        x ^= m64;
        memcpy(p + i, &x, 8);
    }
    for (; i < n; i++)
        p[i] ^= m[i & 3];
}

/* ---- output ---- */

static void conn_fail(struct worker *w, struct conn *c, const char *what, int err);

static void set_out(struct worker *w, struct conn *c, int on)
{
    struct epoll_event ev;
    if (c->out_armed == on)
        return;
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        conn_fail(w, c, "epoll_ctl", errno);
        return;
    }
    c->out_armed = (uint8_t)on;
}

/* Room for n more output bytes; returns where they go. */
static uint8_t *out_reserve(struct conn *c, size_t n)
{
    if (c->otail + n > c->ocap) {
        if (c->ohead > 0) {
            memmove(c->obuf, c->obuf + c->ohead, c->otail - c->ohead);
            c->otail -= c->ohead;
            c->ohead = 0;
        }
        if (c->otail + n > c->ocap) {
            size_t cap = c->ocap ? c->ocap : 256;
            while (cap < c->otail + n)
                cap *= 2;
            c->obuf = realloc(c->obuf, cap);
            if (!c->obuf) {
                fprintf(stderr, "ws-load: out of memory (output buffer of %zu bytes)\n", cap);
                exit(2);
            }
            c->ocap = cap;
        }
    }
    return c->obuf + c->otail;
}

/* Appends a masked frame header for a payload of len bytes; returns where the
 * payload goes (the caller writes it, masks it, and advances otail by len). */
static uint8_t *frame_begin(struct conn *c, unsigned op, size_t len)
{
    uint8_t *f = out_reserve(c, len + 14);
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        f[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        f[h++] = 0x80 | 126;
        f[h++] = (uint8_t)(len >> 8);
        f[h++] = (uint8_t)len;
    } else {
        f[h++] = 0x80 | 127;
        put_be64(f + h, (uint64_t)len);
        h += 8;
    }
    memcpy(f + h, c->maskb, 4);
    h += 4;
    c->otail += h;
    return f + h;
}

static void send_control(struct conn *c, unsigned op, const uint8_t *payload, size_t len)
{
    uint8_t *p = frame_begin(c, op, len);
    memcpy(p, payload, len);
    mask_bytes(p, len, c->mask64, c->maskb);
    c->otail += len;
}

static void flush_out(struct worker *w, struct conn *c)
{
    while (!c->dead && c->ohead < c->otail) {
        ssize_t n = send(c->fd, c->obuf + c->ohead, c->otail - c->ohead, MSG_NOSIGNAL);
        if (n > 0) {
            c->ohead += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(w, c, 1);
            return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            conn_fail(w, c, "send failed", n < 0 ? errno : 0);
            return;
        }
    }
    if (c->dead)
        return;
    c->ohead = c->otail = 0;
    set_out(w, c, 0);
}

static void hard_close(struct conn *c)
{
    struct linger l = {1, 0};
    if (c->fd < 0)
        return;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c->fd);
    c->fd = -1;
}

static void notify_publisher(struct worker *w)
{
    if (w->index == 0) {
        w->pump = 1;
    } else {
        uint64_t one = 1;
        if (write(workers[0].evfd, &one, sizeof one) < 0) {
        }
    }
}

static void conn_fail(struct worker *w, struct conn *c, const char *what, int err)
{
    int line;
    if (c->dead)
        return;
    line = __atomic_add_fetch(&error_lines, 1, __ATOMIC_RELAXED);
    if (line <= MAX_ERROR_LINES)
        fprintf(stderr, "ws-load: %s %u: %s%s%s\n",
                c->role == ROLE_PUB ? "publisher" : c->role == ROLE_SUB ? "subscriber" : "connection", c->id, what,
                err ? ": " : "", err ? strerror(err) : "");
    if (line == MAX_ERROR_LINES)
        fprintf(stderr, "ws-load: (further per-connection errors not shown)\n");
    c->dead = 1;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    hard_close(c);
    STORE(w->errors, w->errors + 1);
    if (c->role == ROLE_SUB) {
        __atomic_sub_fetch(&live_readers, 1, __ATOMIC_RELAXED);
        if (!opt_rate)
            notify_publisher(w);
    }
}

/* ---- echo ---- */

static void echo_send(struct conn *c, uint64_t now)
{
    size_t len = (size_t)opt_payload, head = MIN(len, 16), done;
    uint64_t seq = c->send_seq++;
    uint8_t *p = frame_begin(c, opt_text ? 0x1 : 0x2, len), h[16];
    uint32_t start = filler_start(c, seq);
    c->sent_at[seq % (uint64_t)opt_inflight] = now;
    echo_head(seq, now, h);
    memcpy(p, h, head);
    for (done = head; done < len;) {
        size_t k = MIN(len - done, PATLEN);
        memcpy(p + done, pattern + start, k);
        start = (uint32_t)((start + k) % PATLEN);
        done += k;
    }
    mask_bytes(p, len, c->mask64, c->maskb);
    c->otail += len;
}

static void validation_failure(struct conn *c, const char *what, uint64_t off, int expected, int got)
{
    if (__atomic_exchange_n(&fatal_flag, 1, __ATOMIC_RELAXED))
        return; /* another thread already reported */
    if (expected >= 0)
        fprintf(stderr,
                "ws-load: FATAL: echo validation failed on connection %u, message %llu, byte %llu: expected "
                "0x%02x, got 0x%02x. The server did not echo the message it was sent.\n",
                c->id, (unsigned long long)c->recv_seq, (unsigned long long)off, expected, got);
    else
        fprintf(stderr, "ws-load: FATAL: echo validation failed on connection %u, message %llu: %s\n", c->id,
                (unsigned long long)c->recv_seq, what);
}

/* Payload bytes [off, off+len) of the message in progress. */
static void echo_data(struct conn *c, const uint8_t *p, size_t len, uint64_t off)
{
    uint64_t seq = c->recv_seq, end = off + len, head = MIN((uint64_t)opt_payload, 16);
    if (seq == c->send_seq) {
        validation_failure(c, "a message arrived but none was outstanding", 0, -1, 0);
        return;
    }
    if (end > (uint64_t)opt_payload) {
        validation_failure(c, "the echo is longer than the message sent", 0, -1, 0);
        return;
    }
    if (off < head) {
        uint8_t h[16];
        size_t k = (size_t)(MIN(end, head) - off);
        echo_head(seq, c->sent_at[seq % (uint64_t)opt_inflight], h);
        if (memcmp(p, h + off, k) != 0) {
            size_t i = 0;
            while (p[i] == h[off + i])
                i++;
            validation_failure(c, NULL, off + i, h[off + i], p[i]);
            return;
        }
        p += k;
        off += k;
        len -= k;
    }
    if (len) {
        uint64_t foff = off - head;
        uint32_t start = (uint32_t)((filler_start(c, seq) + foff) % PATLEN);
        while (len) {
            size_t k = MIN(len, PATLEN);
            if (memcmp(p, pattern + start, k) != 0) {
                size_t i = 0;
                while (p[i] == pattern[start + i])
                    i++;
                validation_failure(c, NULL, off + i, pattern[start + i], p[i]);
                return;
            }
            p += k;
            off += k;
            len -= k;
            start = (uint32_t)((start + k) % PATLEN);
        }
    }
}

static void echo_message(struct worker *w, struct conn *c)
{
    uint64_t seq = c->recv_seq, sent;
    if (c->msg_op != (opt_text ? 0x1 : 0x2)) {
        validation_failure(c, opt_text ? "the echo is a binary message, a text one was sent"
                                       : "the echo is a text message, a binary one was sent",
                           0, -1, 0);
        return;
    }
    if (seq == c->send_seq) { /* empty message, nothing outstanding */
        validation_failure(c, "a message arrived but none was outstanding", 0, -1, 0);
        return;
    }
    if (c->msg_len != (uint64_t)opt_payload) {
        validation_failure(c, "the echo is shorter than the message sent", 0, -1, 0);
        return;
    }
    sent = c->sent_at[seq % (uint64_t)opt_inflight];
    c->recv_seq++;
    if (w->now >= win_from && sent >= win_from && w->now <= win_until) {
        w->measured++;
        h_record(w->hist, w->now - sent);
    }
    if (!opt_rate)
        echo_send(c, w->now);
}

/* echo --rate: send what this thread's share of the rate has made due by now,
 * round-robin over connections with room; nothing once the window has ended. */
static void echo_tick(struct worker *w)
{
    uint64_t exp = 0, now = now_ns(), due;
    if (read(w->tfd, &exp, sizeof exp) < 0) {
        /* EAGAIN: the schedule below decides what is due anyway */
    }
    if (now <= w->first_tick || now >= win_until)
        return;
    due = (uint64_t)((unsigned __int128)(now - w->first_tick) * w->echo_rate / 1000000000ull);
    while (w->ticks < due && !LOAD(fatal_flag)) {
        struct conn *c = NULL;
        for (int tried = 0; tried < w->nconns; tried++) {
            struct conn *k = w->conns[w->next_conn];
            w->next_conn = (w->next_conn + 1) % w->nconns;
            if (!k->dead && k->send_seq - k->recv_seq < (uint64_t)opt_inflight) {
                c = k;
                break;
            }
        }
        if (!c) { /* every connection is full: the rest of what is due is missed */
            if (now >= win_from)
                STORE(w->missed, w->missed + (due - w->ticks));
            w->ticks = due;
            break;
        }
        w->ticks++;
        echo_send(c, now);
    }
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (!c->dead && c->otail > c->ohead && !c->out_armed)
            flush_out(w, c);
    }
}

/* echo --rate: a 1 ms timer drives echo_tick. */
static void start_echo_rate(struct worker *w)
{
    struct itimerspec its;
    struct epoll_event ev;
    w->echo_rate = (uint64_t)opt_rate / (uint64_t)opt_threads + ((uint64_t)w->index < (uint64_t)opt_rate % (uint64_t)opt_threads);
    w->first_tick = now_ns();
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->tfd < 0) {
        perror("ws-load: timerfd_create");
        exit(2);
    }
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 1000000;
    its.it_interval.tv_nsec = 1000000;
    ev.events = EPOLLIN;
    ev.data.ptr = &tfd_tag;
    if (timerfd_settime(w->tfd, 0, &its, NULL) != 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev) != 0) {
        perror("ws-load: timerfd");
        exit(2);
    }
}

/* ---- fan-out ---- */

static void fanout_data(struct worker *w, struct conn *c, const uint8_t *p, size_t len, uint64_t off)
{
    (void)w;
    if (c->role != ROLE_SUB)
        return; /* the publisher discards its own copies */
    if (off + len > (uint64_t)opt_payload)
        return; /* reported at the end of the message */
    if (off < 16) {
        size_t k = (size_t)MIN((uint64_t)len, 16 - off);
        memcpy(c->mhead + off, p, k);
        p += k;
        off += k;
        len -= k;
    }
    while (len) {
        size_t k = MIN(len, sizeof fanout_fill);
        if (memcmp(p, fanout_fill, k) != 0) {
            c->mhead[0] |= 0x80; /* poison: seq >= 2^63 is never valid */
            return;
        }
        p += k;
        len -= k;
    }
}

static void window_delivered(struct worker *w, uint64_t seq)
{
    uint64_t *slot = &ring[seq & ring_mask];
    uint64_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((v >> CNT_BITS) != seq)
            return; /* not (or no longer) tracked: forced forward, or a bogus seq */
        if (__atomic_compare_exchange_n(slot, &v, v + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    if ((int64_t)((v + 1) & CNT_MASK) >= (int64_t)LOAD(live_readers))
        notify_publisher(w);
}

static void fanout_message(struct worker *w, struct conn *c)
{
    uint64_t seq, ts;
    if (c->role != ROLE_SUB)
        return;
    if (c->msg_op != 0x2 || c->msg_len != (uint64_t)opt_payload || (c->mhead[0] & 0x80)) {
        int line = __atomic_add_fetch(&error_lines, 1, __ATOMIC_RELAXED);
        if (line <= MAX_ERROR_LINES)
            fprintf(stderr, "ws-load: subscriber %u: malformed delivery (%s message of %llu bytes%s)\n", c->id,
                    c->msg_op == 0x2 ? "binary" : "text", (unsigned long long)c->msg_len,
                    c->msg_len == (uint64_t)opt_payload ? ", wrong content" : "");
        w->malformed++;
        STORE(w->errors, w->errors + 1);
        return;
    }
    seq = get_be64(c->mhead);
    ts = get_be64(c->mhead + 8);
    if (seq != c->expect)
        w->out_of_order++;
    c->expect = seq + 1;
    STORE(w->deliveries, w->deliveries + 1);
    if (ts >= win_from && ts < win_until) {
        w->measured++;
        h_record(w->hist, w->now >= ts ? w->now - ts : 0);
    }
    if (!opt_rate)
        window_delivered(w, seq);
}

/* ---- frame parser: server frames, split anywhere, any number per read ---- */

static void protocol_error(struct worker *w, struct conn *c, const char *what)
{
    conn_fail(w, c, what, 0);
}

static void on_frame_header(struct worker *w, struct conn *c)
{
    uint8_t b0 = c->hdr[0], b1 = c->hdr[1];
    uint64_t len = b1 & 0x7F;
    unsigned op = b0 & 0x0F;
    if (len == 126)
        len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
    else if (len == 127)
        len = get_be64(c->hdr + 2);
    if (b0 & 0x70)
        { protocol_error(w, c, "protocol error: RSV bits set but no extension was negotiated"); return; }
    if (b1 & 0x80)
        { protocol_error(w, c, "protocol error: masked frame from the server"); return; }
    c->fop = (uint8_t)op;
    c->ffin = b0 >> 7;
    c->flen = len;
    if (op >= 8) {
        if (!c->ffin || len > 125 || op > 0xA)
            { protocol_error(w, c, "protocol error: bad control frame"); return; }
        c->ctrl_have = 0;
    } else if (op == 0) {
        if (!c->msg_op)
            { protocol_error(w, c, "protocol error: continuation frame outside a message"); return; }
    } else if (op == 1 || op == 2) {
        if (c->msg_op)
            { protocol_error(w, c, "protocol error: new message inside a fragmented one"); return; }
        c->msg_op = (uint8_t)op;
        c->msg_len = 0;
    } else {
        { protocol_error(w, c, "protocol error: reserved opcode"); return; }
    }
    if (op < 8 && c->msg_len + len > MAX_PAYLOAD + (uint64_t)65536)
        { protocol_error(w, c, "message too large"); return; }
}

static void on_frame_end(struct worker *w, struct conn *c)
{
    c->in_hdr = 1;
    c->hdr_have = 0;
    if (c->fop >= 8) {
        if (c->fop == 0x9) {
            send_control(c, 0xA, c->ctrl, c->ctrl_have);
        } else if (c->fop == 0x8) {
            char what[96];
            unsigned code = c->ctrl_have >= 2 ? (unsigned)c->ctrl[0] << 8 | c->ctrl[1] : 0;
            snprintf(what, sizeof what, "close frame from the server (code %u)", code);
            conn_fail(w, c, what, 0);
        }
        return;
    }
    if (!c->ffin)
        return;
    if (opt_mode == MODE_ECHO)
        echo_message(w, c);
    else
        fanout_message(w, c);
    c->msg_op = 0;
}

static void feed(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
    while (n && !c->dead) {
        if (c->in_hdr) {
            size_t need, k;
            if (c->hdr_have < 2) {
                k = MIN(n, (size_t)(2 - c->hdr_have));
                memcpy(c->hdr + c->hdr_have, p, k);
                c->hdr_have = (uint8_t)(c->hdr_have + k);
                p += k;
                n -= k;
                if (c->hdr_have < 2)
                    return;
            }
            need = 2;
            if ((c->hdr[1] & 0x7F) == 126)
                need += 2;
            else if ((c->hdr[1] & 0x7F) == 127)
                need += 8;
            if (c->hdr[1] & 0x80)
                need += 4;
            if (c->hdr_have < need) {
                k = MIN(n, need - c->hdr_have);
                memcpy(c->hdr + c->hdr_have, p, k);
                c->hdr_have = (uint8_t)(c->hdr_have + k);
                p += k;
                n -= k;
                if (c->hdr_have < need)
                    return;
            }
            c->in_hdr = 0;
            on_frame_header(w, c);
            if (c->dead)
                return;
            if (c->flen == 0)
                on_frame_end(w, c);
            continue;
        }
        {
            size_t k = (size_t)MIN((uint64_t)n, c->flen);
            if (c->fop >= 8) {
                memcpy(c->ctrl + c->ctrl_have, p, k);
                c->ctrl_have = (uint8_t)(c->ctrl_have + k);
            } else if (opt_mode == MODE_ECHO) {
                echo_data(c, p, k, c->msg_len);
                if (LOAD(fatal_flag))
                    return;
                c->msg_len += k;
            } else {
                fanout_data(w, c, p, k, c->msg_len);
                c->msg_len += k;
            }
            p += k;
            n -= k;
            c->flen -= k;
            if (c->flen == 0)
                on_frame_end(w, c);
        }
    }
}

static void on_readable(struct worker *w, struct conn *c)
{
    for (int rounds = 0; rounds < 8 && !c->dead; rounds++) {
        ssize_t n = recv(c->fd, w->rbuf, RECV_BUF, 0);
        if (n > 0) {
            w->now = now_ns();
            feed(w, c, w->rbuf, (size_t)n);
            if (n < RECV_BUF)
                break;
        } else if (n == 0) {
            conn_fail(w, c, "connection closed by the server", 0);
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            conn_fail(w, c, "recv failed", errno);
        }
    }
    if (!c->dead && c->otail > c->ohead && !c->out_armed)
        flush_out(w, c);
}

/* ---- the publisher (thread 0) ---- */

static void publish(struct worker *w, uint64_t now)
{
    struct conn *c = w->pub;
    uint64_t seq = w->next_seq++;
    size_t len = (size_t)opt_payload, done;
    uint8_t *p;
    if (!opt_rate)
        __atomic_store_n(&ring[seq & ring_mask], seq << CNT_BITS, __ATOMIC_RELEASE);
    p = frame_begin(c, 0x2, len);
    put_be64(p, seq);
    put_be64(p + 8, now);
    for (done = 16; done < len;) {
        size_t k = MIN(len - done, sizeof fanout_fill);
        memcpy(p + done, fanout_fill, k);
        done += k;
    }
    mask_bytes(p, len, c->mask64, c->maskb);
    c->otail += len;
    STORE(published, w->next_seq);
}

static void stop_publishing(struct worker *w)
{
    if (LOAD(pub_done))
        return;
    if (w->tfd >= 0) {
        struct itimerspec off;
        memset(&off, 0, sizeof off);
        timerfd_settime(w->tfd, 0, &off, NULL);
    }
    STORE(pub_done, 1);
}

/* Windowed: retire completed messages, publish while the window has room. */
static void pump(struct worker *w)
{
    uint64_t now = now_ns();
    int progressed = 0;
    w->pump = 0;
    if (LOAD(pub_done) || !w->pub || w->pub->dead)
        return;
    if (now >= win_until) {
        stop_publishing(w);
        return;
    }
    while (w->done_seq < w->next_seq) {
        uint64_t v = __atomic_load_n(&ring[w->done_seq & ring_mask], __ATOMIC_ACQUIRE);
        if ((v >> CNT_BITS) == w->done_seq && (int64_t)(v & CNT_MASK) >= (int64_t)LOAD(live_readers)) {
            w->done_seq++;
            progressed = 1;
        } else {
            break;
        }
    }
    if (progressed)
        w->last_progress = now;
    else if (w->next_seq - w->done_seq >= (uint64_t)opt_window && now - w->last_progress > STALL_NS) {
        /* The server lost a delivery (or a subscriber is stuck): don't hang, move on. */
        __atomic_store_n(&ring[w->done_seq & ring_mask], ~0ull << CNT_BITS, __ATOMIC_RELEASE);
        w->done_seq++;
        w->last_progress = now;
        STORE(window_forced, window_forced + 1);
    }
    while (w->next_seq < w->done_seq + (uint64_t)opt_window)
        publish(w, now);
    if (!w->pub->out_armed)
        flush_out(w, w->pub);
}

/* --rate: publish every tick scheduled before the end of the window, even one
 * read late (the thread was busy or descheduled), then stop. */
static void on_timer(struct worker *w)
{
    uint64_t exp = 0, now;
    if (read(w->tfd, &exp, sizeof exp) != (ssize_t)sizeof exp)
        exp = 0; /* EAGAIN: nothing due */
    if (LOAD(pub_done) || !w->pub || w->pub->dead)
        return;
    now = now_ns();
    for (uint64_t i = 0; i < exp; i++) {
        if (w->first_tick + w->ticks * w->interval >= win_until)
            break;
        w->ticks++;
        publish(w, now);
    }
    if (now >= win_until || w->first_tick + w->ticks * w->interval >= win_until)
        stop_publishing(w);
    if (!w->pub->dead && !w->pub->out_armed)
        flush_out(w, w->pub);
}

static void start_publisher(struct worker *w)
{
    uint64_t now = now_ns();
    w->last_progress = now;
    if (opt_rate) {
        uint64_t interval = 1000000000ull / (uint64_t)opt_rate, first;
        struct itimerspec its;
        struct epoll_event ev;
        if (interval == 0)
            interval = 1;
        w->interval = interval;
        w->first_tick = now + interval;
        first = t0_abs + w->first_tick;
        w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->tfd < 0) {
            perror("ws-load: timerfd_create");
            exit(2);
        }
        its.it_value.tv_sec = (time_t)(first / 1000000000ull);
        its.it_value.tv_nsec = (long)(first % 1000000000ull);
        its.it_interval.tv_sec = (time_t)(interval / 1000000000ull);
        its.it_interval.tv_nsec = (long)(interval % 1000000000ull);
        ev.events = EPOLLIN;
        ev.data.ptr = &tfd_tag;
        if (timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0 ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev) != 0) {
            perror("ws-load: timerfd");
            exit(2);
        }
    } else {
        pump(w);
    }
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    uint64_t now = now_ns();
    w->rbuf = malloc(RECV_BUF);
    if (!w->rbuf) {
        fprintf(stderr, "ws-load: out of memory\n");
        exit(2);
    }
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (c->leftlen) { /* frames that came with the 101 */
            w->now = now;
            feed(w, c, c->left, c->leftlen);
            free(c->left);
            c->left = NULL;
            c->leftlen = 0;
        }
        if (opt_mode == MODE_ECHO && !opt_rate)
            for (int k = 0; k < opt_inflight; k++)
                echo_send(c, now);
        if (!c->dead && c->otail > c->ohead)
            flush_out(w, c);
    }
    if (w->pub)
        start_publisher(w);
    if (opt_mode == MODE_ECHO && opt_rate)
        start_echo_rate(w);
    while (!LOAD(stop_flag) && !LOAD(fatal_flag)) {
        int timeout = 20, n;
        if (w->pub && !LOAD(pub_done)) {
            uint64_t t = now_ns();
            if (t >= win_until) {
                if (opt_rate)
                    on_timer(w); /* ticks due before the end but not read yet */
                else
                    stop_publishing(w);
            }
            else if (win_until - t < 20000000ull)
                timeout = (int)((win_until - t) / 1000000ull) + 1;
            if (!opt_rate && timeout > 10)
                timeout = 10; /* re-check a stuck window */
        }
        n = epoll_wait(w->epfd, events, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("ws-load: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n && !LOAD(fatal_flag); i++) {
            void *tag = events[i].data.ptr;
            struct conn *c = tag;
            if (tag == &evfd_tag) {
                uint64_t v;
                if (read(w->evfd, &v, sizeof v) < 0) {
                }
                w->pump = 1;
                continue;
            }
            if (tag == &tfd_tag) {
                if (opt_mode == MODE_ECHO)
                    echo_tick(w);
                else
                    on_timer(w);
                continue;
            }
            if (c->dead)
                continue;
            if (events[i].events & EPOLLOUT)
                flush_out(w, c);
            if (!c->dead && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(w, c);
        }
        if (w->pub && !opt_rate)
            pump(w);
    }
    return NULL;
}

/* ---- connection setup (main thread) ---- */

static struct sockaddr_storage dst;
static socklen_t dstlen;
static char host_hdr[300]; /* host[:port] as it goes in Host: and the url */

static void resolve(void)
{
    struct addrinfo hints, *res;
    char port[16];
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", opt_port);
    rc = getaddrinfo(opt_host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "ws-load: cannot resolve %s: %s\n", opt_host, gai_strerror(rc));
        exit(2);
    }
    memcpy(&dst, res->ai_addr, res->ai_addrlen);
    dstlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (strchr(opt_host, ':'))
        snprintf(host_hdr, sizeof host_hdr, "[%s]:%d", opt_host, opt_port);
    else
        snprintf(host_hdr, sizeof host_hdr, "%s:%d", opt_host, opt_port);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void hs_fail(struct conn *c, const char *what, int err)
{
    fprintf(stderr, "ws-load: %s %u of %s: %s%s%s\n",
            c->role == ROLE_STALLED ? "stalled subscriber" : c->role == ROLE_PUB ? "publisher" :
            c->role == ROLE_SUB ? "subscriber" : "connection",
            c->id, host_hdr, what, err ? ": " : "", err ? strerror(err) : "");
    exit(2);
}

static void start_connect(struct conn *c, int ep)
{
    struct epoll_event ev;
    int one = 1;
    uint64_t r = rng_next();
    unsigned char raw[16];
    c->fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        hs_fail(c, "socket() failed", errno);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->role == ROLE_STALLED) { /* before connect(), so the advertised window is small too */
        int small = 4096;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    for (int i = 0; i < 16; i++) {
        if (i == 8)
            r = rng_next();
        raw[i] = (unsigned char)(r >> (8 * (i & 7)));
    }
    base64(raw, 16, c->key);
    r = rng_next();
    memcpy(c->maskb, &r, 4);
    {
        uint8_t m8[8];
        memcpy(m8, c->maskb, 4);
        memcpy(m8 + 4, c->maskb, 4);
        memcpy(&c->mask64, m8, 8);
    }
    c->hsbuf = malloc(HS_BUF);
    if (!c->hsbuf)
        hs_fail(c, "out of memory", 0);
    c->hslen = (size_t)snprintf(c->hsbuf, HS_BUF,
                                "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                                opt_path, host_hdr, c->key);
    c->hsoff = 0;
    c->hs_state = HS_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&dst, dstlen) != 0 && errno != EINPROGRESS)
        hs_fail(c, "connect failed", errno);
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        hs_fail(c, "epoll_ctl failed", errno);
}

/* The 101 response is in c->hsbuf[0, end); check it. */
static void check_response(struct conn *c, size_t end)
{
    char guid_key[80], acc[32];
    unsigned char dig[20];
    int accept_ok = 0;
    char *h = c->hsbuf, *line;
    h[end - 2] = 0; /* the headers end with "\r\n" + "\r\n": keep one line end per line */
    if (strncmp(h, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(h, "\r\n");
        if (eol)
            *eol = 0;
        fprintf(stderr, "ws-load: upgrade refused by %s%s: '%.200s'\n", host_hdr, opt_path, h);
        hs_fail(c, "handshake failed (no 101)", 0);
    }
    snprintf(guid_key, sizeof guid_key, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    sha1((const unsigned char *)guid_key, strlen(guid_key), dig);
    base64(dig, 20, acc);
    for (line = strstr(h, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2, *v;
        if (!strncasecmp(l, "sec-websocket-accept:", 21)) {
            size_t n = strlen(acc);
            v = l + 21;
            while (*v == ' ' || *v == '\t')
                v++;
            accept_ok = !strncmp(v, acc, n) && (v[n] == '\r' || v[n] == ' ' || v[n] == '\t' || v[n] == 0);
        } else if (!strncasecmp(l, "sec-websocket-extensions:", 25)) {
            hs_fail(c, "handshake failed: the server accepted an extension that was not offered", 0);
        }
    }
    if (!accept_ok)
        hs_fail(c, "handshake failed: missing or wrong Sec-WebSocket-Accept", 0);
}

static void hs_event(struct conn *c, int ep, uint32_t events, int *inprog, int *done)
{
    if (c->hs_state == HS_CONNECTING) {
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
        if (err)
            hs_fail(c, "connect failed", err);
        if (!(events & EPOLLOUT))
            return;
        c->hs_state = HS_SENDING;
    }
    if (c->hs_state == HS_SENDING) {
        while (c->hsoff < c->hslen) {
            ssize_t n = send(c->fd, c->hsbuf + c->hsoff, c->hslen - c->hsoff, MSG_NOSIGNAL);
            if (n > 0)
                c->hsoff += (size_t)n;
            else if (n < 0 && errno == EINTR)
                continue;
            else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return; /* EPOLLOUT is still armed */
            else
                hs_fail(c, "sending the upgrade request failed", n < 0 ? errno : 0);
        }
        {
            struct epoll_event ev;
            ev.events = EPOLLIN;
            ev.data.ptr = c;
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        c->hs_state = HS_READING;
        c->hslen = 0;
        return; /* the response comes with a later EPOLLIN */
    }
    if (c->hs_state == HS_READING) {
        for (;;) {
            ssize_t n = recv(c->fd, c->hsbuf + c->hslen, HS_BUF - 1 - c->hslen, 0);
            char *e;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (n <= 0)
                hs_fail(c, n == 0 ? "connection closed during the handshake" : "recv failed during the handshake",
                        n < 0 ? errno : 0);
            c->hslen += (size_t)n;
            c->hsbuf[c->hslen] = 0;
            e = memmem(c->hsbuf, c->hslen, "\r\n\r\n", 4);
            if (e) {
                size_t end = (size_t)(e - c->hsbuf) + 4;
                if (c->hslen > end) {
                    c->leftlen = c->hslen - end;
                    c->left = malloc(c->leftlen);
                    if (!c->left)
                        hs_fail(c, "out of memory", 0);
                    memcpy(c->left, c->hsbuf + end, c->leftlen);
                }
                check_response(c, end);
                free(c->hsbuf);
                c->hsbuf = NULL;
                c->hs_state = HS_DONE;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                (*inprog)--;
                (*done)++;
                return;
            }
            if (c->hslen >= HS_BUF - 1)
                hs_fail(c, "handshake failed: response headers too long", 0);
        }
    }
}

/* Connect and upgrade cs[0..count), at most --concurrency in progress. Any
 * failure is fatal: a run with fewer connections than asked for is not the
 * run that was asked for. */
static void establish(struct conn *cs, int count, const char *what)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), next = 0, inprog = 0, done = 0;
    uint64_t start = now_ns(), deadline = start + (uint64_t)(opt_connect_timeout * 1e9);
    if (count == 0)
        return;
    if (ep < 0) {
        perror("ws-load: epoll_create1");
        exit(2);
    }
    while (done < count) {
        struct epoll_event events[MAX_EVENTS];
        uint64_t now;
        int n;
        while (next < count && inprog < opt_concurrency) {
            start_connect(&cs[next++], ep);
            inprog++;
        }
        now = now_ns();
        if (now >= deadline) {
            fprintf(stderr, "ws-load: timed out after %.1fs: %d of %d %s to %s not upgraded (%d in progress)\n",
                    opt_connect_timeout, count - done, count, what, host_hdr, inprog);
            exit(2);
        }
        n = epoll_wait(ep, events, MAX_EVENTS, (int)MIN((deadline - now) / 1000000 + 1, 100));
        if (n < 0 && errno != EINTR) {
            perror("ws-load: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++)
            hs_event(events[i].data.ptr, ep, events[i].events, &inprog, &done);
    }
    close(ep);
    if (count > 0) /* scripts wait for this line to time their measurements */
        fprintf(stderr, "ws-load: %d %s upgraded in %.2f s\n", count, what, (double)(now_ns() - start) / 1e9);
}

/* Best effort: a close frame (1000), then a reset. */
static void close_all(struct conn *cs, int count)
{
    for (int i = 0; i < count; i++) {
        struct conn *c = &cs[i];
        if (c->fd < 0)
            continue;
        if (c->hs_state == HS_DONE && c->ohead == c->otail) { /* not in the middle of a frame */
            const uint8_t *m = c->maskb;
            uint8_t f[8] = {0x88, 0x82, m[0], m[1], m[2], m[3], (uint8_t)(0x03 ^ m[0]), (uint8_t)(0xE8 ^ m[1])};
            if (send(c->fd, f, sizeof f, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            }
        }
        hard_close(c);
        free(c->obuf);
        c->obuf = NULL;
    }
}

static void wait_until(uint64_t t)
{
    for (;;) {
        uint64_t now = now_ns();
        struct timespec ts;
        if (now >= t || LOAD(fatal_flag))
            return;
        now = MIN(t - now, 5000000ull);
        ts.tv_sec = 0;
        ts.tv_nsec = (long)now;
        nanosleep(&ts, NULL);
    }
}

static void print_url(void) { printf("RESULT url=ws://%s%s", host_hdr, opt_path); }

static void us(const char *name, uint64_t ns) { printf(" %s=%.1f", name, (double)ns / 1000.0); }

int main(int argc, char **argv)
{
    struct conn *conns, *stalled = NULL;
    int nconns, rc = 0;
    uint64_t errors = 0, measured = 0, deliveries = 0, out_of_order = 0, malformed = 0, missed = 0;
    double cpu0, cpu1;
    struct hist *total;

    parse_args(argc, argv);
    t0_abs = mono_ns();
    rng_state = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ t0_abs ^ 0xD1B54A32D192ED03ull;
    if (!rng_state)
        rng_state = 1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt_timeout + 0.999));
    fill_pattern();
    resolve();

    nconns = opt_mode == MODE_ECHO ? opt_conns : opt_subs + 1; /* + the publisher */
    raise_nofile(nconns + opt_stalled + 64, nconns + opt_stalled, "connections");
    conns = calloc((size_t)nconns, sizeof *conns);
    if (opt_stalled)
        stalled = calloc((size_t)opt_stalled, sizeof *stalled);
    workers = aligned_alloc(64, (size_t)opt_threads * sizeof *workers);
    total = calloc(1, sizeof *total);
    if (!conns || (opt_stalled && !stalled) || !workers || !total) {
        fprintf(stderr, "ws-load: out of memory\n");
        return 2;
    }
    memset(workers, 0, (size_t)opt_threads * sizeof *workers);
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = -1;
        c->id = (uint32_t)i;
        c->in_hdr = 1;
        c->role = opt_mode == MODE_ECHO ? ROLE_ECHO : i < opt_subs ? ROLE_SUB : ROLE_PUB;
        c->shift = (uint32_t)(((uint64_t)i * CONN_SHIFT) % PATLEN);
        if (opt_mode == MODE_ECHO) {
            c->sent_at = calloc((size_t)opt_inflight, sizeof *c->sent_at);
            if (!c->sent_at) {
                fprintf(stderr, "ws-load: out of memory\n");
                return 2;
            }
        }
    }
    if (opt_mode == MODE_ECHO) {
        establish(conns, opt_conns, "connections");
    } else {
        uint64_t size = 1;
        for (int i = 0; i < opt_stalled; i++) {
            stalled[i].fd = -1;
            stalled[i].id = (uint32_t)i;
            stalled[i].role = ROLE_STALLED;
        }
        /* Stalled subscribers first, so they are in the room before anything is published. */
        establish(stalled, opt_stalled, "stalled subscribers");
        establish(conns, opt_subs, "subscribers");
        establish(conns + opt_subs, 1, "publisher");
        live_readers = opt_subs;
        if (!opt_rate) {
            while (size < (uint64_t)opt_window)
                size *= 2;
            ring = calloc(size, sizeof *ring);
            if (!ring) {
                fprintf(stderr, "ws-load: out of memory\n");
                return 2;
            }
            ring_mask = size - 1;
            for (uint64_t i = 0; i < size; i++)
                ring[i] = ~0ull << CNT_BITS; /* a tag no sequence number has */
        }
    }

    for (int t = 0; t < opt_threads; t++) {
        struct worker *w = &workers[t];
        w->index = t;
        w->tfd = -1;
        w->evfd = -1;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->conns = calloc((size_t)(nconns / opt_threads + 2), sizeof *w->conns);
        w->hist = calloc(1, sizeof *w->hist);
        if (w->epfd < 0 || !w->conns || !w->hist) {
            perror("ws-load: setup");
            return 2;
        }
    }
    if (opt_mode == MODE_FANOUT && !opt_rate) {
        struct epoll_event ev;
        workers[0].evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ev.events = EPOLLIN;
        ev.data.ptr = &evfd_tag;
        if (workers[0].evfd < 0 || epoll_ctl(workers[0].epfd, EPOLL_CTL_ADD, workers[0].evfd, &ev) != 0) {
            perror("ws-load: eventfd");
            return 2;
        }
    }
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        struct worker *w = c->role == ROLE_PUB ? &workers[0] : &workers[i % opt_threads];
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            perror("ws-load: epoll_ctl");
            return 2;
        }
        w->conns[w->nconns++] = c;
        if (c->role == ROLE_PUB)
            w->pub = c;
    }

    /* The clock starts now: warm-up, then the measured window. */
    win_from = now_ns() + (uint64_t)(opt_warmup * 1e9);
    win_until = win_from + (uint64_t)(opt_duration * 1e9);
    for (int t = 0; t < opt_threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "ws-load: pthread_create failed\n");
            return 2;
        }
    }
    wait_until(win_from);
    cpu0 = cpu_sec();
    wait_until(win_until);
    cpu1 = cpu_sec();
    if (opt_mode == MODE_FANOUT && !LOAD(fatal_flag)) {
        /* Let the last messages arrive (bounded). */
        uint64_t limit = win_until + DRAIN_NS;
        while (now_ns() < limit) {
            uint64_t d = 0;
            int live = LOAD(live_readers);
            for (int t = 0; t < opt_threads; t++)
                d += LOAD(workers[t].deliveries);
            if (LOAD(pub_done) && d >= LOAD(published) * (uint64_t)live)
                break;
            wait_until(MIN(now_ns() + 2000000ull, limit));
        }
    }
    STORE(stop_flag, 1);
    for (int t = 0; t < opt_threads; t++)
        pthread_join(workers[t].thread, NULL);
    for (int t = 0; t < opt_threads; t++) {
        struct worker *w = &workers[t];
        errors += w->errors;
        measured += w->measured;
        deliveries += w->deliveries;
        out_of_order += w->out_of_order;
        missed += w->missed;
        malformed += w->malformed;
        h_merge(total, w->hist);
    }

    if (opt_mode == MODE_ECHO) {
        if (LOAD(fatal_flag)) {
            fprintf(stderr, "ws-load: FATAL: aborted, no result\n");
            print_url();
            printf(" connections=%d in_flight=%d payload=%d mode=%s deflate=off negotiated=0/%d seconds=%.3f "
                   "messages=0 msgs_per_sec=0 errors=%llu validation=FAILED\n",
                   opt_conns, opt_inflight, opt_payload, opt_text ? "text" : "binary", opt_conns, opt_duration,
                   (unsigned long long)errors + 1);
            fflush(stdout);
            return 3;
        }
        print_url();
        printf(" connections=%d in_flight=%d payload=%d mode=%s deflate=off negotiated=0/%d seconds=%.3f "
               "messages=%llu msgs_per_sec=%.0f",
               opt_conns, opt_inflight, opt_payload, opt_text ? "text" : "binary", opt_conns, opt_duration,
               (unsigned long long)measured, (double)measured / opt_duration);
        if (opt_rate)
            printf(" rate=%ld missed=%llu", opt_rate, (unsigned long long)missed);
        us("p50_us", h_percentile(total, 50));
        us("p99_us", h_percentile(total, 99));
        us("p999_us", h_percentile(total, 99.9));
        us("max_us", total->max);
        printf(" errors=%llu client_cpu_sec=%.3f\n", (unsigned long long)errors, cpu1 - cpu0);
        fflush(stdout);
        if (errors) {
            fprintf(stderr, "ws-load: %llu connection error(s) during the run\n", (unsigned long long)errors);
            rc = 4;
        } else if (!measured) {
            fprintf(stderr, "ws-load: no echo completed during the measured window\n");
            rc = 4;
        }
    } else {
        uint64_t pub = LOAD(published);
        print_url();
        printf(" subscribers=%d stalled=%d payload=%d mode=", opt_subs, opt_stalled, opt_payload);
        if (opt_rate)
            printf("rate=%ld", opt_rate);
        else
            printf("window=%d", opt_window);
        printf(" seconds=%.3f published=%llu deliveries=%llu deliveries_per_sec=%.0f", opt_duration,
               (unsigned long long)pub, (unsigned long long)deliveries, (double)measured / opt_duration);
        us("p50_us", h_percentile(total, 50));
        us("p99_us", h_percentile(total, 99));
        us("p999_us", h_percentile(total, 99.9));
        printf(" out_of_order=%llu errors=%llu client_cpu_sec=%.3f\n", (unsigned long long)out_of_order,
               (unsigned long long)errors, cpu1 - cpu0);
        fflush(stdout);
        if (LOAD(window_forced))
            fprintf(stderr, "ws-load: the window was stuck for %.1f s %llu time(s) and was forced forward\n",
                    (double)STALL_NS / 1e9, (unsigned long long)LOAD(window_forced));
        if (deliveries < pub * (uint64_t)LOAD(live_readers))
            fprintf(stderr, "ws-load: %llu deliveries missing (%llu published x %d subscribers) after %.1f s\n",
                    (unsigned long long)(pub * (uint64_t)LOAD(live_readers) - deliveries), (unsigned long long)pub,
                    LOAD(live_readers), (double)DRAIN_NS / 1e9);
        if (malformed || out_of_order) {
            fprintf(stderr, "ws-load: validation failed: %llu malformed deliveries, %llu out of order\n",
                    (unsigned long long)malformed, (unsigned long long)out_of_order);
            rc = 3;
        } else if (errors) {
            fprintf(stderr, "ws-load: %llu connection error(s) during the run\n", (unsigned long long)errors);
            rc = 4;
        } else if (!measured) {
            fprintf(stderr, "ws-load: no delivery measured\n");
            rc = 4;
        }
    }
    close_all(conns, nconns);
    if (stalled)
        close_all(stalled, opt_stalled);
    return rc;
}
