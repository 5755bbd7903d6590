#ifndef EDDY_CLIBUV_SHIM_H
#define EDDY_CLIBUV_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <uv.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>

/* Small helpers for what Swift cannot import directly (GNU-only calls, macros). */

/// errno as libuv reports it: the negated value (UV_E* == -E* on Unix).
static inline int eddy_uv_errno(void) { return -errno; }

/// Names the calling thread (visible in top, perf, gdb). Linux keeps 15 bytes.
static inline int eddy_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

/// accept4 without the peer address (glibc's transparent-union parameter does not import).
static inline int eddy_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

/// Ignores SIGPIPE for the whole process (writes to a closed peer then fail with EPIPE).
static inline int eddy_ignore_sigpipe(void) { return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0; }

/// Online cores.
static inline long eddy_online_cores(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

#endif
