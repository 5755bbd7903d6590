#define _GNU_SOURCE
#include "cspawn.h"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int eddy_test_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int eddy_test_open_pty(int *controller, int *terminal) {
    int c = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c < 0) return -1;
    char name[128];
    if (grantpt(c) != 0 || unlockpt(c) != 0 || ptsname_r(c, name, sizeof name) != 0) { close(c); return -1; }
    int t = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (t < 0) { close(c); return -1; }
    *controller = c;
    *terminal = t;
    return 0;
}

#include <malloc.h>

unsigned long eddy_test_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (unsigned long)info.uordblks;
}
