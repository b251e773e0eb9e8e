/*
 * A scratch directory for a unit test: made with mkdtemp under /tmp, and
 * removed with the files the test left in it (one level: tests write
 * files, not trees). Shared by test_worker.c (captures) and test_health.c
 * (Mosquitto's configuration, certificates, keys).
 */
#ifndef MQTTLB_TESTS_FIXTURE_TMPDIR_H
#define MQTTLB_TESTS_FIXTURE_TMPDIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "/tmp/NAME-XXXXXX" made into dir (at least 64 bytes): 0, or -1. */
static inline int fixture_tmpdir__make(char *dir, size_t len, const char *name)
{
        if ((size_t)snprintf(dir, len, "/tmp/%s-XXXXXX", name) >= len)
                return -1;
        return mkdtemp(dir) ? 0 : -1;
}

/* dir/name into out (128 bytes). */
static inline void fixture_tmpdir__path(const char *dir, char *out, const char *name)
{
        snprintf(out, 128, "%s/%s", dir, name);
}

/* The files in dir, then dir: 0, or -1. */
static inline int fixture_tmpdir__remove(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        return rmdir(dir) ? -1 : 0;
}

#endif
