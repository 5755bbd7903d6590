/*
 * c-epoll-echo: a minimal C epoll TCP echo server, as a reference point for
 * the Swift servers (roughly what the kernel and the load generator allow on
 * this machine). Not a peer: no runtime, no allocation per read, nothing.
 *
 *   c-epoll-echo [--host 127.0.0.1] [--port 0] [--threads N]
 *
 * N threads (default: online CPUs), each with its own epoll fd; the one
 * listening socket is in every epoll set with EPOLLEXCLUSIVE, and a thread
 * keeps the connections it accepted. Echo: read up to 64 KiB, write it back;
 * if the write is short, keep the rest and stop reading that connection until
 * it has drained. Prints `LISTENING <port>`; exits 0 on SIGTERM / SIGINT.
 *
 * Build: gcc -O2 -Wall -Wextra -o c-epoll-echo c-epoll-echo.c -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

struct conn {
    int fd;
    size_t pending_off, pending_len; /* unsent tail of the last read, in buf */
    unsigned char *buf;              /* only while something is pending */
};

static int listen_fd;
static int stop_requested; /* atomic access only */

static void on_signal(int sig)
{
    (void)sig;
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED);
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Write out what is pending; returns -1 if the connection is gone. */
static int drain(int ep, struct conn *c)
{
    while (c->pending_len > 0) {
        ssize_t n = send(c->fd, c->buf + c->pending_off, c->pending_len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        c->pending_off += (size_t)n;
        c->pending_len -= (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    free(c->buf);
    c->buf = NULL;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void *loop(void *arg)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), one = 1;
    unsigned char *buf = malloc(BUF_SIZE);
    struct epoll_event events[256];
    struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    (void)arg;
    if (ep < 0 || !buf || epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &lev) != 0) {
        perror("c-epoll-echo: setup");
        exit(1);
    }
    while (!__atomic_load_n(&stop_requested, __ATOMIC_RELAXED)) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) { /* listening socket */
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                    close(fd);
                    free(c);
                }
                continue;
            }
            if (c->buf) { /* waiting for EPOLLOUT */
                if (drain(ep, c) != 0)
                    conn_close(ep, c);
                continue;
            }
            ssize_t r = recv(c->fd, buf, BUF_SIZE, 0);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                continue;
            if (r <= 0) {
                conn_close(ep, c);
                continue;
            }
            ssize_t w = send(c->fd, buf, (size_t)r, MSG_NOSIGNAL);
            if (w == r)
                continue;
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_close(ep, c);
                continue;
            }
            if (w < 0)
                w = 0;
            /* short write: keep the rest, wait for EPOLLOUT, stop reading */
            c->pending_len = (size_t)(r - w);
            c->pending_off = 0;
            c->buf = malloc(c->pending_len);
            if (!c->buf) {
                conn_close(ep, c);
                continue;
            }
            memcpy(c->buf, buf + w, c->pending_len);
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    free(buf);
    return NULL; /* connections are closed by process exit */
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    const char *port = "0";
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    struct sigaction sa;
    int one = 1;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "c-epoll-echo: missing value for %s\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--host"))
            host = argv[++i];
        else if (!strcmp(argv[i], "--port"))
            port = argv[++i];
        else if (!strcmp(argv[i], "--threads"))
            threads = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: c-epoll-echo [--host H] [--port P] [--threads N]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "c-epoll-echo: bad --threads\n");
        return 2;
    }
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        fprintf(stderr, "c-epoll-echo: cannot resolve %s:%s\n", host, port);
        return 1;
    }
    listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listen_fd < 0 || bind(listen_fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(listen_fd, 1024) != 0) {
        perror("c-epoll-echo: bind/listen");
        return 1;
    }
    freeaddrinfo(ai);
    getsockname(listen_fd, (struct sockaddr *)&ss, &sslen);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tids[t], NULL, loop, NULL) != 0) {
            fprintf(stderr, "c-epoll-echo: pthread_create failed\n");
            return 1;
        }
    printf("LISTENING %d\n", ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                              : ((struct sockaddr_in *)&ss)->sin_port));
    fflush(stdout);
    for (long t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    close(listen_fd);
    return 0;
}
