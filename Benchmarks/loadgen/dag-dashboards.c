/*
 * dag-dashboards: end-to-end load generator for Eddy's DAG stream server.
 *
 * The C counterpart of `eddy dag-load` (Sources/eddy/DAGLoadCommand.swift): it
 * measures the same things and prints a RESULT line with the same fields (plus
 * client_cpu_sec), so Benchmarks/scripts/run-dag-stream.sh can use either tool.
 * One process, nonblocking sockets + epoll, --threads K workers (default 1),
 * each with its own epoll and its own share of the connections (i % K).
 *
 *   1. GET /api/dags (HTTP/1.1, Connection: close) and pick the LAST run whose
 *      "finished" is false.
 *   2. Open N WebSocket connections ("dashboards") to
 *      /api/dags/<run>/stream (no extensions offered), at most 200
 *      connects/handshakes in flight at once (split over the workers). Any
 *      connect or handshake failure is a setup failure.
 *   3. Once all N are upgraded, send ONE masked text frame on the first
 *      connection: the human_decision that approves --gate (default "start").
 *   4. Every dashboard reads its stream (server frames: 7/16/64-bit lengths,
 *      fragmented text messages reassembled, ping/pong ignored and never
 *      answered, a close frame ends the dashboard as not finished) and
 *      classifies each text message by substring, exactly like dag-load:
 *        "type":"snapshot"            a catch-up if a seq was seen before; seq =
 *                                     its "seq"; finished if its status is
 *                                     completed/failed/cancelled/interrupted
 *        "type":"heartbeat",
 *        "type":"command_result"      ignored
 *        anything else                a gap if seq was seen and this "seq" is not
 *                                     last+1; seq = this one. With a "t_ns" stamp
 *                                     it is a ticker event: latency = wall clock
 *                                     at receipt (one CLOCK_REALTIME read per
 *                                     recv) - t_ns. "type":"execution_complete"
 *                                     finishes the dashboard.
 *      A finished dashboard's socket is closed (reset, so no TIME_WAIT is left).
 *   5. Stops when every dashboard is finished or closed, or --timeout seconds
 *      after all dashboards were connected (the connection phase itself is also
 *      bounded by --timeout).
 *
 *   EDDY_OPERATOR_TOKEN=T dag-dashboards --port P [--host 127.0.0.1] [--dashboards 1000]
 *                  [--gate start] [--timeout 300] [--threads 1] [--also-port P2 ...]
 *
 * The operator token comes from $EDDY_OPERATOR_TOKEN and goes in an
 * "Authorization: Bearer" header of every request, never in a URL. (--token T
 * still works, with a warning: every local user can read a command line.)
 *
 * --tls speaks TLS (the server's wss:// and https://): the listing and every
 * dashboard go over TLS 1.2 or 1.3, the server's certificate checked against the
 * system's roots, or --ca FILE's (which implies --tls), and --host (a name, or an
 * IP address in the certificate's subjectAltName).
 *
 * --also-port (repeatable, up to 15): more servers on the same host serving the same
 * run (Eddy nodes sharing runs through Redis). Dashboard i connects to the i-th port
 * of [--port, --also-port...] round robin; the run is found and the gate approved
 * through --port.
 *
 * Output (stdout, one line):
 *   RESULT run=<id> dashboards=N finished=F ticker_events=E per_dashboard_min=a
 *          per_dashboard_max=b deliveries_per_sec=D p50_ms=x.x p99_ms=x.x
 *          p999_ms=x.x max_ms=x.x catch_ups=C gaps=G client_cpu_sec=U
 * deliveries_per_sec = E / (last receipt - first receipt of a ticker event);
 * latencies come from a log-linear histogram (loadgen.h: 128 sub-buckets per
 * power of two, <= 0.8% error), clamped to 1 us .. 600 s; client_cpu_sec is this
 * process's user+system CPU time (getrusage), connection phase included.
 *
 * A dashboard that ends before its run does says why on stderr (the server's
 * close code and reason, the socket error, or OpenSSL's), for the first 10.
 *
 * Exit codes: 0 it ran (even if some dashboards did not finish); 1 usage;
 * 2 setup failure (resolve/connect, no live run, handshake refused or closed,
 * connection phase timed out, file descriptor limit too low).
 *
 * Build: gcc -O2 -Wall -Wextra -o dag-dashboards dag-dashboards.c -lpthread -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LG_PROG "dag-dashboards"
#include "loadgen.h"

#define MAX_EVENTS 512
#define READ_CHUNK (64 * 1024)        /* minimum free space offered to one recv */
#define MAX_FRAME (64u * 1024 * 1024) /* larger server frames are a protocol error */
#define MAX_INFLIGHT 200              /* connects + handshakes in progress, all workers together */
#define MAX_HEADER 16384

/* ---- options ---- */
static const char *opt_host = "127.0.0.1";
static int opt_port = -1;
static int opt_tls;                 /* --tls (or --ca) */
static const char *opt_ca;          /* --ca FILE: trust roots instead of the system's */
static SSL_CTX *tls_ctx;            /* with --tls: the client context every connection uses */
static const char *opt_token = NULL;
static int opt_dashboards = 1000;
static const char *opt_gate = "start";
static double opt_timeout = 300.0;
static int opt_threads = 1;

/* ---- shared state ---- */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
static int fatal_flag;           /* setup failure: every worker stops (atomic access only) */
static int upgraded;             /* dashboards past the handshake (atomic) */
static int all_up;               /* all N upgraded: approve the gate (atomic) */
static int64_t run_deadline;     /* CLOCK_MONOTONIC ns; 0 until all N are upgraded (atomic) */
static int64_t connect_deadline; /* CLOCK_MONOTONIC ns */
static int error_lines;          /* protocol error lines printed so far (atomic) */
#define MAX_ERROR_LINES 10

#define MAX_PORTS 16
static int opt_ports[MAX_PORTS]; /* --port, then every --also-port */
static int nports = 1;
static struct sockaddr_storage dsts[MAX_PORTS];
#define dst (dsts[0])
static socklen_t dstlen;
static char run_id[256];
static char request[2048]; /* the upgrade request, up to the Sec-WebSocket-Key value */
static size_t request_len;
static char host_header[300];

/* Latencies are clamped to [1 us, 600 s] before the histogram (loadgen.h). */
#define H_MIN_NS 1000LL
#define H_MAX_NS 600000000000LL

/* ---- connections and workers ---- */
enum { ST_IDLE, ST_CONNECTING, ST_TLS, ST_HANDSHAKE, ST_OPEN, ST_DONE };
enum { K_EVENT, K_COMPLETE, K_SESSION, K_SNAPSHOT };

struct conn {
    int fd;
    SSL *ssl;         /* with --tls */
    uint8_t state;
    uint8_t finished; /* ended by execution_complete or a terminal snapshot */
    uint8_t frag;     /* 1: assembling a fragmented text message; 2: skipping a fragmented binary one */
    uint8_t out_armed;
    uint8_t tls_failed; /* SSL_read failed after returning bytes: the next conn_recv reports it */
    uint32_t id;      /* dashboard number, 0..N-1 */
    int64_t seq;      /* last seq seen, -1 before the first */
    uint64_t events;  /* ticker events received */
    char *pend;       /* input not parsed yet (a partial frame or header) */
    uint32_t plen, pcap;
    char *msg;        /* fragments of a text message */
    size_t mlen, mcap;
    char *wbuf;       /* output not written yet */
    uint32_t wlen, wpos;
};

struct worker {
    pthread_t thread;
    int index;
    int epfd;
    struct conn *conns;
    int nconns;
    int next;     /* next connection to start */
    int inflight; /* connecting or handshaking */
    int open;     /* upgraded and not ended */
    int limit;    /* this worker's share of MAX_INFLIGHT */
    uint64_t rng;
    char *buf;    /* receive buffer */
    size_t cap;
    /* results */
    uint64_t catch_ups, gaps, finished;
    int64_t first_ns, last_ns; /* wall clock of the first and last ticker event */
    struct hist *hist;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Report a setup failure (only the first one is printed) and stop every worker. */
static void fatal(const char *fmt, ...)
{
    va_list ap;
    if (__atomic_exchange_n(&fatal_flag, 1, __ATOMIC_RELAXED))
        return;
    fprintf(stderr, "dag-dashboards: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

static void warn_conn(const struct conn *c, const char *what)
{
    int line = __atomic_add_fetch(&error_lines, 1, __ATOMIC_RELAXED);
    if (line <= MAX_ERROR_LINES)
        fprintf(stderr, "dag-dashboards: dashboard %u: %s\n", c->id, what);
    if (line == MAX_ERROR_LINES)
        fprintf(stderr, "dag-dashboards: (further per-dashboard errors not shown)\n");
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "dag-dashboards: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "dag-dashboards: out of memory\n");
        exit(2);
    }
    return p;
}

static void usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "dag-dashboards: %s\n", msg);
    fprintf(stderr,
            "usage: EDDY_OPERATOR_TOKEN=T dag-dashboards --port P [--host H] [--dashboards N]\n"
            "                      [--gate NODE] [--timeout S] [--threads K] [--also-port P2 ...]\n"
            "                      [--tls] [--ca FILE]\n");
    exit(1);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v;
        if (!strcmp(f, "-h") || !strcmp(f, "--help"))
            usage(NULL);
        if (!strcmp(f, "--tls")) {
            opt_tls = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "dag-dashboards: missing value for %s\n", f);
            usage(NULL);
        }
        v = argv[++i];
        if (!strcmp(f, "--host"))
            opt_host = v;
        else if (!strcmp(f, "--port"))
            opt_port = (int)parse_ll(f, v, 1, 65535);
        else if (!strcmp(f, "--token")) {
            fprintf(stderr, "dag-dashboards: warning: every local user can read a command line; "
                            "set EDDY_OPERATOR_TOKEN instead of --token\n");
            opt_token = v;
        }
        else if (!strcmp(f, "--dashboards"))
            opt_dashboards = (int)parse_ll(f, v, 1, 1000000);
        else if (!strcmp(f, "--ca")) {
            opt_ca = v;
            opt_tls = 1;
        } else if (!strcmp(f, "--gate"))
            opt_gate = v;
        else if (!strcmp(f, "--timeout"))
            opt_timeout = parse_d(f, v, 0.001, 86400);
        else if (!strcmp(f, "--threads"))
            opt_threads = (int)parse_ll(f, v, 1, 256);
        else if (!strcmp(f, "--also-port")) {
            if (nports == MAX_PORTS)
                usage("at most 15 --also-port");
            opt_ports[nports++] = (int)parse_ll(f, v, 1, 65535);
        } else {
            fprintf(stderr, "dag-dashboards: unknown option %s\n", f);
            usage(NULL);
        }
    }
    if (opt_port < 0)
        usage("--port is required");
    opt_ports[0] = opt_port;
    if (!opt_token)
        opt_token = getenv("EDDY_OPERATOR_TOKEN");
    if (!opt_token || !*opt_token)
        usage("an operator token is needed: set EDDY_OPERATOR_TOKEN");
    /* It goes into a header line: visible ASCII only (no CR or LF to end the line). */
    for (const char *c = opt_token; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            usage("the operator token must be visible ASCII characters");
    if (opt_threads > opt_dashboards)
        opt_threads = opt_dashboards;
}

/* ---- setup ---- */

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
        fprintf(stderr, "dag-dashboards: cannot resolve %s: %s\n", opt_host, gai_strerror(rc));
        exit(2);
    }
    for (int i = 0; i < nports; i++) {
        memcpy(&dsts[i], res->ai_addr, res->ai_addrlen);
        if (dsts[i].ss_family == AF_INET)
            ((struct sockaddr_in *)&dsts[i])->sin_port = htons((uint16_t)opt_ports[i]);
        else
            ((struct sockaddr_in6 *)&dsts[i])->sin6_port = htons((uint16_t)opt_ports[i]);
    }
    dstlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (strchr(opt_host, ':'))
        snprintf(host_header, sizeof host_header, "[%s]:%d", opt_host, opt_port);
    else
        snprintf(host_header, sizeof host_header, "%s:%d", opt_host, opt_port);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void url_encode(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
}

/* After `"key"` (and optional blanks, a colon, blanks) in [p, end): the value's start, or NULL. */
static const char *json_value(const char *p, const char *end, const char *key)
{
    char pat[64];
    int n = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *q = p;
    while (q < end && (q = memmem(q, (size_t)(end - q), pat, (size_t)n)) != NULL) {
        const char *v = q + n;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
            v++;
        if (v < end && *v == ':') {
            v++;
            while (v < end && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
                v++;
            return v;
        }
        q += n;
    }
    return NULL;
}

/* The dag_id of the last run in {"runs":[...]} whose "finished" is false; 0 if found. */
static int pick_run(const char *body, size_t len)
{
    const char *end = body + len, *p = json_value(body, end, "runs");
    int found = 0;
    if (!p || *p != '[')
        return -1;
    p++;
    /* Walk the array's top-level objects, skipping strings (which may hold braces). */
    int depth = 0, in_str = 0;
    const char *obj = NULL;
    for (; p < end; p++) {
        char ch = *p;
        if (in_str) {
            if (ch == '\\')
                p++;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            if (depth++ == 0)
                obj = p;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                break; /* end of "runs" */
            if (--depth == 0 && obj) {
                const char *f = json_value(obj, p, "finished"), *id = json_value(obj, p, "dag_id");
                if (f && p - f >= 5 && !memcmp(f, "false", 5) && id && *id == '"') {
                    const char *q = memchr(id + 1, '"', (size_t)(p - id - 1));
                    if (q && (size_t)(q - id - 1) < sizeof run_id) {
                        memcpy(run_id, id + 1, (size_t)(q - id - 1));
                        run_id[q - id - 1] = 0;
                        found = 1;
                    }
                }
                obj = NULL;
            }
        }
    }
    return found ? 0 : -1;
}

/* ---- TLS (--tls): a client context, and a session per socket ---- */

/* The first error on OpenSSL's queue, as text (the queue is emptied). */
static const char *tls_error(char *out, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(out, cap, "%s", errno ? strerror(errno) : "the connection ended");
    else
        ERR_error_string_n(e, out, cap);
    ERR_clear_error();
    return out;
}

static void tls_setup(void)
{
    char why[256];
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION)) {
        fprintf(stderr, "dag-dashboards: TLS setup failed: %s\n", tls_error(why, sizeof why));
        exit(2);
    }
    if (!(opt_ca ? SSL_CTX_load_verify_locations(tls_ctx, opt_ca, NULL) : SSL_CTX_set_default_verify_paths(tls_ctx))) {
        fprintf(stderr, "dag-dashboards: cannot load the trust roots%s%s: %s\n", opt_ca ? " from " : "", opt_ca ? opt_ca : "",
                tls_error(why, sizeof why));
        exit(2);
    }
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    /* Partial writes and a retry from a moved buffer behave like send(); buffers are freed
       while a connection is idle (10,000 dashboards). */
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
}

/* A client session on fd, checking the certificate against --host; NULL on failure. */
static SSL *tls_session(int fd)
{
    unsigned char ip[16];
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl || !SSL_set_fd(ssl, fd)) {
        SSL_free(ssl);
        return NULL;
    }
    if (inet_pton(AF_INET, opt_host, ip) == 1 || inet_pton(AF_INET6, opt_host, ip) == 1) {
        /* An address: checked against the certificate's IP entries; no SNI (RFC 6066 3). */
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), opt_host)) {
            SSL_free(ssl);
            return NULL;
        }
    } else if (!SSL_set_tlsext_host_name(ssl, opt_host) || !SSL_set1_host(ssl, opt_host)) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

/* Why the last TLS read or write on this thread failed (errno EPROTO from conn_recv or
   conn_send), for the report. */
static __thread char tls_failure[256];

/* errno from conn_recv or conn_send, as text. */
static const char *conn_error(int err) { return err == EPROTO ? tls_failure : strerror(err); }

/* After SSL_ERROR_SYSCALL: errno, unless it says nothing or to wait (OpenSSL 3 reports an
   end without close_notify as SSL_ERROR_SSL; this is a socket error or an early EOF). */
static int tls_syscall_errno(int fallback)
{
    return errno == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? fallback : errno;
}

/* A failed SSL_read or SSL_write (SSL_get_error's e): -1 with errno EAGAIN (wait for the
   socket), the socket's errno (`closed` when it says nothing), or EPROTO with OpenSSL's
   reason in tls_failure. */
static ssize_t tls_failed(int e, int closed)
{
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        errno = EAGAIN;
        break;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        errno = tls_syscall_errno(closed);
        break;
    default:
        tls_error(tls_failure, sizeof tls_failure);
        errno = EPROTO;
    }
    return -1;
}

/* recv(), or SSL_read() with --tls: bytes read, 0 at the end, -1 with errno (EAGAIN: wait for
   the socket; SSL_want_write() says whether for writing; EPROTO: a TLS failure, its reason in
   tls_failure). A failure after some bytes is reported by the next call (c->tls_failed). With TLS it reads record after
   record until n bytes or the socket has no more: so, as with recv(), fewer than n bytes
   means nothing is left buffered (SSL_read returns one record at a time, and a record
   OpenSSL holds does not make the socket readable). */
static ssize_t conn_recv(struct conn *c, void *buf, size_t n)
{
    if (!c->ssl)
        return recv(c->fd, buf, n, 0);
    if (c->tls_failed) {
        errno = EPROTO;
        return -1;
    }
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        int k = SSL_read(c->ssl, (char *)buf + got, want > 1 << 30 ? 1 << 30 : (int)want);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        int e = SSL_get_error(c->ssl, k);
        if (got) {
            if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) { /* reported by the next call */
                if (e == SSL_ERROR_SSL)
                    tls_error(tls_failure, sizeof tls_failure);
                else
                    snprintf(tls_failure, sizeof tls_failure, "%s", strerror(tls_syscall_errno(ECONNRESET)));
                c->tls_failed = 1;
            }
            ERR_clear_error();
            return (ssize_t)got; /* the end or an error comes with the next call */
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return 0;
        }
        return tls_failed(e, ECONNRESET);
    }
    return (ssize_t)got;
}

/* send(), or SSL_write() with --tls: bytes written, or -1 with errno (EAGAIN: wait). */
static ssize_t conn_send(struct conn *c, const void *buf, size_t n)
{
    if (!c->ssl)
        return send(c->fd, buf, n, MSG_NOSIGNAL);
    int k = SSL_write(c->ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    if (k > 0)
        return k;
    return tls_failed(SSL_get_error(c->ssl, k), EPIPE);
}

/* GET /api/dags with a blocking socket (10 s send/receive timeouts); sets run_id. */
static void find_live_run(void)
{
    struct timeval tv = {10, 0};
    char req[2048];
    size_t len = 0, cap = 65536;
    char *buf = xmalloc(cap + 1);
    int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("dag-dashboards: socket");
        exit(2);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&dst, dstlen) != 0) {
        fprintf(stderr, "dag-dashboards: connect to %s:%d failed: %s\n", opt_host, opt_port, strerror(errno));
        exit(2);
    }
    struct conn listing = {.fd = fd};
    if (opt_tls) {
        char why[256];
        listing.ssl = tls_session(fd);
        if (!listing.ssl || SSL_connect(listing.ssl) != 1) {
            fprintf(stderr, "dag-dashboards: TLS handshake with %s:%d failed: %s\n", opt_host, opt_port, tls_error(why, sizeof why));
            exit(2);
        }
    }
    int n = snprintf(req, sizeof req, "GET /api/dags HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                                      "Accept: application/json\r\nConnection: close\r\n\r\n", host_header, opt_token);
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "dag-dashboards: token too long\n");
        exit(2);
    }
    if (conn_send(&listing, req, (size_t)n) != n) {
        fprintf(stderr, "dag-dashboards: GET /api/dags: send failed: %s\n", strerror(errno));
        exit(2);
    }
    for (;;) {
        if (len == cap)
            buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t k = conn_recv(&listing, buf + len, cap - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fprintf(stderr, "dag-dashboards: GET /api/dags: %s\n", strerror(errno));
            exit(2);
        }
        if (k == 0)
            break;
        len += (size_t)k;
        /* Stop at Content-Length, should the server keep the connection open. */
        buf[len] = 0;
        char *hend = strstr(buf, "\r\n\r\n");
        if (hend) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < hend && len >= (size_t)(hend + 4 - buf) + strtoull(cl + 17, NULL, 10))
                break;
        }
    }
    SSL_free(listing.ssl);
    close(fd);
    buf[len] = 0;
    char *hend = strstr(buf, "\r\n\r\n");
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 8, " 200", 4) || !hend) {
        char *eol = strstr(buf, "\r\n");
        fprintf(stderr, "dag-dashboards: GET /api/dags on %s:%d: unexpected response: %.*s\n", opt_host, opt_port,
                eol ? (int)(eol - buf) : (int)(len > 200 ? 200 : len), buf);
        exit(2);
    }
    if (pick_run(hend + 4, len - (size_t)(hend + 4 - buf)) != 0) {
        fprintf(stderr, "dag-dashboards: no live run at %s://%s/api/dags\n", opt_tls ? "https" : "http", host_header);
        exit(2);
    }
    free(buf);
}

/* The upgrade request, minus the key and what follows it. */
static void build_request(void)
{
    char run[800];
    url_encode(run, sizeof run, run_id);
    int n = snprintf(request, sizeof request,
                     "GET /api/dags/%s/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: ",
                     run, host_header, opt_token);
    if (n < 0 || (size_t)n >= sizeof request - 64) {
        fprintf(stderr, "dag-dashboards: run id or token too long\n");
        exit(2);
    }
    request_len = (size_t)n;
}

static uint64_t next_rand(struct worker *w)
{
    uint64_t x = w->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

/* ---- per-connection I/O (only ever touched by the owning worker) ---- */

static void set_events(struct worker *w, struct conn *c, int out)
{
    struct epoll_event ev;
    if (c->out_armed == out)
        return;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = (uint8_t)out;
}

static void release(struct conn *c)
{
    if (c->fd >= 0) {
        struct linger l = {1, 0}; /* reset: no TIME_WAIT left behind by 10,000 dashboards */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    SSL_free(c->ssl); /* no close_notify: the socket was reset */
    c->ssl = NULL;
    free(c->pend);
    c->pend = NULL;
    c->plen = c->pcap = 0;
    free(c->msg);
    c->msg = NULL;
    c->mlen = c->mcap = 0;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = c->wpos = 0;
}

/* The dashboard is over: finished (execution_complete / terminal snapshot) or not. */
static void dashboard_end(struct worker *w, struct conn *c, int finished)
{
    if (c->state != ST_OPEN)
        return;
    c->finished = (uint8_t)finished;
    if (finished)
        w->finished++;
    c->state = ST_DONE;
    w->open--;
    release(c);
}

/* A failure before the upgrade is a setup failure. */
static void handshake_failed(struct worker *w, struct conn *c, const char *what, int err)
{
    fatal("dashboard %u: %s%s%s (%s:%d)", c->id, what, err ? ": " : "", err ? strerror(err) : "", opt_host, opt_port);
    c->state = ST_DONE;
    w->inflight--;
    release(c);
}

/* A read or a write failed (errno): before the upgrade a setup failure ("<handshake>: why"),
   after it the dashboard ends unfinished ("ended unfinished: <after>why"). */
static void conn_failed(struct worker *w, struct conn *c, const char *handshake, const char *after)
{
    char what[320];
    const char *why = conn_error(errno);
    if (c->state == ST_HANDSHAKE) {
        snprintf(what, sizeof what, "%s: %s", handshake, why);
        handshake_failed(w, c, what, 0);
    } else {
        snprintf(what, sizeof what, "ended unfinished: %s%s", after, why);
        warn_conn(c, what);
        dashboard_end(w, c, 0);
    }
}

/* flush_out failed (errno). */
static void send_failed(struct worker *w, struct conn *c)
{
    conn_failed(w, c, "sending the upgrade request failed", "send failed: ");
}

/* Writes pending output; returns -1 on error. */
static int flush_out(struct worker *w, struct conn *c)
{
    while (c->wpos < c->wlen) {
        ssize_t k = conn_send(c, c->wbuf + c->wpos, c->wlen - c->wpos);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* TLS may need to read before it can write (then a readable socket retries). */
                set_events(w, c, !(c->ssl && SSL_want_read(c->ssl)));
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->wpos += (uint32_t)k;
    }
    free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = c->wpos = 0;
    set_events(w, c, 0);
    return 0;
}

static void start_conn(struct worker *w, struct conn *c)
{
    struct epoll_event ev;
    int one = 1;
    c->state = ST_CONNECTING;
    w->inflight++;
    c->fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        handshake_failed(w, c, "socket() failed", errno);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&dsts[c->id % (uint32_t)nports], dstlen) != 0 && errno != EINPROGRESS) {
        handshake_failed(w, c, "connect failed", errno);
        return;
    }
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        handshake_failed(w, c, "epoll_ctl failed", errno);
        return;
    }
    c->out_armed = 1;
}

static void send_upgrade(struct worker *w, struct conn *c);

/* Drives the TLS handshake (--tls); sends the upgrade request once it is done. */
static void tls_step(struct worker *w, struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        send_upgrade(w, c);
        return;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        set_events(w, c, 0);
        return;
    case SSL_ERROR_WANT_WRITE:
        set_events(w, c, 1);
        return;
    default: {
        char why[256], what[300];
        snprintf(what, sizeof what, "TLS handshake failed: %s", tls_error(why, sizeof why));
        handshake_failed(w, c, what, 0);
    }
    }
}

static void on_connected(struct worker *w, struct conn *c)
{
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err) {
        handshake_failed(w, c, "connect failed", err);
        return;
    }
    if (opt_tls) {
        c->ssl = tls_session(c->fd);
        if (!c->ssl) {
            handshake_failed(w, c, "TLS setup failed", 0);
            return;
        }
        c->state = ST_TLS;
        tls_step(w, c);
        return;
    }
    send_upgrade(w, c);
}

/* The WebSocket upgrade request, once connected (and past TLS). */
static void send_upgrade(struct worker *w, struct conn *c)
{
    unsigned char key[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = next_rand(w);
        memcpy(key + i, &r, 8);
    }
    c->wbuf = xmalloc(request_len + 64);
    memcpy(c->wbuf, request, request_len);
    base64(key, 16, c->wbuf + request_len);
    memcpy(c->wbuf + request_len + 24, "\r\n\r\n", 4);
    c->wlen = (uint32_t)request_len + 28;
    c->wpos = 0;
    c->state = ST_HANDSHAKE;
    if (flush_out(w, c) < 0)
        send_failed(w, c);
}

/* Queues (and tries to write) one masked client text frame. */
static void send_text(struct worker *w, struct conn *c, const char *payload, size_t n)
{
    size_t hl = 2 + (n >= 126 ? (n > 65535 ? 8 : 2) : 0) + 4, p = 0, old = c->wlen - c->wpos;
    uint8_t *f = xmalloc(old + hl + n);
    uint32_t r = (uint32_t)next_rand(w);
    uint8_t mask[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    if (old)
        memcpy(f, c->wbuf + c->wpos, old);
    p = old;
    f[p++] = 0x80 | 0x1; /* FIN, text */
    if (n < 126) {
        f[p++] = (uint8_t)(0x80 | n);
    } else if (n <= 65535) {
        f[p++] = 0x80 | 126;
        f[p++] = (uint8_t)(n >> 8);
        f[p++] = (uint8_t)n;
    } else {
        f[p++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[p++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(f + p, mask, 4);
    p += 4;
    for (size_t i = 0; i < n; i++)
        f[p + i] = (uint8_t)payload[i] ^ mask[i & 3];
    free(c->wbuf);
    c->wbuf = (char *)f;
    c->wlen = (uint32_t)(p + n);
    c->wpos = 0;
    if (flush_out(w, c) < 0) {
        char what[320];
        snprintf(what, sizeof what, "sending the gate approval failed: %s", conn_error(errno));
        warn_conn(c, what);
        dashboard_end(w, c, 0);
    }
}

/* The human_decision that approves the gate, on this worker's first open dashboard
 * (dashboard 0 for worker 0, unless the server already closed it). */
static void send_approval(struct worker *w)
{
    char payload[1024], gate[512];
    size_t g = 0;
    for (const char *s = opt_gate; *s && g + 2 < sizeof gate; s++) { /* JSON string escaping, minimal */
        if (*s == '"' || *s == '\\')
            gate[g++] = '\\';
        gate[g++] = *s;
    }
    gate[g] = 0;
    int n = snprintf(payload, sizeof payload,
                     "{\"v\":1,\"type\":\"human_decision\",\"command_id\":\"dag-load-go\",\"node_id\":\"%s\","
                     "\"decision\":\"approve\"}", gate);
    for (int i = 0; i < w->nconns; i++) {
        if (w->conns[i].state == ST_OPEN) {
            send_text(w, &w->conns[i], payload, (size_t)n);
            return;
        }
    }
    fprintf(stderr, "dag-dashboards: no open dashboard left to approve the gate on\n");
}

/* ---- messages ---- */

/* Like dag-load's StreamLine.integer(after:): the digits after the first `key`, or -1. */
static inline int64_t int_after(const char *p, size_t n, const char *key, size_t klen)
{
    const char *q = memmem(p, n, key, klen), *end = p + n;
    int64_t v = 0;
    if (!q)
        return -1;
    q += klen;
    if (q >= end || *q < '0' || *q > '9')
        return -1;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        int d = *q - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1; /* overflow: not a number we can use */
        v = v * 10 + d;
    }
    return v;
}

/* The message kind, by substring, with dag-load's precedence: snapshot, then
 * heartbeat/command_result, then execution_complete. Every such needle starts with
 * "type":" so one scan over the occurrences of that prefix decides. */
static inline int classify(const char *p, size_t n)
{
    const char *q = p, *end = p + n;
    int kind = K_EVENT;
    while (q < end && (q = memmem(q, (size_t)(end - q), "\"type\":\"", 8)) != NULL) {
        size_t left;
        q += 8;
        left = (size_t)(end - q);
        if (left >= 9 && !memcmp(q, "snapshot\"", 9))
            return K_SNAPSHOT;
        if ((left >= 10 && !memcmp(q, "heartbeat\"", 10)) || (left >= 15 && !memcmp(q, "command_result\"", 15)))
            kind = K_SESSION;
        else if (kind == K_EVENT && left >= 19 && !memcmp(q, "execution_complete\"", 19))
            kind = K_COMPLETE;
    }
    return kind;
}

static int terminal_snapshot(const char *p, size_t n)
{
    static const char *const terminal[] = {
        "\"status\":\"completed\",\"revision\"", "\"status\":\"failed\",\"revision\"",
        "\"status\":\"cancelled\",\"revision\"", "\"status\":\"interrupted\",\"revision\"",
    };
    for (size_t i = 0; i < sizeof terminal / sizeof *terminal; i++)
        if (memmem(p, n, terminal[i], strlen(terminal[i])))
            return 1;
    return 0;
}

/* One text message; `now` is the wall clock when its bytes were received. */
static void on_message(struct worker *w, struct conn *c, const char *p, size_t n, int64_t now)
{
    int kind = classify(p, n);
    if (kind == K_SESSION)
        return;
    int64_t seq = int_after(p, n, "\"seq\":", 6);
    if (kind == K_SNAPSHOT) {
        if (c->seq >= 0)
            w->catch_ups++;
        c->seq = seq;
        if (terminal_snapshot(p, n))
            dashboard_end(w, c, 1);
        return;
    }
    if (c->seq >= 0 && seq != c->seq + 1)
        w->gaps++;
    c->seq = seq;
    int64_t sent = int_after(p, n, "\"t_ns\":", 7);
    if (sent >= 0) {
        int64_t lat = now - sent;
        uint64_t v = lat < H_MIN_NS ? (uint64_t)H_MIN_NS : lat > H_MAX_NS ? (uint64_t)H_MAX_NS : (uint64_t)lat;
        h_record(w->hist, v);
        c->events++;
        if (w->first_ns == 0)
            w->first_ns = now;
        w->last_ns = now;
    }
    if (kind == K_COMPLETE)
        dashboard_end(w, c, 1);
}

static void protocol_error(struct worker *w, struct conn *c, const char *what)
{
    warn_conn(c, what);
    dashboard_end(w, c, 0);
}

/* Parses the complete frames in b[off, len); returns the offset of the first byte not consumed. */
static size_t parse_frames(struct worker *w, struct conn *c, char *b, size_t off, size_t len, int64_t now)
{
    while (len - off >= 2) {
        uint8_t *f = (uint8_t *)b + off;
        uint8_t op = f[0] & 0x0f, fin = f[0] & 0x80, masked = f[1] & 0x80;
        uint64_t n = f[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (len - off < 4)
                break;
            n = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (n == 127) {
            if (len - off < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | f[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (n > MAX_FRAME) {
            protocol_error(w, c, "server frame too large");
            return off;
        }
        if (len - off < hl + n)
            break;
        char *pl = b + off + hl;
        if (masked) /* servers must not mask, but unmasking costs nothing here */
            for (uint64_t i = 0; i < n; i++)
                pl[i] ^= (char)f[hl - 4 + (i & 3)];
        if (f[0] & 0x70) {
            protocol_error(w, c, "RSV bits set, but no extension was negotiated");
            return off;
        }
        switch (op) {
        case 0x1: /* text */
            if (c->frag) {
                protocol_error(w, c, "new data frame inside a fragmented message");
                return off;
            }
            if (fin) {
                on_message(w, c, pl, (size_t)n, now);
            } else {
                if (c->mcap < n)
                    c->msg = xrealloc(c->msg, c->mcap = (size_t)n + 4096);
                memcpy(c->msg, pl, (size_t)n);
                c->mlen = (size_t)n;
                c->frag = 1;
            }
            break;
        case 0x2: /* binary: not ours, skipped */
            if (c->frag) {
                protocol_error(w, c, "new data frame inside a fragmented message");
                return off;
            }
            if (!fin)
                c->frag = 2;
            break;
        case 0x0: /* continuation */
            if (c->frag == 0) {
                protocol_error(w, c, "continuation frame without a message");
                return off;
            }
            if (c->frag == 1) {
                if (c->mlen + n > MAX_FRAME) {
                    protocol_error(w, c, "server message too large");
                    return off;
                }
                if (c->mcap < c->mlen + n)
                    c->msg = xrealloc(c->msg, c->mcap = 2 * (c->mlen + (size_t)n));
                memcpy(c->msg + c->mlen, pl, (size_t)n);
                c->mlen += (size_t)n;
                if (fin)
                    on_message(w, c, c->msg, c->mlen, now);
            }
            if (fin && c->state == ST_OPEN) {
                c->frag = 0;
                c->mlen = 0;
            }
            break;
        case 0x8: { /* close: the dashboard ends unfinished; nothing is answered */
            char what[200], reason[124];
            if (n >= 2) {
                const unsigned char *u = (const unsigned char *)pl;
                size_t r = n - 2 > sizeof reason - 1 ? sizeof reason - 1 : (size_t)(n - 2);
                for (size_t i = 0; i < r; i++) /* shown as printable ASCII only */
                    reason[i] = u[2 + i] >= 0x20 && u[2 + i] < 0x7f ? (char)u[2 + i] : '?';
                reason[r] = 0;
                snprintf(what, sizeof what, "ended unfinished: the server closed with %u \"%s\"",
                         (unsigned)u[0] << 8 | u[1], reason);
            } else
                snprintf(what, sizeof what, "ended unfinished: the server closed (no code)");
            warn_conn(c, what);
            dashboard_end(w, c, 0);
            return off;
        }
        default: /* ping, pong, reserved control: ignored */
            break;
        }
        off += hl + (size_t)n;
        if (c->state != ST_OPEN)
            return off;
    }
    return off;
}

/* The upgrade response is complete in b[0, len): check it; returns the offset after it, or -1. */
static long handshake_response(struct worker *w, struct conn *c, char *b, size_t len)
{
    char *e = memmem(b, len, "\r\n\r\n", 4);
    if (!e)
        return 0;
    if (len < 12 || strncmp(b, "HTTP/1.1 101", 12) != 0) {
        char *eol = memmem(b, len, "\r\n", 2);
        char what[300];
        snprintf(what, sizeof what, "upgrade refused: %.*s", (int)(eol - b > 200 ? 200 : eol - b), b);
        handshake_failed(w, c, what, 0);
        return -1;
    }
    c->state = ST_OPEN;
    c->out_armed = 1; /* force the EPOLL_CTL_MOD below */
    set_events(w, c, 0);
    w->inflight--;
    w->open++;
    if (__atomic_add_fetch(&upgraded, 1, __ATOMIC_RELAXED) == opt_dashboards) {
        STORE(run_deadline, mono_ns() + (int64_t)(opt_timeout * 1e9));
        __atomic_store_n(&all_up, 1, __ATOMIC_RELEASE);
    }
    return e + 4 - b;
}

static void on_readable(struct worker *w, struct conn *c)
{
    /* A TLS write that waited for the socket to be readable goes on first. */
    if (c->ssl && c->wbuf && flush_out(w, c) < 0) {
        send_failed(w, c);
        return;
    }
    for (;;) {
        size_t len = c->plen, off = 0;
        if (w->cap < len + READ_CHUNK) {
            w->cap = len + READ_CHUNK > 2 * w->cap ? len + READ_CHUNK : 2 * w->cap;
            w->buf = xrealloc(w->buf, w->cap);
        }
        if (len)
            memcpy(w->buf, c->pend, len);
        size_t room = w->cap - len;
        ssize_t k = conn_recv(c, w->buf + len, room);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (c->ssl && SSL_want_write(c->ssl))
                    set_events(w, c, 1); /* TLS must write before it reads on (then retried) */
                return;
            }
            conn_failed(w, c, "recv failed during the handshake", "");
            return;
        }
        if (k == 0) {
            if (c->state == ST_HANDSHAKE) {
                handshake_failed(w, c, "closed by the server during the handshake", 0);
            } else {
                warn_conn(c, "ended unfinished: the server closed the connection");
                dashboard_end(w, c, 0);
            }
            return;
        }
        len += (size_t)k;
        if (c->state == ST_HANDSHAKE) {
            long r = handshake_response(w, c, w->buf, len);
            if (r < 0)
                return;
            if (r == 0 && len > MAX_HEADER) {
                handshake_failed(w, c, "upgrade response too long", 0);
                return;
            }
            off = (size_t)r;
        }
        if (c->state == ST_OPEN && off < len) {
            off = parse_frames(w, c, w->buf, off, len, wall_ns());
            if (c->state != ST_OPEN)
                return;
        }
        /* keep what is left (a partial frame or header) for the next read */
        size_t left = len - off;
        if (left > c->pcap) {
            c->pcap = (uint32_t)(left < 256 ? 256 : left);
            c->pend = xrealloc(c->pend, c->pcap);
        }
        if (left)
            memcpy(c->pend, w->buf + off, left);
        c->plen = (uint32_t)left;
        if (left == 0 && c->pcap > 4096) {
            free(c->pend);
            c->pend = NULL;
            c->pcap = 0;
        }
        if ((size_t)k < room && !c->tls_failed)
            return; /* drained (level-triggered epoll reports any rest; see conn_recv for TLS) */
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    int approved = w->index != 0; /* worker 0 owns dashboard 0 and sends the approval */

    while (!LOAD(fatal_flag)) {
        while (w->next < w->nconns && w->inflight < w->limit && !LOAD(fatal_flag))
            start_conn(w, &w->conns[w->next++]);
        if (!approved && __atomic_load_n(&all_up, __ATOMIC_ACQUIRE)) {
            send_approval(w);
            approved = 1;
        }
        if (w->next == w->nconns && w->inflight == 0 && w->open == 0 && approved)
            break; /* all of this worker's dashboards are over */
        int64_t now = mono_ns(), deadline = LOAD(run_deadline);
        if (deadline && now >= deadline)
            break;
        if (!deadline && now >= connect_deadline) {
            fatal("timed out after %gs: %d of %d dashboards upgraded", opt_timeout, LOAD(upgraded),
                  opt_dashboards);
            break;
        }
        int n = epoll_wait(w->epfd, events, MAX_EVENTS, 50);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fatal("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0)
                continue; /* ended earlier in this batch */
            if (c->state == ST_CONNECTING) {
                on_connected(w, c);
                continue;
            }
            if (c->state == ST_TLS) {
                tls_step(w, c);
                continue;
            }
            if ((events[i].events & EPOLLOUT) && c->wbuf && flush_out(w, c) < 0) {
                send_failed(w, c);
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(w, c);
            else if ((events[i].events & EPOLLOUT) && c->ssl && !c->wbuf) {
                set_events(w, c, 0); /* a TLS read that had to write first: retry it */
                on_readable(w, c);
            }
        }
    }
    for (int i = 0; i < w->nconns; i++) /* timeout or failure: the rest end unfinished */
        release(&w->conns[i]);
    return NULL;
}

/* Tenths of a millisecond, rounded like dag-load (from whole microseconds). */
static void fmt_ms(char *out, size_t cap, uint64_t ns)
{
    uint64_t tenths = (ns / 1000 + 50) / 100;
    snprintf(out, cap, "%llu.%llu", (unsigned long long)(tenths / 10), (unsigned long long)(tenths % 10));
}

int main(int argc, char **argv)
{
    struct worker *ws;
    struct rusage ru;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(opt_dashboards + 64, opt_dashboards, "dashboards");
    resolve();
    if (opt_tls)
        tls_setup();
    find_live_run();
    build_request();

    ws = calloc((size_t)opt_threads, sizeof *ws);
    if (!ws) {
        perror("dag-dashboards: calloc");
        return 2;
    }
    int limit = (MAX_INFLIGHT + opt_threads - 1) / opt_threads;
    for (int t = 0; t < opt_threads; t++) {
        struct worker *w = &ws[t];
        w->index = t;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->nconns = opt_dashboards / opt_threads + (t < opt_dashboards % opt_threads);
        w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
        w->hist = calloc(1, sizeof *w->hist);
        w->cap = 4 * READ_CHUNK;
        w->buf = malloc(w->cap);
        w->limit = limit;
        w->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 20) ^ (uint64_t)wall_ns() ^ (uint64_t)(t + 1) * 7919;
        if (w->epfd < 0 || !w->conns || !w->hist || !w->buf) {
            perror("dag-dashboards: setup");
            return 2;
        }
        for (int j = 0; j < w->nconns; j++) {
            w->conns[j].fd = -1;
            w->conns[j].id = (uint32_t)(t + j * opt_threads);
            w->conns[j].seq = -1;
        }
    }

    connect_deadline = mono_ns() + (int64_t)(opt_timeout * 1e9);
    for (int t = 0; t < opt_threads; t++) {
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "dag-dashboards: pthread_create failed\n");
            return 2;
        }
    }
    for (int t = 0; t < opt_threads; t++)
        pthread_join(ws[t].thread, NULL);
    if (LOAD(fatal_flag))
        return 2; /* the reason is on stderr already */

    /* merge */
    uint64_t finished = 0, events = 0, catch_ups = 0, gaps = 0;
    uint64_t per_min = UINT64_MAX, per_max = 0;
    int64_t first = 0, last = 0;
    struct hist *hist = ws[0].hist;
    for (int t = 0; t < opt_threads; t++) {
        struct worker *w = &ws[t];
        finished += w->finished;
        catch_ups += w->catch_ups;
        gaps += w->gaps;
        if (w->first_ns && (first == 0 || w->first_ns < first))
            first = w->first_ns;
        if (w->last_ns > last)
            last = w->last_ns;
        if (t > 0)
            h_merge(hist, w->hist);
        for (int j = 0; j < w->nconns; j++) {
            uint64_t e = w->conns[j].events;
            events += e;
            if (e < per_min)
                per_min = e;
            if (e > per_max)
                per_max = e;
        }
    }
    double span = (double)(last - first > 1 ? last - first : 1) / 1e9;
    char p50[32], p99[32], p999[32], pmax[32];
    fmt_ms(p50, sizeof p50, h_percentile(hist, 50));
    fmt_ms(p99, sizeof p99, h_percentile(hist, 99));
    fmt_ms(p999, sizeof p999, h_percentile(hist, 99.9));
    fmt_ms(pmax, sizeof pmax, hist->max);
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    printf("RESULT run=%s dashboards=%d finished=%llu ticker_events=%llu per_dashboard_min=%llu "
           "per_dashboard_max=%llu deliveries_per_sec=%llu p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s catch_ups=%llu "
           "gaps=%llu client_cpu_sec=%.3f\n",
           run_id, opt_dashboards, (unsigned long long)finished, (unsigned long long)events,
           (unsigned long long)per_min, (unsigned long long)per_max, (unsigned long long)((double)events / span + 0.5), p50, p99, p999, pmax,
           (unsigned long long)catch_ups, (unsigned long long)gaps, cpu);
    fflush(stdout);
    return 0;
}
