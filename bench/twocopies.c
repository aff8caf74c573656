/* How fast bytes can move between two processes when each byte is copied twice (into the
 * kernel, out of it) and nothing else is done: the ceiling of any TCP bypass that hands a
 * sender's bytes to the receiving socket, for bench/bypass.py.
 *
 *   twocopies WRITER_CPU READER_CPU WRITE_BYTES SECONDS
 *
 * The writer writes WRITE_BYTES at a time into one end of an AF_UNIX stream socketpair for
 * SECONDS, the reader (a child process) reads it out in reads of the same size; each is
 * pinned to its CPU. Prints the bits per second the reader received. AF_UNIX is the
 * kernel's lightest stream between two processes: the copy in, the copy out, a queue and a
 * wakeup, no protocol. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: twocopies WRITER_CPU READER_CPU WRITE_BYTES SECONDS\n");
        return 2;
    }
    int writer_cpu = atoi(argv[1]), reader_cpu = atoi(argv[2]);
    size_t size = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]);
    int ends[2], report[2];
    char *buf = malloc(size);
    if (buf == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, ends) || pipe(report)) {
        perror("setup");
        return 1;
    }
    memset(buf, 0x5a, size);
    pid_t reader = fork();
    if (reader == 0) {
        close(ends[0]);
        if (pin(reader_cpu)) {
            perror("reader cpu");
            return 1;
        }
        /* Times from the end of the first read to EOF and counts the bytes read in that
         * time (the first read's are not), so waiting for the writer to start is left out. */
        long long got = 0;
        ssize_t n = read(ends[1], buf, size);
        double start = now_s();
        while (n > 0) {
            n = read(ends[1], buf, size);
            if (n > 0)
                got += n;
        }
        double rate = got * 8 / (now_s() - start);
        if (write(report[1], &rate, sizeof rate) != sizeof rate)
            return 1;
        return 0;
    }
    close(ends[1]);
    if (pin(writer_cpu)) {
        perror("writer cpu");
        return 1;
    }
    double end = now_s() + seconds;
    while (now_s() < end) {
        if (write(ends[0], buf, size) < 0) {
            perror("write");
            return 1;
        }
    }
    close(ends[0]);
    int status = 0;
    double rate = 0;
    waitpid(reader, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) || read(report[0], &rate, sizeof rate) != sizeof rate) {
        fprintf(stderr, "the reader failed\n");
        return 1;
    }
    printf("%.0f\n", rate);
    return 0;
}
