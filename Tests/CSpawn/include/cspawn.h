#ifndef EDDY_TEST_CSPAWN_H
#define EDDY_TEST_CSPAWN_H
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which Swift's Glibc module
/// does not show: close every descriptor >= `from` in the child.
int eddy_test_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);

#endif
