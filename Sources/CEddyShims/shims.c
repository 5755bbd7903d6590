#define _GNU_SOURCE
#include "eddy_shims.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

int eddy_uv_errno(void) { return -errno; }

int eddy_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int eddy_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

long eddy_online_cores(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

int eddy_ignore_sigpipe(void) { return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0; }

int eddy_set_tcp_unsent_limit(int fd, int bytes) {
    return setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes);
}
