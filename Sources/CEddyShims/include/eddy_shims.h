#ifndef EDDY_SHIMS_H
#define EDDY_SHIMS_H

/* Small C helpers for what Swift cannot import directly. They live in a C source file so
   that _GNU_SOURCE (needed for accept4 and pthread_setname_np) is defined there only: a
   module header that defines it changes glibc's struct layouts (fd_set) and clashes with
   other modules that include the same system headers. */

/// errno as libuv reports it: the negated value (UV_E* == -E* on Unix).
int eddy_uv_errno(void);

/// Names the calling thread (visible in top, perf, gdb). Linux keeps 15 bytes.
int eddy_set_thread_name(const char *name);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC and no peer address; -1 with errno set on error.
int eddy_accept(int fd);

/// Online cores.
long eddy_online_cores(void);

/// Ignores SIGPIPE for the whole process (writes to a closed peer then fail with EPIPE).
int eddy_ignore_sigpipe(void);

/// Sets TCP_NOTSENT_LOWAT: the kernel takes no more bytes for this socket while this many
/// are queued but not yet sent; bytes in flight (sent, not yet acknowledged) do not count.
/// 0 or -1 with errno set.
int eddy_set_tcp_unsent_limit(int fd, int bytes);

#endif
