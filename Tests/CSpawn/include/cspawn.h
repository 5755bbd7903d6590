#ifndef EDDY_TEST_CSPAWN_H
#define EDDY_TEST_CSPAWN_H
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which Swift's Glibc module
/// does not show: close every descriptor >= `from` in the child.
int eddy_test_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);

/// A new pseudo-terminal, both ends close-on-exec and not our controlling terminal: the
/// controller (what a terminal emulator reads) in `*controller`, the terminal a child writes to
/// in `*terminal`. 0, or -1 with errno set. (posix_openpt, grantpt, unlockpt and ptsname are
/// X/Open functions that Swift's Glibc module does not show.)
int eddy_test_open_pty(int *controller, int *terminal);

/// Heap bytes in use (glibc's mallinfo2 uordblks), for memory measurements in tests:
/// mallinfo2 is in <malloc.h>, which Swift's Glibc module does not show.
unsigned long eddy_test_heap_in_use(void);

#endif
