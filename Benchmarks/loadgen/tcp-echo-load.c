/*
 * tcp-echo-load: closed-loop load generator for TCP echo servers.
 *
 * Opens N connections, keeps K messages of B bytes in flight on each, and
 * counts a round trip every time B echoed bytes come back on a connection
 * (partial reads are fine: bytes are counted, every B bytes = one message,
 * and each completed message immediately triggers a new one).
 *
 * Every byte sent comes from a per-connection pseudo-random stream and every
 * byte received is checked against that same stream, so an echo server that
 * drops, reorders, duplicates, corrupts or cross-wires data fails loudly
 * (exit 3) instead of producing a number.
 *
 * Two modes:
 *   duration (default): --warmup S then --duration S; counts messages completed
 *                       during the measured window only.
 *   --messages M:       sends exactly M messages in total (across all
 *                       connections), waits for all M echoes, then stops.
 *                       No warmup. Used to count allocations per message.
 *
 * Output (stdout, one line):
 *   RESULT connections=N in_flight=K payload=B seconds=S messages=M msgs_per_sec=X errors=E
 *          client_cpu_sec=C [server_cpu_sec=D]
 * seconds, messages and both CPU figures cover the measured window only
 * (after warmup). server_cpu_sec is utime+stime of --cpu-pid PID (all its
 * threads) read from /proc/PID/stat at the window's start and end.
 *
 * Exit codes: 0 ok; 1 usage; 2 connect/setup failure; 3 echo validation
 * failure; 4 connection errors during the run or no echo completed;
 * 5 hard time limit hit (--timeout).
 *
 * Build: gcc -O2 -Wall -Wextra -o tcp-echo-load tcp-echo-load.c -lpthread
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LG_PROG "tcp-echo-load"
#include "loadgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Pattern: a pseudo-random table of PATLEN bytes stored twice, so any run of
 * up to PATLEN bytes starting anywhere in it is contiguous. Connection c's
 * byte at stream offset o is table[(o + c * CONN_SHIFT) % PATLEN]. */
#define PATLEN 65521u /* prime: never aligned with the payload size */
#define CONN_SHIFT 7919u
#define RECV_BUF (64 * 1024)
#define MAX_EVENTS 512

static unsigned char pattern[2 * PATLEN];

/* ---- options ---- */
static const char *opt_host = "127.0.0.1";
static int opt_port = -1;
static int opt_conns = 1;
static int opt_inflight = 1;
static int opt_payload = 32;
static double opt_warmup = 1.0;
static double opt_duration = 5.0;
static int opt_threads = 1;
static int opt_spread = 0; /* 0 = auto */
static long long opt_messages = 0; /* 0 = duration mode */
static double opt_connect_timeout = 10.0;
static double opt_timeout = 0.0; /* 0 = auto */
static int opt_cpu_pid = 0;       /* 0 = don't sample a server's CPU */

/* ---- shared state ---- */
static int stop_flag;  /* set by main: workers return (atomic access only) */
static int fatal_flag; /* validation failure: everything stops (atomic access only) */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
static long long budget;        /* --messages mode: messages left to issue */
static long long completed_all; /* --messages mode: messages completed */
static int error_lines;         /* per-connection error lines printed so far */
#define MAX_ERROR_LINES 10

struct conn {
    int fd;
    uint32_t id;
    uint32_t shift; /* (id * CONN_SHIFT) % PATLEN */
    uint64_t want;  /* stream bytes that should have been sent */
    uint64_t sent;  /* stream bytes actually written */
    uint64_t recvd; /* stream bytes received and validated */
    int out_armed;  /* EPOLLOUT registered */
    int dead;
};

struct worker {
    /* one cache line per hot counter pair: workers don't false-share */
    uint64_t completed __attribute__((aligned(64))); /* written by the worker, read by main (atomics) */
    uint64_t errors;
    pthread_t thread;
    int index;
    int epfd;
    struct conn **conns;
    int nconns;
} __attribute__((aligned(64)));

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_sec(double s)
{
    struct timespec ts;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "tcp-echo-load: FATAL: hard time limit (--timeout) reached, aborting\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(5);
}

static void usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "tcp-echo-load: %s\n", msg);
    fprintf(stderr,
            "usage: tcp-echo-load --port P [--host H] [--connections N] [--in-flight K]\n"
            "                     [--payload B] [--warmup S] [--duration S] [--threads T]\n"
            "                     [--source-spread K] [--messages M] [--connect-timeout S]\n"
            "                     [--timeout S] [--cpu-pid PID]\n");
    exit(1);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help"))
            usage(NULL);
        if (i + 1 >= argc) {
            fprintf(stderr, "tcp-echo-load: missing value for %s\n", f);
            usage(NULL);
        }
        v = argv[++i];
        if (!strcmp(f, "--host"))
            opt_host = v;
        else if (!strcmp(f, "--port"))
            opt_port = (int)parse_ll(f, v, 1, 65535);
        else if (!strcmp(f, "--connections"))
            opt_conns = (int)parse_ll(f, v, 1, 1000000);
        else if (!strcmp(f, "--in-flight"))
            opt_inflight = (int)parse_ll(f, v, 1, 1000000);
        else if (!strcmp(f, "--payload"))
            opt_payload = (int)parse_ll(f, v, 1, 16 * 1024 * 1024);
        else if (!strcmp(f, "--warmup"))
            opt_warmup = parse_d(f, v, 0, 3600);
        else if (!strcmp(f, "--duration"))
            opt_duration = parse_d(f, v, 0.01, 3600);
        else if (!strcmp(f, "--threads"))
            opt_threads = (int)parse_ll(f, v, 1, 256);
        else if (!strcmp(f, "--source-spread"))
            opt_spread = (int)parse_ll(f, v, 1, 254);
        else if (!strcmp(f, "--messages"))
            opt_messages = parse_ll(f, v, 1, (long long)1 << 50);
        else if (!strcmp(f, "--connect-timeout"))
            opt_connect_timeout = parse_d(f, v, 0.1, 600);
        else if (!strcmp(f, "--timeout"))
            opt_timeout = parse_d(f, v, 1, 86400);
        else if (!strcmp(f, "--cpu-pid"))
            opt_cpu_pid = (int)parse_ll(f, v, 1, 1 << 30);
        else {
            fprintf(stderr, "tcp-echo-load: unknown option %s\n", f);
            usage(NULL);
        }
    }
    if (opt_port < 0)
        usage("--port is required");
    if (opt_threads > opt_conns)
        opt_threads = opt_conns;
    if (opt_spread == 0) /* auto: one source address per 5000 connections */
        opt_spread = opt_conns > 5000 ? (opt_conns + 4999) / 5000 : 1;
    if (opt_spread > 254)
        opt_spread = 254;
    if (opt_timeout == 0) /* auto: generous, but always bounded */
        opt_timeout = opt_messages ? 300 : opt_connect_timeout + opt_warmup + opt_duration + 30;
}

static void fill_pattern(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (unsigned i = 0; i < PATLEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 24);
    }
    memcpy(pattern + PATLEN, pattern, PATLEN);
}

static inline const unsigned char *pattern_at(const struct conn *c, uint64_t off)
{
    return pattern + (unsigned)((off + c->shift) % PATLEN);
}

/* ---- per-connection I/O (only ever touched by the owning worker) ---- */

static void conn_fail(struct worker *w, struct conn *c, const char *what, int err)
{
    int line;
    if (c->dead)
        return;
    line = __atomic_add_fetch(&error_lines, 1, __ATOMIC_RELAXED);
    if (line <= MAX_ERROR_LINES)
        fprintf(stderr, "tcp-echo-load: connection %u: %s%s%s (after %llu bytes echoed)\n", c->id, what,
                err ? ": " : "", err ? strerror(err) : "", (unsigned long long)c->recvd);
    if (line == MAX_ERROR_LINES)
        fprintf(stderr, "tcp-echo-load: (further per-connection errors not shown)\n");
    c->dead = 1;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    __atomic_add_fetch(&w->errors, 1, __ATOMIC_RELAXED);
}

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
    c->out_armed = on;
}

/* Queue one more message on c (respecting the --messages budget). */
static int issue(struct conn *c)
{
    if (opt_messages && __atomic_fetch_sub(&budget, 1, __ATOMIC_RELAXED) <= 0)
        return 0;
    c->want += (uint64_t)opt_payload;
    return 1;
}

static void flush_out(struct worker *w, struct conn *c)
{
    while (!c->dead && c->sent < c->want) {
        uint64_t left = c->want - c->sent;
        size_t len = left > PATLEN ? PATLEN : (size_t)left;
        ssize_t n = send(c->fd, pattern_at(c, c->sent), len, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (uint64_t)n;
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
    if (!c->dead)
        set_out(w, c, 0);
}

static void validation_failure(const struct conn *c, uint64_t off, const unsigned char *got, size_t n)
{
    size_t i = 0;
    while (i < n && got[i] == *pattern_at(c, off + i))
        i++;
    fprintf(stderr,
            "tcp-echo-load: FATAL: echo validation failed on connection %u: stream offset %llu "
            "(message %llu, byte %llu): expected 0x%02x, got 0x%02x. The server did not echo the "
            "bytes it was sent.\n",
            c->id, (unsigned long long)(off + i), (unsigned long long)((off + i) / (uint64_t)opt_payload),
            (unsigned long long)((off + i) % (uint64_t)opt_payload), *pattern_at(c, off + i),
            i < n ? got[i] : 0);
    STORE(fatal_flag, 1);
}

static void on_readable(struct worker *w, struct conn *c, unsigned char *buf)
{
    ssize_t n = recv(c->fd, buf, RECV_BUF, 0);
    if (n == 0) {
        conn_fail(w, c, "closed by server", 0);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_fail(w, c, "recv failed", errno);
        return;
    }
    if (c->recvd + (uint64_t)n > c->sent) {
        fprintf(stderr,
                "tcp-echo-load: FATAL: connection %u received %llu bytes but only %llu were sent: "
                "the server sends data it was not given.\n",
                c->id, (unsigned long long)(c->recvd + (uint64_t)n), (unsigned long long)c->sent);
        STORE(fatal_flag, 1);
        return;
    }
    for (size_t done = 0; done < (size_t)n;) {
        size_t len = (size_t)n - done;
        if (len > PATLEN)
            len = PATLEN;
        if (memcmp(buf + done, pattern_at(c, c->recvd + done), len) != 0) {
            validation_failure(c, c->recvd + done, buf + done, len);
            return;
        }
        done += len;
    }
    uint64_t before = c->recvd / (uint64_t)opt_payload;
    c->recvd += (uint64_t)n;
    uint64_t completed = c->recvd / (uint64_t)opt_payload - before;
    if (completed == 0)
        return;
    __atomic_add_fetch(&w->completed, completed, __ATOMIC_RELAXED);
    if (opt_messages)
        __atomic_add_fetch(&completed_all, (long long)completed, __ATOMIC_RELAXED);
    for (uint64_t i = 0; i < completed; i++)
        if (!issue(c))
            break;
    flush_out(w, c);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    unsigned char *buf = malloc(RECV_BUF);
    if (!buf) {
        fprintf(stderr, "tcp-echo-load: out of memory\n");
        exit(2);
    }
    /* Prime every connection with K messages. */
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        for (int k = 0; k < opt_inflight; k++)
            if (!issue(c))
                break;
        flush_out(w, c);
    }
    while (!LOAD(stop_flag) && !LOAD(fatal_flag)) {
        int n = epoll_wait(w->epfd, events, MAX_EVENTS, 20);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("tcp-echo-load: epoll_wait");
            STORE(fatal_flag, 1);
            break;
        }
        for (int i = 0; i < n && !LOAD(fatal_flag); i++) {
            struct conn *c = events[i].data.ptr;
            if (c->dead)
                continue;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(w, c, buf);
            if (!c->dead && (events[i].events & EPOLLOUT))
                flush_out(w, c);
        }
    }
    free(buf);
    return NULL;
}

/* ---- setup ---- */

static void resolve(struct sockaddr_storage *ss, socklen_t *len)
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
        fprintf(stderr, "tcp-echo-load: cannot resolve %s: %s\n", opt_host, gai_strerror(rc));
        exit(2);
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
}

/* Connect all sockets non-blocking, then wait (bounded) until every one is
 * established. Any failure is fatal: a benchmark with fewer connections than
 * asked for is not the benchmark that was asked for. */
static struct conn *connect_all(void)
{
    struct sockaddr_storage dst;
    socklen_t dstlen;
    struct conn *conns = calloc((size_t)opt_conns, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int pending = 0, failed = 0, one = 1;
    double deadline;

    resolve(&dst, &dstlen);
    if (!conns || ep < 0) {
        perror("tcp-echo-load: setup");
        exit(2);
    }
    if (opt_spread > 1 && dst.ss_family != AF_INET) {
        fprintf(stderr, "tcp-echo-load: --source-spread > 1 needs an IPv4 loopback target\n");
        exit(2);
    }
    for (int i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev;
        c->id = (uint32_t)i;
        c->shift = (uint32_t)(((uint64_t)i * CONN_SHIFT) % PATLEN);
        c->fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fprintf(stderr, "tcp-echo-load: socket() for connection %d failed: %s\n", i, strerror(errno));
            exit(2);
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (opt_spread > 1) {
            struct sockaddr_in src;
            memset(&src, 0, sizeof src);
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(i % opt_spread)); /* 127.0.0.1+ */
            setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
                fprintf(stderr, "tcp-echo-load: bind() to 127.0.0.%d for connection %d failed: %s\n",
                        1 + i % opt_spread, i, strerror(errno));
                exit(2);
            }
        }
        if (connect(c->fd, (struct sockaddr *)&dst, dstlen) != 0 && errno != EINPROGRESS) {
            fprintf(stderr, "tcp-echo-load: connect to %s:%d failed (connection %d of %d): %s\n", opt_host,
                    opt_port, i + 1, opt_conns, strerror(errno));
            exit(2);
        }
        ev.events = EPOLLOUT;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            perror("tcp-echo-load: epoll_ctl");
            exit(2);
        }
        pending++;
    }
    deadline = now_sec() + opt_connect_timeout;
    while (pending > 0) {
        struct epoll_event events[MAX_EVENTS];
        int left_ms = (int)((deadline - now_sec()) * 1000);
        int n;
        if (left_ms <= 0) {
            fprintf(stderr, "tcp-echo-load: timed out after %.1fs: %d of %d connections to %s:%d not established\n",
                    opt_connect_timeout, pending, opt_conns, opt_host, opt_port);
            exit(2);
        }
        n = epoll_wait(ep, events, MAX_EVENTS, left_ms);
        if (n < 0 && errno != EINTR) {
            perror("tcp-echo-load: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            int err = 0;
            socklen_t elen = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
                err = errno;
            if (err) {
                if (failed++ == 0)
                    fprintf(stderr, "tcp-echo-load: connect to %s:%d failed (connection %u): %s\n", opt_host,
                            opt_port, c->id, strerror(err));
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            pending--;
        }
    }
    close(ep);
    if (failed) {
        fprintf(stderr, "tcp-echo-load: %d of %d connections failed to connect\n", failed, opt_conns);
        exit(2);
    }
    return conns;
}

/* utime+stime of a process (all threads), in seconds; -1 if unreadable. */
static double proc_cpu_sec(int pid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    const char *p;
    ssize_t n;
    int fd;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    p = strrchr(buf, ')'); /* comm may contain spaces */
    /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t sum_completed(struct worker *ws)
{
    uint64_t s = 0;
    for (int i = 0; i < opt_threads; i++)
        s += __atomic_load_n(&ws[i].completed, __ATOMIC_RELAXED);
    return s;
}

static uint64_t sum_errors(struct worker *ws)
{
    uint64_t s = 0;
    for (int i = 0; i < opt_threads; i++)
        s += __atomic_load_n(&ws[i].errors, __ATOMIC_RELAXED);
    return s;
}

/* Sleep up to s seconds, returning early on a fatal error or (in --messages
 * mode) when all messages have completed. */
static void wait_phase(double s, struct worker *ws)
{
    double end = now_sec() + s;
    (void)ws;
    while (!LOAD(fatal_flag) && now_sec() < end) {
        if (opt_messages && __atomic_load_n(&completed_all, __ATOMIC_RELAXED) >= opt_messages)
            return;
        sleep_sec(0.005);
    }
}

int main(int argc, char **argv)
{
    struct worker *ws;
    struct conn *conns;
    uint64_t m0, m1, errors;
    double t0, t1, ccpu0, ccpu1, scpu0 = -1, scpu1 = -1;
    int rc = 0;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt_timeout + 0.999));
    fill_pattern();
    raise_nofile(opt_conns + 64, opt_conns, "connections");
    budget = opt_messages;

    conns = connect_all();

    ws = aligned_alloc(64, (size_t)opt_threads * sizeof *ws); /* sizeof is a multiple of 64 */
    if (ws)
        memset(ws, 0, (size_t)opt_threads * sizeof *ws);
    if (!ws) {
        perror("tcp-echo-load: calloc");
        return 2;
    }
    for (int t = 0; t < opt_threads; t++) {
        ws[t].index = t;
        ws[t].epfd = epoll_create1(EPOLL_CLOEXEC);
        ws[t].conns = calloc((size_t)(opt_conns / opt_threads + 1), sizeof(struct conn *));
        if (ws[t].epfd < 0 || !ws[t].conns) {
            perror("tcp-echo-load: setup");
            return 2;
        }
    }
    for (int i = 0; i < opt_conns; i++) {
        struct worker *w = &ws[i % opt_threads];
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.ptr = &conns[i];
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) {
            perror("tcp-echo-load: epoll_ctl");
            return 2;
        }
        w->conns[w->nconns++] = &conns[i];
    }

    t0 = now_sec();
    ccpu0 = self_cpu_sec();
    if (opt_cpu_pid)
        scpu0 = proc_cpu_sec(opt_cpu_pid);
    for (int t = 0; t < opt_threads; t++) {
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "tcp-echo-load: pthread_create failed\n");
            return 2;
        }
    }

    if (opt_messages) {
        m0 = 0;
        /* Bounded by alarm(); also stop early if every connection died. */
        while (!LOAD(fatal_flag) && __atomic_load_n(&completed_all, __ATOMIC_RELAXED) < opt_messages) {
            if (sum_errors(ws) >= (uint64_t)opt_conns) {
                fprintf(stderr, "tcp-echo-load: all connections failed\n");
                break;
            }
            wait_phase(0.05, ws);
        }
    } else {
        wait_phase(opt_warmup, ws);
        t0 = now_sec();
        m0 = sum_completed(ws);
        ccpu0 = self_cpu_sec();
        if (opt_cpu_pid)
            scpu0 = proc_cpu_sec(opt_cpu_pid);
        wait_phase(opt_duration, ws);
    }
    t1 = now_sec();
    m1 = sum_completed(ws);
    ccpu1 = self_cpu_sec();
    if (opt_cpu_pid)
        scpu1 = proc_cpu_sec(opt_cpu_pid);
    STORE(stop_flag, 1);
    for (int t = 0; t < opt_threads; t++)
        pthread_join(ws[t].thread, NULL);
    errors = sum_errors(ws);

    if (LOAD(fatal_flag)) {
        fprintf(stderr, "tcp-echo-load: FATAL: aborted, no result\n");
        printf("RESULT connections=%d in_flight=%d payload=%d seconds=%.3f messages=0 msgs_per_sec=0 "
               "errors=%llu validation=FAILED\n",
               opt_conns, opt_inflight, opt_payload, t1 - t0, (unsigned long long)errors + 1);
        fflush(stdout);
        return 3;
    }

    printf("RESULT connections=%d in_flight=%d payload=%d seconds=%.3f messages=%llu msgs_per_sec=%.1f errors=%llu "
           "client_cpu_sec=%.3f",
           opt_conns, opt_inflight, opt_payload, t1 - t0, (unsigned long long)(m1 - m0),
           (double)(m1 - m0) / (t1 - t0), (unsigned long long)errors, ccpu1 - ccpu0);
    if (opt_cpu_pid) {
        if (scpu0 >= 0 && scpu1 >= 0)
            printf(" server_cpu_sec=%.3f", scpu1 - scpu0);
        else
            printf(" server_cpu_sec=unavailable");
    }
    printf("\n");
    fflush(stdout);

    if (errors) {
        fprintf(stderr, "tcp-echo-load: %llu connection error(s) during the run\n", (unsigned long long)errors);
        rc = 4;
    } else if (m1 == m0) {
        fprintf(stderr, "tcp-echo-load: no echo completed during the measured window\n");
        rc = 4;
    } else if (opt_messages && (long long)(m1 - m0) != opt_messages) {
        fprintf(stderr, "tcp-echo-load: expected %lld messages, completed %llu\n", opt_messages,
                (unsigned long long)(m1 - m0));
        rc = 4;
    }
    for (int i = 0; i < opt_conns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    return rc;
}
