#ifndef EDDY_CLIBUV_SHIM_H
#define EDDY_CLIBUV_SHIM_H

/* libuv and the POSIX headers Eddy's libuv code uses. No feature macros here: defining
   _GNU_SOURCE in a module header changes glibc's fd_set and clashes with Dispatch's
   module (see CEddyShims for the GNU-only calls). */
#include <uv.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

#endif
