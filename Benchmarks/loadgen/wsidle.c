/*
 * wsidle: open N WebSocket connections to one server and keep them open.
 *
 * Load side of rss-idle.sh. One process, nonblocking sockets + epoll, at most
 * --concurrency handshakes in flight. Each connection: (optional bind to a source
 * address 127.0.0.x) -> connect -> HTTP/1.1 upgrade request (with or without
 * "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits") ->
 * wait for "101" and check Sec-WebSocket-Accept.
 *
 *   wsidle --port P [--host 127.0.0.1] [-n 10000] [--deflate] [--active]
 *          [--concurrency 256] [--src-ips K] [--timeout 120] [--hold 600]
 *          [--path /]
 *
 * Stdout protocol (one line each, flushed):
 *   UPGRADED ok=<n> failed=<n> deflate=<n> secs=<t>
 *   ACTIVE echoed=<n> compressed=<n> failed=<n> secs=<t>   (only with --active;
 *          compressed = echoes that came back with RSV1 set)
 *   READY open=<n>
 * then it holds the connections (answering pings) until SIGTERM/SIGINT or
 * --hold seconds pass, prints "DONE open=<n> closed_by_server=<n>" and exits,
 * resetting (SO_LINGER 0) its sockets so no TIME_WAIT is left behind.
 *
 * --active: after all upgrades, every open connection sends one 1 KiB JSON-like
 * text message and waits for its echo. On connections where permessage-deflate
 * was negotiated, the message is sent compressed (RSV1, raw deflate, sync flush
 * tail stripped), so the server has to build its inflate (and, when it replies
 * compressed, deflate) state. Echo payloads are consumed, not decompressed.
 *
 * Build: gcc -O2 -Wall -o wsidle wsidle.c -lcrypto -lz
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_FAILED, ST_CLOSED };

#define RBUF 8192

struct conn {
    int fd;
    uint8_t state;
    uint8_t deflate;       /* permessage-deflate negotiated */
    uint8_t cwbits;        /* client_max_window_bits the server asked for (15 default) */
    uint8_t awaiting_echo; /* --active: message sent, echo not yet seen */
    uint8_t echo_rsv1;     /* the echo came back compressed (RSV1 on its first frame) */
    char key[25];          /* Sec-WebSocket-Key (base64 of 16 bytes) */
    char *wbuf;            /* pending output (owned) */
    size_t wlen, wpos;
    char *rbuf;            /* input buffer (owned, RBUF bytes), lazily allocated */
    size_t rlen;
};

static struct conn *conns;
static int nconns = 10000, concurrency = 256, src_ips = 0, active = 0, want_deflate = 0;
static double timeout_s = 120, hold_s = 600;
static const char *host = "127.0.0.1", *path = "/";
static int port = 0, epfd;
static volatile sig_atomic_t stop_flag = 0;

static int n_ok, n_failed, n_deflate, n_inflight, n_closed_by_server;
static int n_echoed, n_echo_failed, n_echo_inflight, n_echo_compressed;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void b64(const unsigned char *in, int n, char *out) { EVP_EncodeBlock((unsigned char *)out, in, n); }

static void ep_mod(struct conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_fail(struct conn *c, int was_open) {
    if (c->fd >= 0) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(c->fd);
        c->fd = -1;
    }
    free(c->wbuf); c->wbuf = NULL;
    free(c->rbuf); c->rbuf = NULL;
    if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) { n_failed++; n_inflight--; }
    if (c->awaiting_echo) { c->awaiting_echo = 0; n_echo_failed++; n_echo_inflight--; }
    if (was_open) { n_closed_by_server++; n_ok--; }
    c->state = was_open ? ST_CLOSED : ST_FAILED;
}

/* Try to write the pending buffer; returns 0 ok (maybe partial), -1 error. */
static int flush_out(struct conn *c) {
    while (c->wpos < c->wlen) {
        ssize_t k = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) { ep_mod(c, EPOLLIN | EPOLLOUT); return 0; }
            if (errno == EINTR) continue;
            return -1;
        }
        c->wpos += (size_t)k;
    }
    free(c->wbuf); c->wbuf = NULL; c->wlen = c->wpos = 0;
    ep_mod(c, EPOLLIN);
    return 0;
}

/* Queue a masked client frame. */
static int send_frame(struct conn *c, uint8_t first, const uint8_t *payload, size_t n) {
    if (c->wbuf) return 0; /* something still pending (only pongs can hit this): drop */
    size_t hl = 2 + (n >= 126 ? (n > 65535 ? 8 : 2) : 0) + 4;
    uint8_t *f = malloc(hl + n);
    if (!f) return -1;
    size_t p = 0;
    f[p++] = first;
    if (n < 126) f[p++] = 0x80 | (uint8_t)n;
    else if (n <= 65535) { f[p++] = 0x80 | 126; f[p++] = n >> 8; f[p++] = n & 0xff; }
    else { f[p++] = 0x80 | 127; for (int i = 7; i >= 0; i--) f[p++] = (uint8_t)(n >> (8 * i)); }
    uint32_t r = (uint32_t)random();
    uint8_t mask[4] = {r, r >> 8, r >> 16, r >> 24};
    memcpy(f + p, mask, 4); p += 4;
    for (size_t i = 0; i < n; i++) f[p + i] = payload[i] ^ mask[i & 3];
    c->wbuf = (char *)f; c->wlen = p + n; c->wpos = 0;
    return flush_out(c);
}

/* ---- the --active message ---- */
static uint8_t msg[1024];
static uint8_t *zmsg[16];
static size_t zmsg_len[16];

static void make_message(void) {
    /* deterministic JSON-like 1 KiB: an array of small quote objects */
    char *p = (char *)msg, *end = (char *)msg + sizeof msg;
    unsigned s = 12345;
    p += sprintf(p, "{\"type\":\"quotes\",\"items\":[");
    for (int i = 0; end - p > 90; i++) {
        s = s * 1103515245u + 12345u;
        p += sprintf(p, "%s{\"sym\":\"S%03u\",\"bid\":%u.%02u,\"ask\":%u.%02u,\"qty\":%u}", i ? "," : "",
                     (s >> 8) % 500, (s >> 4) % 900 + 100, s % 100, (s >> 4) % 900 + 101, (s >> 12) % 100,
                     (s >> 16) % 10000);
    }
    p += sprintf(p, "],\"pad\":\"");
    while (p < end - 2) *p++ = 'x';
    *p++ = '"'; *p++ = '}';
}

static int compressed_message(int wbits, uint8_t **out, size_t *outlen) {
    if (wbits < 9) wbits = 9; /* zlib cannot do raw deflate with an 8-bit window */
    if (!zmsg[wbits]) {
        z_stream z; memset(&z, 0, sizeof z);
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
        uint8_t buf[2048];
        z.next_in = msg; z.avail_in = sizeof msg; z.next_out = buf; z.avail_out = sizeof buf;
        if (deflate(&z, Z_SYNC_FLUSH) != Z_OK) return -1;
        size_t n = sizeof buf - z.avail_out;
        deflateEnd(&z);
        if (n < 4 || memcmp(buf + n - 4, "\x00\x00\xff\xff", 4)) return -1;
        n -= 4;
        zmsg[wbits] = malloc(n); memcpy(zmsg[wbits], buf, n); zmsg_len[wbits] = n;
    }
    *out = zmsg[wbits]; *outlen = zmsg_len[wbits];
    return 0;
}

static void send_active(struct conn *c) {
    int rc;
    if (c->deflate) {
        uint8_t *z; size_t zn;
        if (compressed_message(c->cwbits, &z, &zn) < 0) { fprintf(stderr, "deflate failed\n"); exit(1); }
        rc = send_frame(c, 0x80 | 0x40 | 0x1, z, zn); /* FIN | RSV1 | text */
    } else {
        rc = send_frame(c, 0x80 | 0x1, msg, sizeof msg);
    }
    c->awaiting_echo = 1; n_echo_inflight++;
    if (rc < 0) conn_fail(c, 1);
}

/* ---- frames from the server ---- */
static void handle_frames(struct conn *c) {
    size_t off = 0;
    while (c->rlen - off >= 2) {
        uint8_t *f = (uint8_t *)c->rbuf + off;
        uint8_t op = f[0] & 0x0f;
        int masked = f[1] & 0x80;
        uint64_t n = f[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) { if (c->rlen - off < 4) break; n = (f[2] << 8) | f[3]; hl = 4; }
        else if (n == 127) {
            if (c->rlen - off < 10) break;
            n = 0; for (int i = 0; i < 8; i++) n = (n << 8) | f[2 + i];
            hl = 10;
        }
        if (masked) hl += 4;
        if (hl + n > RBUF) { conn_fail(c, 1); return; } /* we never expect big frames */
        if (c->rlen - off < hl + n) break;
        uint8_t *pl = f + hl;
        switch (op) {
        case 0x9: send_frame(c, 0x80 | 0xA, pl, (size_t)n); break; /* ping -> pong */
        case 0x8: conn_fail(c, 1); return;                          /* server closed */
        case 0x0: case 0x1: case 0x2:
            if (op != 0x0 && (f[0] & 0x40)) c->echo_rsv1 = 1; /* first frame of a compressed message */
            if (c->awaiting_echo && (f[0] & 0x80)) {
                c->awaiting_echo = 0; n_echo_inflight--; n_echoed++;
                if (c->echo_rsv1) n_echo_compressed++;
            }
            break;
        default: break;
        }
        off += hl + n;
    }
    if (off) { memmove(c->rbuf, c->rbuf + off, c->rlen - off); c->rlen -= off; }
}

static void handshake_done(struct conn *c, char *hdr_end) {
    size_t hlen = (size_t)(hdr_end - c->rbuf) + 4;
    char *h = c->rbuf;
    h[hlen - 2] = 0; /* terminate after the last header line */
    int ok = strncmp(h, "HTTP/1.1 101", 12) == 0;
    if (ok) {
        /* expected accept value */
        char in[64]; unsigned char dig[SHA_DIGEST_LENGTH]; char acc[32];
        snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
        SHA1((unsigned char *)in, strlen(in), dig);
        b64(dig, SHA_DIGEST_LENGTH, acc);
        ok = 0;
        for (char *line = strstr(h, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
            char *l = line + 2;
            if (!strncasecmp(l, "sec-websocket-accept:", 21)) {
                char *v = l + 21; while (*v == ' ') v++;
                ok = strncmp(v, acc, strlen(acc)) == 0;
            } else if (!strncasecmp(l, "sec-websocket-extensions:", 25)) {
                char *eol = strstr(l, "\r\n"); char save = 0;
                if (eol) { save = *eol; *eol = 0; }
                if (strcasestr(l, "permessage-deflate")) {
                    c->deflate = 1;
                    char *w = strcasestr(l, "client_max_window_bits=");
                    if (w) c->cwbits = (uint8_t)atoi(w + 23);
                }
                if (eol) *eol = save;
            }
        }
    }
    if (!ok) {
        if (n_failed < 3) fprintf(stderr, "handshake refused: %.200s\n", h);
        conn_fail(c, 0);
        return;
    }
    memmove(c->rbuf, c->rbuf + hlen, c->rlen - hlen);
    c->rlen -= hlen;
    c->state = ST_OPEN; n_inflight--; n_ok++;
    if (c->deflate) n_deflate++;
    if (c->rlen) handle_frames(c);
}

static void on_readable(struct conn *c) {
    for (;;) {
        if (!c->rbuf && !(c->rbuf = malloc(RBUF))) { conn_fail(c, c->state == ST_OPEN); return; }
        if (c->rlen == RBUF) { conn_fail(c, c->state == ST_OPEN); return; }
        ssize_t k = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen - 1, 0);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            conn_fail(c, c->state == ST_OPEN); return;
        }
        if (k == 0) { conn_fail(c, c->state == ST_OPEN); return; }
        c->rlen += (size_t)k;
        if (c->state == ST_HANDSHAKE) {
            c->rbuf[c->rlen] = 0;
            char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
            if (e) handshake_done(c, e);
            else if (c->rlen > 4000) { conn_fail(c, 0); return; }
        } else if (c->state == ST_OPEN) {
            handle_frames(c);
        }
        if (c->state != ST_OPEN && c->state != ST_HANDSHAKE) return;
    }
    /* idle connection with an empty buffer: give the memory back */
    if (c->state == ST_OPEN && c->rlen == 0) { free(c->rbuf); c->rbuf = NULL; }
}

static void start_conn(int i) {
    struct conn *c = &conns[i];
    c->cwbits = 15;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->state = ST_CONNECTING; n_inflight++;
    if (c->fd < 0) { perror("socket"); conn_fail(c, 0); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src_ips > 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % src_ips));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); conn_fail(c, 0); return; }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        if (n_failed < 3) perror("connect");
        conn_fail(c, 0); return;
    }
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
}

static void on_connected(struct conn *c) {
    int err = 0; socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) { if (n_failed < 3) fprintf(stderr, "connect: %s\n", strerror(err)); conn_fail(c, 0); return; }
    unsigned char rnd[16];
    for (int i = 0; i < 16; i++) rnd[i] = (unsigned char)random();
    b64(rnd, 16, c->key);
    c->wbuf = malloc(512);
    c->wlen = (size_t)snprintf(c->wbuf, 512,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
        path, host, port, c->key,
        want_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
    c->wpos = 0;
    c->state = ST_HANDSHAKE;
    if (flush_out(c) < 0) conn_fail(c, 0);
}

static void poll_once(int ms) {
    struct epoll_event ev[512];
    int k = epoll_wait(epfd, ev, 512, ms);
    for (int j = 0; j < k; j++) {
        struct conn *c = &conns[ev[j].data.u32];
        if (c->fd < 0) continue;
        if (c->state == ST_CONNECTING) {
            if (ev[j].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
            continue;
        }
        if ((ev[j].events & EPOLLOUT) && c->wbuf) {
            if (flush_out(c) < 0) { conn_fail(c, c->state == ST_OPEN); continue; }
        }
        if (ev[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: wsidle --port P [--host 127.0.0.1] [-n N] [--deflate] [--active] "
                    "[--concurrency C] [--src-ips K] [--timeout S] [--hold S] [--path /]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (usage(), ""))
        if (!strcmp(a, "--port")) port = atoi(NEXT());
        else if (!strcmp(a, "--host")) host = NEXT();
        else if (!strcmp(a, "-n")) nconns = atoi(NEXT());
        else if (!strcmp(a, "--deflate")) want_deflate = 1;
        else if (!strcmp(a, "--active")) active = 1;
        else if (!strcmp(a, "--concurrency")) concurrency = atoi(NEXT());
        else if (!strcmp(a, "--src-ips")) src_ips = atoi(NEXT());
        else if (!strcmp(a, "--timeout")) timeout_s = atof(NEXT());
        else if (!strcmp(a, "--hold")) hold_s = atof(NEXT());
        else if (!strcmp(a, "--path")) path = NEXT();
        else usage();
    }
    if (port <= 0 || nconns <= 0 || concurrency <= 0) usage();
    if (src_ips > 254) src_ips = 254;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)nconns + 16 > rl.rlim_cur)
        fprintf(stderr, "warning: -n %d exceeds open-file limit %lu\n", nconns, (unsigned long)rl.rlim_cur);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    srandom((unsigned)getpid() ^ (unsigned)time(NULL));
    make_message();

    conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) conns[i].fd = -1;
    epfd = epoll_create1(EPOLL_CLOEXEC);

    /* phase 1: connect + upgrade */
    double t0 = now(), deadline = t0 + timeout_s;
    int next = 0;
    while (!stop_flag && (next < nconns || n_inflight > 0) && now() < deadline) {
        while (next < nconns && n_inflight < concurrency) start_conn(next++);
        poll_once(50);
    }
    for (int i = 0; i < nconns; i++) /* give up on whatever is still pending */
        if (conns[i].state == ST_CONNECTING || conns[i].state == ST_HANDSHAKE) conn_fail(&conns[i], 0);
    if (next < nconns) n_failed += nconns - next;
    printf("UPGRADED ok=%d failed=%d deflate=%d secs=%.2f\n", n_ok, n_failed, n_deflate, now() - t0);
    fflush(stdout);

    /* phase 2: one message + echo per connection, at most `concurrency` in flight */
    if (active && !stop_flag) {
        double t1 = now();
        deadline = t1 + timeout_s;
        int i = 0;
        while (!stop_flag && now() < deadline) {
            while (i < nconns && n_echo_inflight < concurrency) {
                if (conns[i].state == ST_OPEN) send_active(&conns[i]);
                i++;
            }
            if (i >= nconns && n_echo_inflight == 0) break;
            poll_once(50);
        }
        for (int j = 0; j < nconns; j++)
            if (conns[j].awaiting_echo) { conns[j].awaiting_echo = 0; n_echo_inflight--; n_echo_failed++; }
        printf("ACTIVE echoed=%d compressed=%d failed=%d secs=%.2f\n", n_echoed, n_echo_compressed, n_echo_failed,
               now() - t1);
        fflush(stdout);
    }

    /* phase 3: hold */
    for (int i = 0; i < nconns; i++)
        if (conns[i].state == ST_OPEN && conns[i].rlen == 0) { free(conns[i].rbuf); conns[i].rbuf = NULL; }
    printf("READY open=%d\n", n_ok);
    fflush(stdout);
    double hold_end = now() + hold_s;
    while (!stop_flag && now() < hold_end) poll_once(200);

    printf("DONE open=%d closed_by_server=%d\n", n_ok, n_closed_by_server);
    fflush(stdout);
    for (int i = 0; i < nconns; i++) {
        if (conns[i].fd >= 0) {
            struct linger l = {1, 0};
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            close(conns[i].fd);
        }
    }
    return 0;
}
