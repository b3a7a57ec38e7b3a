// SPDX-License-Identifier: Apache-2.0
/*
 * open_loop PATH COUNT RATE MAX_SECONDS
 *
 * Opens PATH for reading and closes it, COUNT times, at RATE opens a second
 * (0: as fast as it can), stopping at MAX_SECONDS whatever the count. PATH
 * is a watched file (an event each) or an unwatched one (no event at all).
 */
#include <fcntl.h>

#include "common.h"

int main(int argc, char **argv)
{
	unsigned long long count, rate, start, deadline, i;

	if (argc != 5) {
		fprintf(stderr, "usage: %s PATH COUNT RATE MAX_SECONDS\n", argv[0]);
		return 2;
	}
	count = arg_ull(argv[2], "count");
	rate = arg_ull(argv[3], "rate");
	start = now_ns();
	deadline = start + arg_ull(argv[4], "max_seconds") * 1000000000ULL;
	for (i = 0; i < count; i++) {
		int fd;

		if (!pace(i, start, rate, deadline))
			break;
		fd = open(argv[1], O_RDONLY);
		if (fd < 0) {
			perror("open");
			return 1;
		}
		close(fd);
	}
	report(i, start);
	return 0;
}
