#define _GNU_SOURCE
#include "eddy_shims.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

__thread void *eddy_current_loop __attribute__((tls_model("initial-exec"))) = NULL;

int eddy_uv_errno(void) { return -errno; }

int eddy_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int eddy_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int eddy_peer_key(int fd, uint64_t key[2]) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof storage;
    unsigned char bytes[16] = {0};
    if (getpeername(fd, (struct sockaddr *)&storage, &length) != 0) return -1;
    if (storage.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&storage;
        bytes[10] = 0xff;
        bytes[11] = 0xff;
        memcpy(bytes + 12, &v4->sin_addr, 4);
    } else if (storage.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&storage;
        memcpy(bytes, &v6->sin6_addr, 16);
    } else {
        return -1;
    }
    memcpy(&key[0], bytes, 8);
    memcpy(&key[1], bytes + 8, 8);
    return 0;
}

void eddy_refuse(int fd, const void *message, size_t length) {
    if (length > 0) (void)send(fd, message, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)shutdown(fd, SHUT_WR);
    char discard[4096];
    for (int i = 0; i < 16; i++) {
        if (recv(fd, discard, sizeof discard, MSG_DONTWAIT) <= 0) break;
    }
    (void)close(fd);
}

long eddy_online_cores(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

int eddy_ignore_sigpipe(void) { return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0; }

int eddy_set_tcp_unsent_limit(int fd, int bytes) {
    return setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes);
}

long eddy_send(int fd, const void *bytes, size_t length) {
    ssize_t sent;
    do {
        sent = send(fd, bytes, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent >= 0) return (long)sent;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
    return -errno;
}
