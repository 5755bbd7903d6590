#ifndef EDDY_CLIBUV_SHIM_H
#define EDDY_CLIBUV_SHIM_H

#include <uv.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <pthread.h>

/* Function-like macros and casts Swift cannot import directly. */

/// The handle that a request belongs to, as a stream.
static inline uv_stream_t *eddy_uv_stream(uv_tcp_t *tcp) { return (uv_stream_t *)tcp; }
static inline uv_handle_t *eddy_uv_handle_tcp(uv_tcp_t *tcp) { return (uv_handle_t *)tcp; }
static inline uv_handle_t *eddy_uv_handle_timer(uv_timer_t *t) { return (uv_handle_t *)t; }
static inline uv_handle_t *eddy_uv_handle_async(uv_async_t *a) { return (uv_handle_t *)a; }
static inline uv_handle_t *eddy_uv_handle_check(uv_check_t *c) { return (uv_handle_t *)c; }
static inline uv_handle_t *eddy_uv_handle_idle(uv_idle_t *i) { return (uv_handle_t *)i; }

/// errno as libuv reports it: the negated value (UV_E* == -E* on Unix).
static inline int eddy_uv_errno(void) { return -errno; }

#endif
