/*
 * Learned bindings (learned.h): a chained hash table keyed by a seeded XXH3
 * of the client id, under a reader-writer lock.
 *
 * Owns its entries; each holds its id (a copy, in the same allocation) and
 * its pool's name. The seed comes from getrandom() so that clients, who
 * choose their ids, cannot aim collisions at one chain. Buckets double when
 * the entries outnumber them (one rehash under the write lock, at most
 * log2(LEARNED_MAX / 1024) = 10 times in a process's life).
 *
 * learned__set() checks under the read lock first, so the common case (a
 * client binding where it already was) never takes the write lock. save
 * writes the text under the read lock into memory, then does its I/O with no
 * lock held: workers are never kept waiting on a disk.
 */
#include "core/route/learned.h"

#include "core/util/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <xxhash.h>

#define BUCKETS_MIN 1024u
#define ID_MAX      65535u /* an MQTT string (3.1.1 §1.5.3) */
/* the longest line load takes, without its '\n': pool, tab, id all "\xHH" */
#define LINE_MAX_LEN (LEARNED_POOL_MAX - 1 + 1 + 4 * ID_MAX)
#define READ_CHUNK   65536u

struct entry {
        struct entry *next;
        uint64_t hash;
        uint32_t id_len;
        char pool[LEARNED_POOL_MAX];
        uint8_t id[]; /* id_len bytes */
};

struct learned {
        pthread_rwlock_t lock;
        struct entry **buckets;
        size_t nbuckets; /* a power of 2 */
        size_t count;
        uint64_t seed;
};

struct learned *learned__new(void)
{
        struct learned *l = calloc(1, sizeof(*l));
        pthread_rwlockattr_t attr;

        if (!l)
                return NULL;
        l->nbuckets = BUCKETS_MIN;
        l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
        if (!l->buckets || rand__seed(&l->seed) < 0)
                goto fail;
        /* glibc's default lets a stream of readers starve a writer */
        if (pthread_rwlockattr_init(&attr))
                goto fail;
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        if (pthread_rwlock_init(&l->lock, &attr)) {
                pthread_rwlockattr_destroy(&attr);
                goto fail;
        }
        pthread_rwlockattr_destroy(&attr);
        return l;
fail:
        free(l->buckets);
        free(l);
        return NULL;
}

void learned__free(struct learned *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->nbuckets; i++) {
                struct entry *e = l->buckets[i], *next;

                for (; e; e = next) {
                        next = e->next;
                        free(e);
                }
        }
        free(l->buckets);
        pthread_rwlock_destroy(&l->lock);
        free(l);
}

static uint64_t hash_id(const struct learned *l, const uint8_t *id, size_t len)
{
        return XXH3_64bits_withSeed(id, len, l->seed);
}

/* Under either lock. */
static struct entry *find(const struct learned *l, uint64_t h, const uint8_t *id, size_t len)
{
        struct entry *e = l->buckets[h & (l->nbuckets - 1)];

        for (; e; e = e->next)
                if (e->hash == h && e->id_len == len && !memcmp(e->id, id, len))
                        return e;
        return NULL;
}

/* Under the write lock. Failing to grow only makes the chains longer. */
static void grow(struct learned *l)
{
        size_t n = l->nbuckets * 2;
        struct entry **b = calloc(n, sizeof(*b));

        if (!b)
                return;
        for (size_t i = 0; i < l->nbuckets; i++) {
                struct entry *e = l->buckets[i], *next;

                for (; e; e = next) {
                        next = e->next;
                        e->next = b[e->hash & (n - 1)];
                        b[e->hash & (n - 1)] = e;
                }
        }
        free(l->buckets);
        l->buckets = b;
        l->nbuckets = n;
}

/* A pool name the state file can hold: 1 to 63 bytes, no control bytes. */
static bool pool_ok(const char *pool, size_t len)
{
        if (!len || len >= LEARNED_POOL_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((uint8_t)pool[i] < 0x20 || pool[i] == 0x7f)
                        return false;
        return true;
}

int learned__get(struct learned *l, const uint8_t *id, size_t id_len, char *pool, size_t len)
{
        uint64_t h;
        struct entry *e;

        if (!id_len || id_len > ID_MAX)
                return 0;
        h = hash_id(l, id, id_len);
        pthread_rwlock_rdlock(&l->lock);
        e = find(l, h, id, id_len);
        if (e && len) {
                size_t n = strlen(e->pool);

                if (n >= len)
                        n = len - 1;
                memcpy(pool, e->pool, n);
                pool[n] = 0;
        }
        pthread_rwlock_unlock(&l->lock);
        return e != NULL;
}

int learned__set(struct learned *l, const uint8_t *id, size_t id_len, const char *pool)
{
        size_t plen = strnlen(pool, LEARNED_POOL_MAX);
        struct entry *e, *fresh;
        uint64_t h;
        int ret;

        if (!id_len || id_len > ID_MAX || !pool_ok(pool, plen))
                return -EINVAL;
        h = hash_id(l, id, id_len);

        /* mostly the binding is already so: readers need not wait for that */
        pthread_rwlock_rdlock(&l->lock);
        e = find(l, h, id, id_len);
        ret = e && !strcmp(e->pool, pool) ? 0 : 1;
        pthread_rwlock_unlock(&l->lock);
        if (!ret)
                return 0;

        /* allocate before the write lock; freed if another thread was first */
        fresh = e ? NULL : malloc(sizeof(*fresh) + id_len);
        if (fresh) {
                fresh->hash = h;
                fresh->id_len = (uint32_t)id_len;
                memcpy(fresh->pool, pool, plen + 1);
                memcpy(fresh->id, id, id_len);
        }

        pthread_rwlock_wrlock(&l->lock);
        e = find(l, h, id, id_len);
        if (e) {
                ret = strcmp(e->pool, pool) ? 1 : 0;
                if (ret)
                        memcpy(e->pool, pool, plen + 1);
        } else if (l->count >= LEARNED_MAX) {
                ret = -ENOSPC;
        } else if (!fresh) {
                ret = -ENOMEM;
        } else {
                size_t b = h & (l->nbuckets - 1);

                fresh->next = l->buckets[b];
                l->buckets[b] = fresh;
                fresh = NULL;
                if (++l->count > l->nbuckets)
                        grow(l);
                ret = 1;
        }
        pthread_rwlock_unlock(&l->lock);
        free(fresh);
        return ret;
}

size_t learned__count(struct learned *l)
{
        size_t n;

        pthread_rwlock_rdlock(&l->lock);
        n = l->count;
        pthread_rwlock_unlock(&l->lock);
        return n;
}

/* ---- the state file ---- */

static bool must_escape(uint8_t b)
{
        return b < 0x20 || b == 0x7f || b == '\\';
}

static size_t escaped_len(const uint8_t *id, size_t len)
{
        size_t n = len;

        for (size_t i = 0; i < len; i++)
                if (must_escape(id[i]))
                        n += id[i] == '\\' || id[i] == '\t' || id[i] == '\n' ? 1 : 3;
        return n;
}

static char *escape(char *o, const uint8_t *id, size_t len)
{
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < len; i++) {
                uint8_t b = id[i];

                if (!must_escape(b)) {
                        *o++ = (char)b;
                        continue;
                }
                *o++ = '\\';
                switch (b) {
                case '\\': *o++ = '\\'; break;
                case '\t': *o++ = 't'; break;
                case '\n': *o++ = 'n'; break;
                default:
                        *o++ = 'x';
                        *o++ = hex[b >> 4];
                        *o++ = hex[b & 15];
                }
        }
        return o;
}

static int hexval(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Unescapes s[0..len) into out (which may be s: it never gets ahead), or -1. */
static ssize_t unescape(uint8_t *out, const uint8_t *s, size_t len)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                uint8_t b = s[i];

                if (b < 0x20 || b == 0x7f)
                        return -1; /* should have been escaped */
                if (b != '\\') {
                        out[o++] = b;
                        continue;
                }
                if (++i == len)
                        return -1;
                switch (s[i]) {
                case '\\': out[o++] = '\\'; break;
                case 't': out[o++] = '\t'; break;
                case 'n': out[o++] = '\n'; break;
                case 'x': {
                        int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
                        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

                        if (lo < 0)
                                return -1;
                        out[o++] = (uint8_t)(hi << 4 | lo);
                        i += 2;
                        break;
                }
                default: return -1;
                }
        }
        return (ssize_t)o;
}

/* One line, without its '\n' (modified in place): 1 taken, 0 bad, -errno. */
static int load_line(struct learned *l, uint8_t *line, size_t len)
{
        uint8_t *tab = memchr(line, '\t', len);
        char pool[LEARNED_POOL_MAX];
        size_t plen;
        ssize_t idl;
        int ret;

        if (!tab)
                return 0;
        plen = (size_t)(tab - line);
        if (!plen || plen >= LEARNED_POOL_MAX)
                return 0;
        memcpy(pool, line, plen);
        pool[plen] = 0;
        if (!pool_ok(pool, plen))
                return 0;
        idl = unescape(tab + 1, tab + 1, len - plen - 1);
        if (idl <= 0 || (size_t)idl > ID_MAX)
                return 0;
        ret = learned__set(l, tab + 1, (size_t)idl, pool);
        /* a full table is no fault of the line; later lines may still
         * change bindings already there */
        return ret == -ENOMEM ? ret : 1;
}

int learned__load(struct learned *l, const char *path, size_t *bad)
{
        uint8_t *chunk = NULL, *line = NULL;
        size_t ll = 0, nbad = 0;
        bool overlong = false;
        int fd, ret = 0;

        if (bad)
                *bad = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        chunk = malloc(READ_CHUNK);
        line = malloc(LINE_MAX_LEN);
        if (!chunk || !line) {
                ret = -ENOMEM;
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, chunk, READ_CHUNK);
                const uint8_t *p = chunk, *end;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        ret = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                end = chunk + n;
                while (p < end) {
                        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
                        size_t seg = (size_t)((nl ? nl : end) - p);

                        if (overlong || seg > LINE_MAX_LEN - ll) {
                                overlong = true; /* skip to the next '\n' */
                        } else {
                                memcpy(line + ll, p, seg);
                                ll += seg;
                        }
                        if (!nl)
                                break;
                        p = nl + 1;
                        ret = overlong ? 0 : load_line(l, line, ll);
                        if (ret < 0)
                                goto out;
                        nbad += ret == 0;
                        ll = 0;
                        overlong = false;
                }
        }
        ret = 0;
        if (ll || overlong) { /* a last line without its '\n' */
                ret = overlong ? 0 : load_line(l, line, ll);
                if (ret >= 0) {
                        nbad += ret == 0;
                        ret = 0;
                }
        }
out:
        if (bad)
                *bad = nbad;
        free(chunk);
        free(line);
        close(fd);
        return ret;
}

/* The file's text, written under the read lock. */
static int snapshot(struct learned *l, char **out, size_t *out_len)
{
        size_t len = 0;
        char *buf, *o;

        pthread_rwlock_rdlock(&l->lock);
        for (size_t i = 0; i < l->nbuckets; i++)
                for (const struct entry *e = l->buckets[i]; e; e = e->next)
                        len += strlen(e->pool) + 1 + escaped_len(e->id, e->id_len) + 1;
        buf = malloc(len ? len : 1);
        if (!buf) {
                pthread_rwlock_unlock(&l->lock);
                return -ENOMEM;
        }
        o = buf;
        for (size_t i = 0; i < l->nbuckets; i++) {
                for (const struct entry *e = l->buckets[i]; e; e = e->next) {
                        size_t pl = strlen(e->pool);

                        memcpy(o, e->pool, pl);
                        o += pl;
                        *o++ = '\t';
                        o = escape(o, e->id, e->id_len);
                        *o++ = '\n';
                }
        }
        pthread_rwlock_unlock(&l->lock);
        *out = buf;
        *out_len = (size_t)(o - buf);
        return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
        while (len) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Makes the rename durable; best effort (the file is whole either way). */
static void sync_dir(const char *path)
{
        const char *slash = strrchr(path, '/');
        char *dir;
        int fd;

        if (!slash) {
                dir = strdup(".");
        } else {
                size_t n = slash == path ? 1 : (size_t)(slash - path);

                dir = strndup(path, n);
        }
        if (!dir)
                return;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(dir);
        if (fd >= 0) {
                fsync(fd);
                close(fd);
        }
}

int learned__save(struct learned *l, const char *path)
{
        static const char suffix[] = ".XXXXXX";
        size_t plen = strlen(path), len;
        char *text, *tmp;
        int fd, ret;

        ret = snapshot(l, &text, &len);
        if (ret < 0)
                return ret;
        tmp = malloc(plen + sizeof(suffix));
        if (!tmp) {
                free(text);
                return -ENOMEM;
        }
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, suffix, sizeof(suffix));
        /* in path's directory, so that rename() cannot cross file systems;
         * mode 0600: client ids are the clients' business */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                ret = -errno;
                goto out;
        }
        ret = write_all(fd, text, len);
        if (!ret && fsync(fd) < 0)
                ret = -errno;
        if (close(fd) < 0 && !ret)
                ret = -errno;
        if (!ret && rename(tmp, path) < 0)
                ret = -errno;
        if (ret)
                unlink(tmp);
        else
                sync_dir(path);
out:
        free(tmp);
        free(text);
        return ret;
}
