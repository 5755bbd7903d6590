#ifndef EDDY_SHIMS_H
#define EDDY_SHIMS_H

#include <stddef.h>
#include <stdint.h>

/* Small C helpers for what Swift cannot import directly. They live in a C source file so
   that _GNU_SOURCE (needed for accept4 and pthread_setname_np) is defined there only: a
   module header that defines it changes glibc's struct layouts (fd_set) and clashes with
   other modules that include the same system headers. */

// The event loop that owns the calling thread (an unretained EddyLoop.EventLoop), or NULL.
// initial-exec: reading it is one fs-relative load (no __tls_get_addr, no pthread key, no
// lazy-global check), so `EventLoop.inEventLoop` costs nothing on the per-message path. Eddy
// is linked into executables (and the test runner), never dlopen'ed. `inEventLoop` is
// inlinable, so this holds for every module that uses it, not only Eddy's own.
extern __thread void *eddy_current_loop __attribute__((tls_model("initial-exec")));

static inline void *eddy_current_loop_get(void) { return eddy_current_loop; }
static inline void eddy_current_loop_set(void *loop) { eddy_current_loop = loop; }

/// errno as libuv reports it: the negated value (UV_E* == -E* on Unix).
int eddy_uv_errno(void);

/// Names the calling thread (visible in top, perf, gdb). Linux keeps 15 bytes.
int eddy_set_thread_name(const char *name);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC and no peer address; -1 with errno set on error.
int eddy_accept(int fd);

// The peer address of a connected socket as 16 bytes (an IPv4 address mapped into
// ::ffff:a.b.c.d), the port left out: the key of per-address connection limits. Returns 0,
// or -1 if the kernel reports no address.
int eddy_peer_key(int fd, uint64_t key[2]);

// Refuses an accepted, non-blocking socket without an event loop handle: sends `message`
// (if any; what does not fit the send buffer is dropped), half-closes, reads and discards
// what the peer already sent (so the close is a FIN after the message, not a reset), and
// closes the descriptor.
void eddy_refuse(int fd, const void *message, size_t length);

/// Online cores.
long eddy_online_cores(void);

/// Ignores SIGPIPE for the whole process (writes to a closed peer then fail with EPIPE).
int eddy_ignore_sigpipe(void);

/// Sets TCP_NOTSENT_LOWAT: the kernel takes no more bytes for this socket while this many
/// are queued but not yet sent; bytes in flight (sent, not yet acknowledged) do not count.
/// 0 or -1 with errno set.
int eddy_set_tcp_unsent_limit(int fd, int bytes);

/// Sends `length` bytes on a non-blocking stream socket with send(2), as libuv's
/// uv_try_write does with write(2) but without the file-write path a socket does not need
/// (MSG_NOSIGNAL: a closed peer gives EPIPE, never SIGPIPE). Returns the bytes the kernel
/// took, 0 when it took none for now (EAGAIN, EWOULDBLOCK, ENOBUFS), or a negated errno
/// (libuv's error codes). Retries on EINTR.
long eddy_send(int fd, const void *bytes, size_t length);

#endif
