/*
 * send-vs-write: what one system call costs the writer on a loopback TCP socket, write(2)
 * against send(2), for the bytes an Eddy loop writes at once (a cork of 16 echoed
 * 32-byte frames is 544 bytes). Eddy's connections send with send(2) (eddy_send);
 * libuv's uv_try_write uses write(2), which also passes through the file-write layers.
 *
 *   send-vs-write [bytes per call, default 544] [rounds, default 10]
 *
 * One connection on 127.0.0.1; a second thread reads and discards everything. Each round
 * makes 200,000 write(2) calls and 200,000 send(2) calls (MSG_NOSIGNAL), in the order
 * write, send, send, write, … so that neither always goes first; each block is timed with
 * the writer thread's own CPU clock.
 * Prints the CPU per call of each and their ratio.
 *
 * Build: gcc -O2 -Wall -Wextra -o send-vs-write send-vs-write.c -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int reading_fd = -1;

static void *drain(void *unused) {
    (void)unused;
    static char buffer[65536];
    while (read(reading_fd, buffer, sizeof buffer) > 0) {}
    return NULL;
}

static double thread_cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    int size = argc > 1 ? atoi(argv[1]) : 544, rounds = argc > 2 ? atoi(argv[2]) : 10;
    const int calls = 200000;
    if (size < 1 || size > 65536 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: send-vs-write [bytes 1...65536] [rounds 1...1000]\n");
        return 2;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        fail("listen");
    int writer = socket(AF_INET, SOCK_STREAM, 0);
    if (writer < 0 || connect(writer, (struct sockaddr *)&address, sizeof address) < 0) fail("connect");
    if ((reading_fd = accept(listener, NULL, NULL)) < 0) fail("accept");
    int one = 1;
    setsockopt(writer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as Eddy's sockets */
    pthread_t reader;
    if (pthread_create(&reader, NULL, drain, NULL) != 0) fail("pthread_create");

    char *bytes = calloc(1, (size_t)size);
    if (!bytes) fail("calloc");
    double with_write = 0, with_send = 0;
    for (int round = 0; round < 2 * rounds; round++) {
        int use_send = (round % 4 == 1 || round % 4 == 2); /* write, send, send, write, ... */
        double start = thread_cpu_seconds();
        for (int i = 0; i < calls; i++) {
            ssize_t sent = use_send ? send(writer, bytes, (size_t)size, MSG_NOSIGNAL) : write(writer, bytes, (size_t)size);
            if (sent != size) fail(use_send ? "send" : "write");
        }
        *(use_send ? &with_send : &with_write) += thread_cpu_seconds() - start;
    }
    double per = 1e6 / ((double)rounds * calls);
    printf("bytes=%d write=%.3f us/call send=%.3f us/call send/write=%.3f\n", size, with_write * per,
           with_send * per, with_send / with_write);
    shutdown(writer, SHUT_WR); /* the reader sees the end and stops */
    pthread_join(reader, NULL);
    return 0;
}
