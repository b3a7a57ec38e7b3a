// SPDX-License-Identifier: Apache-2.0
/*
 * What every workload shares: argument parsing, a monotonic clock, pacing.
 * Each workload is bounded twice, by a count and by a deadline, and prints
 * one line on stdout: "done=<n> elapsed_ns=<t> pid=<pid>".
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static inline unsigned long long arg_ull(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/*
 * Pacing: rate 0 runs flat out; otherwise the i-th operation waits until
 * start + i / rate. Checked every 64 operations, so the loop stays cheap.
 * Returns 0 once the deadline has passed.
 */
static inline int pace(unsigned long long i, unsigned long long start,
		       unsigned long long rate, unsigned long long deadline)
{
	unsigned long long now;

	if (i % 64)
		return 1;
	now = now_ns();
	if (now >= deadline)
		return 0;
	if (rate) {
		unsigned long long due = start + i * 1000000000ULL / rate;

		if (due > deadline)
			return 0;
		if (due > now) {
			struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ULL),
					       .tv_nsec = (long)((due - now) % 1000000000ULL) };

			nanosleep(&ts, NULL);
		}
	}
	return 1;
}

static inline void report(unsigned long long done, unsigned long long start)
{
	printf("done=%llu elapsed_ns=%llu pid=%d\n", done, now_ns() - start, (int)getpid());
	fflush(stdout);
}

#endif
