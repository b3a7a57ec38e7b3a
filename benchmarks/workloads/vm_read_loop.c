// SPDX-License-Identifier: Apache-2.0
/*
 * vm_read_loop COUNT MAX_SECONDS
 *
 * Forks a child that only waits, then reads 64 bytes of its memory COUNT
 * times with process_vm_readv. Stops at MAX_SECONDS whatever the count; the
 * child is killed and reaped before exit.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"

static char target[64] = "bee-trace benchmark target";

int main(int argc, char **argv)
{
	unsigned long long count, start, deadline, i;
	char buf[sizeof(target)];
	struct iovec local = { buf, sizeof(buf) }, remote = { target, sizeof(target) };
	pid_t child;

	if (argc != 3) {
		fprintf(stderr, "usage: %s COUNT MAX_SECONDS\n", argv[0]);
		return 2;
	}
	count = arg_ull(argv[1], "count");
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		/* bounded too: gone after a minute even if the parent is */
		alarm(60);
		pause();
		_exit(0);
	}
	start = now_ns();
	deadline = start + arg_ull(argv[2], "max_seconds") * 1000000000ULL;
	for (i = 0; i < count; i++) {
		if (!pace(i, start, 0, deadline))
			break;
		if (process_vm_readv(child, &local, 1, &remote, 1, 0) < 0) {
			perror("process_vm_readv");
			break;
		}
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	report(i, start);
	return 0;
}
