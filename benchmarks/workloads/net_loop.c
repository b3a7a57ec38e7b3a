// SPDX-License-Identifier: Apache-2.0
/*
 * net_loop PORT COUNT MAX_SECONDS
 *
 * Loopback only: COUNT TCP connects to 127.0.0.1:PORT (a listener of this
 * process, so each one completes) and COUNT UDP datagrams to 127.0.0.1:PORT
 * (a socket of this process that is never read: the kernel drops them once
 * its buffer is full). Stops at MAX_SECONDS whatever the count.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

int main(int argc, char **argv)
{
	unsigned long long count, start, deadline, i, done = 0;
	struct sockaddr_in addr;
	int lfd, ufd, sfd, one = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PORT COUNT MAX_SECONDS\n", argv[0]);
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)arg_ull(argv[1], "port"));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	count = arg_ull(argv[2], "count");
	start = now_ns();
	deadline = start + arg_ull(argv[3], "max_seconds") * 1000000000ULL;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	sfd = socket(AF_INET, SOCK_DGRAM, 0);
	if (lfd < 0 || ufd < 0 || sfd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 128) ||
	    bind(ufd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("bind");
		return 1;
	}
	for (i = 0; i < count; i++) {
		int cfd, afd;

		if (!pace(i, start, 0, deadline))
			break;
		cfd = socket(AF_INET, SOCK_STREAM, 0);
		if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, sizeof(addr))) {
			perror("connect");
			return 1;
		}
		afd = accept(lfd, NULL, NULL);
		if (afd >= 0)
			close(afd);
		close(cfd);
		sendto(sfd, "x", 1, MSG_DONTWAIT, (struct sockaddr *)&addr, sizeof(addr));
		done++;
	}
	report(done, start);
	return 0;
}
