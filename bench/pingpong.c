/* TCP request/response round trips, one byte each way, for bench/bypass.py.
 *
 *   pingpong server PORT           accept one connection, echo every byte until EOF
 *   pingpong client IP PORT ROUNDS  connect, time ROUNDS round trips, print
 *                                   "p50_ns p90_ns p99_ns" on stdout
 *
 * Written in C so that the round trip measured is the kernel's path, not an
 * interpreter's turnaround. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int serve(int port) {
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) {
        perror("bind/listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) {
        perror("accept");
        return 1;
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b;
    while (read(c, &b, 1) == 1)
        if (write(c, &b, 1) != 1)
            break;
    return 0;
}

static int client(const char *ip, int port, int rounds) {
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) {
        perror("connect");
        return 1;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long *rtt = malloc(sizeof(long) * rounds);
    char b = 'x';
    for (int i = 0; i < rounds; i++) {
        long t = now_ns();
        if (write(s, &b, 1) != 1 || read(s, &b, 1) != 1) {
            perror("round trip");
            return 1;
        }
        rtt[i] = now_ns() - t;
    }
    qsort(rtt, rounds, sizeof(long), cmp);
    printf("%ld %ld %ld\n", rtt[rounds / 2], rtt[rounds * 9 / 10], rtt[rounds * 99 / 100]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "server"))
        return serve(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: pingpong server PORT | pingpong client IP PORT ROUNDS\n");
    return 2;
}
