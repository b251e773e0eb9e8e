/*
 * The TLS ClientHello reader (tls/clienthello.h).
 *
 * Every input is fed whole, against a guard page, byte by byte, split in
 * two at every offset (a sample of offsets beyond 20,000 bytes) and in three
 * pieces at a sample of offset pairs, each piece in its own exactly-sized
 * heap buffer; the outcome (status, error, stream offset, results) and the
 * whole reader's state must be the same every way, and the same as what a
 * plain recursive-descent reader written here (ref_*) makes of the whole
 * input. The inputs: the real clients' hellos of tests/fixtures/tls
 * (capture.sh), hellos built here (no extensions, SNI only, ALPN lists, a
 * hello over three records, 16 KiB and 60 KiB hellos), a malformed hello
 * for every error, and random mutations of all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls/clienthello.h"

#ifndef TLS_FIXTURES_DIR
#define TLS_FIXTURES_DIR "tests/fixtures/tls"
#endif

static unsigned long checks;

#define CHECK(cond)                \
        do {                       \
                checks++;          \
                assert_true(cond); \
        } while (0)
#define CHECK_INT(a, b)                                           \
        do {                                                      \
                checks++;                                         \
                assert_int_equal((long long)(a), (long long)(b)); \
        } while (0)

static uint32_t lcg(uint32_t *s)
{
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

/* ---- building hellos ---- */

struct bytes {
        uint8_t *b;
        size_t len, cap;
};

static void put(struct bytes *s, const void *p, size_t n)
{
        if (!n)
                return;
        if (s->len + n > s->cap) {
                size_t cap = s->cap ? s->cap : 1024;

                while (cap < s->len + n)
                        cap *= 2;
                s->b = realloc(s->b, cap);
                assert_non_null(s->b);
                s->cap = cap;
        }
        memcpy(s->b + s->len, p, n);
        s->len += n;
}

static void put_u8(struct bytes *s, uint8_t v)
{
        put(s, &v, 1);
}

static void put_u16(struct bytes *s, uint16_t v)
{
        put_u8(s, (uint8_t)(v >> 8));
        put_u8(s, (uint8_t)v);
}

static void put_u24(struct bytes *s, uint32_t v)
{
        put_u8(s, (uint8_t)(v >> 16));
        put_u16(s, (uint16_t)v);
}

static void put_fill(struct bytes *s, size_t n, uint8_t seed)
{
        for (size_t i = 0; i < n; i++)
                put_u8(s, (uint8_t)(seed + i * 7));
}

static void bytes_free(struct bytes *s)
{
        free(s->b);
        *s = (struct bytes){0};
}

/* An extension: type, length, data. */
static void put_ext(struct bytes *exts, uint16_t type, const void *data, size_t n)
{
        put_u16(exts, type);
        put_u16(exts, (uint16_t)n);
        put(exts, data, n);
}

/* server_name with one host_name. */
static void put_sni(struct bytes *exts, const char *name)
{
        struct bytes d = {0};
        size_t n = strlen(name);

        put_u16(&d, (uint16_t)(n + 3));
        put_u8(&d, 0);
        put_u16(&d, (uint16_t)n);
        put(&d, name, n);
        put_ext(exts, TLS_EXT_SERVER_NAME, d.b, d.len);
        bytes_free(&d);
}

/* ALPN with the NULL-terminated list of names. */
static void put_alpn(struct bytes *exts, const char *const *names)
{
        struct bytes l = {0}, d = {0};

        for (; *names; names++) {
                put_u8(&l, (uint8_t)strlen(*names));
                put(&l, *names, strlen(*names));
        }
        put_u16(&d, (uint16_t)l.len);
        put(&d, l.b, l.len);
        put_ext(exts, TLS_EXT_ALPN, d.b, d.len);
        bytes_free(&l);
        bytes_free(&d);
}

/* Everything about a hello that a malformed case may change. */
struct spec {
        uint16_t rec_version;
        uint8_t hs_type;
        int body_delta; /* added to the declared handshake length */
        uint16_t version;
        uint32_t sid_len;
        uint32_t suites_len; /* declared and written */
        uint32_t comp_len;   /* declared and written */
        bool exts_block;     /* false: the hello ends after the compression methods */
        int exts_delta;      /* added to the declared extensions length */
        const struct bytes *exts;
        const size_t *frags; /* record body sizes, 0-terminated; the rest in 2^14 records */
};

static const struct spec SPEC = {
    .rec_version = 0x0301,
    .hs_type = TLS_HT_CLIENT_HELLO,
    .version = 0x0303,
    .sid_len = 32,
    .suites_len = 8,
    .comp_len = 1,
    .exts_block = true,
};

/* The handshake message of sp. */
static void put_handshake(struct bytes *hs, const struct spec *sp)
{
        struct bytes body = {0};

        put_u16(&body, sp->version);
        put_fill(&body, 32, 0x10); /* random */
        put_u8(&body, (uint8_t)sp->sid_len);
        put_fill(&body, sp->sid_len, 0x20);
        put_u16(&body, (uint16_t)sp->suites_len);
        for (uint32_t i = 0; i < sp->suites_len; i++)
                put_u8(&body, i % 2 ? (uint8_t)i : 0x13);
        put_u8(&body, (uint8_t)sp->comp_len);
        put_fill(&body, sp->comp_len, 0);
        if (sp->exts_block) {
                size_t n = sp->exts ? sp->exts->len : 0;

                put_u16(&body, (uint16_t)(n + sp->exts_delta));
                if (n)
                        put(&body, sp->exts->b, n);
        }
        put_u8(hs, sp->hs_type);
        put_u24(hs, (uint32_t)(body.len + sp->body_delta));
        put(hs, body.b, body.len);
        bytes_free(&body);
}

/* hs[0..n) as handshake records: sizes from frags, then up to 2^14 each. */
static void put_records(struct bytes *out, uint16_t version, const uint8_t *hs, size_t n,
                        const size_t *frags)
{
        for (size_t at = 0; at < n;) {
                size_t len = frags && *frags ? *frags++ : n - at;

                if (len > TLS_RECORD_MAX)
                        len = TLS_RECORD_MAX;
                if (len > n - at)
                        len = n - at;
                put_u8(out, TLS_CT_HANDSHAKE);
                put_u16(out, version);
                put_u16(out, (uint16_t)len);
                put(out, hs + at, len);
                at += len;
        }
}

static void build(struct bytes *out, const struct spec *sp)
{
        struct bytes hs = {0};

        put_handshake(&hs, sp);
        put_records(out, sp->rec_version, hs.b, hs.len, sp->frags);
        bytes_free(&hs);
}

/* A hello with these extensions, in one record (or as many as needed). */
static void build_exts(struct bytes *out, const struct bytes *exts)
{
        struct spec sp = SPEC;

        sp.exts = exts;
        build(out, &sp);
}

/* The handshake body length of SPEC with extensions of n bytes. */
static size_t spec_body_len(size_t n)
{
        return 2 + 32 + 1 + SPEC.sid_len + 2 + SPEC.suites_len + 1 + SPEC.comp_len + 2 + n;
}

/* A padding extension (RFC 7685) that makes SPEC's body exactly body bytes. */
static void put_padding_to(struct bytes *exts, size_t body)
{
        size_t n = body - spec_body_len(exts->len) - 4;
        uint8_t *zero = calloc(1, n ? n : 1);

        assert_non_null(zero);
        put_ext(exts, TLS_EXT_PADDING, zero, n);
        free(zero);
}

/* ---- a plain reader to compare with: recursive descent over the whole input ---- */

struct ref {
        const uint8_t *b;
        size_t n, at;
        uint32_t max_len;
        uint32_t rec_left;
        uint32_t pos; /* handshake body bytes read */
        enum tls_hello_status st;
        enum tls_hello_err err;
        struct tls_hello_info info;
};

static bool ref_fail(struct ref *r, enum tls_hello_err err)
{
        r->st = TLS_HELLO_ERROR;
        r->err = err;
        return false;
}

/* The next byte of the handshake message, reading record headers on the way. */
static bool ref_byte(struct ref *r, uint8_t *out)
{
        while (r->rec_left == 0) {
                uint8_t hdr[5];

                for (int k = 0; k < 5; k++) {
                        if (r->at == r->n)
                                return false; /* NEED_MORE */
                        hdr[k] = r->b[r->at++];
                        if (k == 0 && hdr[0] != 22)
                                return ref_fail(r, r->info.records == 0 && hdr[0] >= 0x80
                                                       ? TLS_HELLO_ERR_SSLV2
                                                       : TLS_HELLO_ERR_NOT_HANDSHAKE);
                        if (k == 2) {
                                unsigned v = hdr[1] * 256u + hdr[2];

                                if (v < 0x300 || v > 0x304)
                                        return ref_fail(r, TLS_HELLO_ERR_RECORD_VERSION);
                                if (r->info.records == 0)
                                        r->info.record_version = (uint16_t)v;
                        }
                }
                unsigned len = hdr[3] * 256u + hdr[4];

                if (len < 1 || len > 16384)
                        return ref_fail(r, TLS_HELLO_ERR_RECORD_LENGTH);
                r->rec_left = len;
                r->info.records++;
                r->info.records_len += 5 + len;
        }
        if (r->at == r->n)
                return false;
        r->rec_left--;
        r->pos++;
        *out = r->b[r->at++];
        return true;
}

static bool ref_uint(struct ref *r, int bytes, uint32_t *v)
{
        uint8_t c;

        *v = 0;
        while (bytes--) {
                if (!ref_byte(r, &c))
                        return false;
                *v = *v * 256 + c;
        }
        return true;
}

static bool ref_skip(struct ref *r, uint32_t n)
{
        uint8_t c;

        while (n--)
                if (!ref_byte(r, &c))
                        return false;
        return true;
}

/* At least n bytes before end, else err. */
static bool ref_room(struct ref *r, uint32_t end, uint32_t n, enum tls_hello_err err)
{
        return r->pos + n <= end ? true : ref_fail(r, err);
}

static bool ref_host_char(uint8_t c)
{
        static const char ok[] =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";

        return c && strchr(ok, c);
}

static bool ref_sni(struct ref *r, uint32_t end)
{
        uint32_t list, type, len;
        uint8_t c;

        if (!ref_room(r, end, 2, TLS_HELLO_ERR_BAD_SNI) || !ref_uint(r, 2, &list))
                return false;
        if (list == 0 || r->pos + list != end)
                return ref_fail(r, TLS_HELLO_ERR_BAD_SNI);
        while (r->pos < end) {
                if (!ref_room(r, end, 3, TLS_HELLO_ERR_BAD_SNI) || !ref_uint(r, 1, &type) ||
                    !ref_uint(r, 2, &len))
                        return false;
                if (r->pos + len > end)
                        return ref_fail(r, TLS_HELLO_ERR_BAD_SNI);
                if (type != 0) {
                        if (!ref_skip(r, len))
                                return false;
                        continue;
                }
                if (r->info.has_sni || len == 0 || len > 255)
                        return ref_fail(r, TLS_HELLO_ERR_BAD_SNI);
                for (uint32_t k = 0; k < len; k++) {
                        if (!ref_byte(r, &c))
                                return false;
                        if (!ref_host_char(c) ||
                            (c == '.' && (k == 0 || r->info.sni[k - 1] == '.')))
                                return ref_fail(r, TLS_HELLO_ERR_BAD_SNI);
                        r->info.sni[k] = (char)c;
                }
                r->info.sni_len = (uint8_t)len;
                r->info.has_sni = true;
        }
        return true;
}

static bool ref_alpn(struct ref *r, uint32_t end)
{
        struct tls_hello_info *in = &r->info;
        uint32_t list, len;
        uint8_t c;

        in->has_alpn = true;
        if (!ref_room(r, end, 2, TLS_HELLO_ERR_BAD_ALPN) || !ref_uint(r, 2, &list))
                return false;
        if (list < 2 || r->pos + list != end)
                return ref_fail(r, TLS_HELLO_ERR_BAD_ALPN);
        while (r->pos < end) {
                if (!ref_uint(r, 1, &len))
                        return false;
                if (len == 0 || r->pos + len > end)
                        return ref_fail(r, TLS_HELLO_ERR_BAD_ALPN);
                bool keep = !in->alpn_more && in->alpn_len + 1 + len <= sizeof(in->alpn);

                if (keep) {
                        in->alpn[in->alpn_len++] = (uint8_t)len;
                        in->alpn_count++;
                } else {
                        in->alpn_more = true;
                }
                for (uint32_t k = 0; k < len; k++) {
                        if (!ref_byte(r, &c))
                                return false;
                        if (keep)
                                in->alpn[in->alpn_len++] = c;
                }
        }
        return true;
}

static bool ref_hello(struct ref *r)
{
        struct tls_hello_info *in = &r->info;
        uint16_t types[TLS_HELLO_MAX_EXTS];
        uint32_t v, body, n;
        const enum tls_hello_err lm = TLS_HELLO_ERR_LENGTH_MISMATCH;

        if (!ref_uint(r, 1, &v))
                return false;
        if (v != 1)
                return ref_fail(r, TLS_HELLO_ERR_NOT_CLIENT_HELLO);
        if (!ref_uint(r, 3, &body))
                return false;
        if (body > r->max_len)
                return ref_fail(r, TLS_HELLO_ERR_TOO_LARGE);
        in->hello_len = body;
        r->pos = 0;
        if (!ref_room(r, body, 2, lm) || !ref_uint(r, 2, &v))
                return false;
        if (v / 256 != 3)
                return ref_fail(r, TLS_HELLO_ERR_BAD_VERSION);
        in->client_version = (uint16_t)v;
        if (!ref_room(r, body, 32, lm) || !ref_skip(r, 32))
                return false;
        if (!ref_room(r, body, 1, lm) || !ref_uint(r, 1, &n))
                return false;
        if (n > 32)
                return ref_fail(r, TLS_HELLO_ERR_BAD_SESSION_ID);
        if (!ref_room(r, body, n, lm) || !ref_skip(r, n))
                return false;
        if (!ref_room(r, body, 2, lm) || !ref_uint(r, 2, &n))
                return false;
        if (n == 0 || n % 2)
                return ref_fail(r, TLS_HELLO_ERR_BAD_CIPHER_SUITES);
        if (!ref_room(r, body, n, lm) || !ref_skip(r, n))
                return false;
        if (!ref_room(r, body, 1, lm) || !ref_uint(r, 1, &n))
                return false;
        if (n == 0)
                return ref_fail(r, TLS_HELLO_ERR_BAD_COMPRESSION);
        if (!ref_room(r, body, n, lm) || !ref_skip(r, n))
                return false;
        if (r->pos == body)
                return true;
        if (!ref_room(r, body, 2, lm) || !ref_uint(r, 2, &n))
                return false;
        if (r->pos + n != body)
                return ref_fail(r, lm);
        while (r->pos < body) {
                uint32_t type, len;

                if (!ref_room(r, body, 4, TLS_HELLO_ERR_TRUNCATED_EXTENSION) ||
                    !ref_uint(r, 2, &type))
                        return false;
                for (unsigned i = 0; i < in->extensions; i++)
                        if (types[i] == type)
                                return ref_fail(r, TLS_HELLO_ERR_DUPLICATE_EXTENSION);
                if (in->extensions == TLS_HELLO_MAX_EXTS)
                        return ref_fail(r, TLS_HELLO_ERR_TOO_MANY_EXTENSIONS);
                types[in->extensions++] = (uint16_t)type;
                if (!ref_uint(r, 2, &len))
                        return false;
                if (r->pos + len > body)
                        return ref_fail(r, TLS_HELLO_ERR_TRUNCATED_EXTENSION);
                bool ok = type == 0    ? ref_sni(r, r->pos + len)
                          : type == 16 ? ref_alpn(r, r->pos + len)
                                       : ref_skip(r, len);

                if (!ok)
                        return false;
                if (type == 0xfe0d)
                        in->ech = true;
        }
        return true;
}

static void ref_parse(struct ref *r, const uint8_t *b, size_t n, uint32_t max_len)
{
        *r = (struct ref){.b = b, .n = n, .max_len = max_len ? max_len : 16384};
        if (ref_hello(r))
                r->st = TLS_HELLO_DONE;
        else if (r->err == TLS_HELLO_OK)
                r->st = TLS_HELLO_NEED_MORE;
}

/* ---- running the reader ---- */

/* What a run came to: the status, the reader as it was left, and a line. */
struct outcome {
        enum tls_hello_status st;
        struct tls_hello h;
        char log[1400];
};

/* "DONE at 517: ...", "ERROR bad_sni at 77" or "NEED_MORE at 100". */
static void describe(char *out, size_t room, enum tls_hello_status st, enum tls_hello_err err,
                     uint64_t offset, const struct tls_hello_info *in)
{
        int n;

        if (st == TLS_HELLO_ERROR) {
                snprintf(out, room, "ERROR %s at %llu", tls_hello_err__str(err),
                         (unsigned long long)offset);
                return;
        }
        if (st == TLS_HELLO_NEED_MORE) {
                snprintf(out, room, "NEED_MORE at %llu", (unsigned long long)offset);
                return;
        }
        n = snprintf(out, room,
                     "DONE at %llu: record %04x client %04x len %u records %u/%u exts %u ech %d "
                     "sni %s alpn ",
                     (unsigned long long)offset, in->record_version, in->client_version,
                     in->hello_len, in->records, in->records_len, in->extensions, in->ech,
                     in->has_sni ? in->sni : "-");
        if (!in->has_alpn) {
                snprintf(out + n, room - (size_t)n, "-");
                return;
        }
        /* the list as on the wire, walked here (tls_hello__alpn is checked against it) */
        out[n++] = '[';
        for (size_t at = 0; at < in->alpn_len && (size_t)n < room - 8;) {
                uint8_t len = in->alpn[at++];

                if (at > 1)
                        out[n++] = ',';
                for (uint8_t k = 0; k < len && (size_t)n < room - 8; k++, at++) {
                        uint8_t c = in->alpn[at];

                        if (c >= 0x21 && c < 0x7f && c != ',' && c != '\\')
                                out[n++] = (char)c;
                        else
                                n += snprintf(out + n, room - (size_t)n, "\\x%02x", c);
                }
        }
        snprintf(out + n, room - (size_t)n, "]%s", in->alpn_more ? "+more" : "");
}

static void outcome_log(struct outcome *o)
{
        const struct tls_hello_info *in = tls_hello__info(&o->h);

        CHECK((o->st == TLS_HELLO_DONE) == (in != NULL));
        describe(o->log, sizeof(o->log), o->st, tls_hello__error(&o->h), tls_hello__offset(&o->h),
                 in);
}

/* After DONE or ERROR: more input changes nothing. */
static void check_sticky(struct tls_hello *h, enum tls_hello_status st)
{
        static const uint8_t more[] = {22, 3, 1, 0, 1, 1};
        struct tls_hello before;
        size_t used = 99;

        memcpy(&before, h, sizeof(before));
        CHECK_INT(tls_hello__feed(h, more, sizeof(more), &used), st);
        CHECK_INT(used, 0);
        CHECK_INT(tls_hello__feed(h, more, 0, &used), st);
        CHECK(memcmp(&before, h, sizeof(before)) == 0);
}

/* Fed in pieces that end at cuts[0] < cuts[1] < ... < len, each in an
 * exactly-sized heap copy, until DONE or ERROR. */
static void run_cuts(struct outcome *o, uint32_t max_len, const uint8_t *data, size_t len,
                     const size_t *cuts, size_t ncuts)
{
        size_t at = 0;

        tls_hello__init(&o->h, max_len);
        o->st = TLS_HELLO_NEED_MORE;
        for (size_t i = 0; i <= ncuts && at < len; i++) {
                size_t end = i < ncuts ? cuts[i] : len, n = end - at, used = 99;
                uint8_t *piece = malloc(n);

                assert_non_null(piece);
                memcpy(piece, data + at, n);
                o->st = tls_hello__feed(&o->h, piece, n, &used);
                free(piece);
                CHECK(used <= n);
                if (o->st == TLS_HELLO_NEED_MORE)
                        CHECK_INT(used, n);
                at += used;
                CHECK_INT(tls_hello__offset(&o->h), at);
                if (o->st != TLS_HELLO_NEED_MORE)
                        break;
        }
        if (o->st != TLS_HELLO_NEED_MORE)
                check_sticky(&o->h, o->st);
        CHECK((o->st == TLS_HELLO_ERROR) == (tls_hello__error(&o->h) != TLS_HELLO_OK));
        outcome_log(o);
}

/* Whole, with the last byte right before a PROT_NONE page (picohttpparser). */
static void run_guarded(struct outcome *o, uint32_t max_len, const uint8_t *data, size_t len)
{
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), pages = (len + pg - 1) / pg + 1, used;
        uint8_t *m = mmap(NULL, (pages + 1) * pg, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        assert_true(m != MAP_FAILED);
        assert_int_equal(mprotect(m + pages * pg, pg, PROT_NONE), 0);
        uint8_t *at = m + pages * pg - len;

        memcpy(at, data, len);
        tls_hello__init(&o->h, max_len);
        o->st = tls_hello__feed(&o->h, at, len, &used);
        outcome_log(o);
        munmap(m, (pages + 1) * pg);
}

static void same(const char *name, const char *mode, const struct outcome *want,
                 const struct outcome *got)
{
        checks++;
        if (strcmp(want->log, got->log) != 0)
                fail_msg("%s fed %s:\n  whole: %s\n  here:  %s", name, mode, want->log, got->log);
        checks++;
        if (memcmp(&want->h, &got->h, sizeof(want->h)) != 0)
                fail_msg("%s fed %s: same outcome (%s), different reader state", name, mode,
                         want->log);
}

/* The reference reader agrees with the outcome of a whole run. */
static void same_as_ref(const char *name, const uint8_t *data, size_t len, uint32_t max_len,
                        const struct outcome *o)
{
        struct ref r;
        char log[sizeof(o->log)];

        ref_parse(&r, data, len, max_len);
        describe(log, sizeof(log), r.st, r.err, r.at, &r.info);
        checks++;
        if (strcmp(log, o->log) != 0)
                fail_msg("%s: reader and reference differ:\n  reader:    %s\n  reference: %s", name,
                         o->log, log);
        if (r.st == TLS_HELLO_DONE) {
                checks++;
                if (memcmp(&r.info, tls_hello__info(&o->h), sizeof(r.info)) != 0)
                        fail_msg("%s: reader and reference fill info differently (%s)", name, log);
        }
}

/* The ALPN accessor walks the list as describe() did. */
static void check_alpn_accessor(const struct tls_hello *h)
{
        const struct tls_hello_info *in = tls_hello__info(h);
        const uint8_t *name;
        size_t len, at = 0;

        if (!in)
                return;
        for (unsigned i = 0; i < in->alpn_count; i++) {
                CHECK(tls_hello__alpn(h, i, &name, &len));
                CHECK_INT(len, in->alpn[at]);
                CHECK(name == in->alpn + at + 1);
                CHECK(len >= 1);
                at += 1 + len;
        }
        CHECK_INT(at, in->alpn_len);
        CHECK(!tls_hello__alpn(h, in->alpn_count, &name, &len));
}

#define SPLIT_ALL_MAX 20000 /* split at every offset up to this length */

/* Every way of feeding data must come to the same outcome as the whole run,
 * returned in *whole. */
static void all_ways(const char *name, const uint8_t *data, size_t len, uint32_t max_len,
                     struct outcome *whole)
{
        struct outcome *o = malloc(sizeof(*o));
        size_t *cuts = malloc((len + 1) * sizeof(*cuts));
        char mode[64];

        assert_non_null(o);
        assert_non_null(cuts);
        run_cuts(whole, max_len, data, len, NULL, 0);
        same_as_ref(name, data, len, max_len, whole);
        check_alpn_accessor(&whole->h);
        run_guarded(o, max_len, data, len);
        same(name, "against a guard page", whole, o);
        for (size_t i = 1; i < len; i++)
                cuts[i - 1] = i;
        run_cuts(o, max_len, data, len, cuts, len ? len - 1 : 0);
        same(name, "byte by byte", whole, o);
        size_t step = len <= SPLIT_ALL_MAX ? 1 : 97;

        for (size_t i = 1; i < len; i += step) {
                snprintf(mode, sizeof(mode), "split at %zu", i);
                run_cuts(o, max_len, data, len, &i, 1);
                same(name, mode, whole, o);
        }
        uint32_t seed = (uint32_t)len * 2654435761u;

        for (int k = 0; len >= 3 && k < 200; k++) {
                size_t c[2];

                c[0] = 1 + lcg(&seed) % (len - 2);
                c[1] = c[0] + 1 + lcg(&seed) % (len - 1 - c[0]);
                snprintf(mode, sizeof(mode), "split at %zu and %zu", c[0], c[1]);
                run_cuts(o, max_len, data, len, c, 2);
                same(name, mode, whole, o);
        }
        free(cuts);
        free(o);
}

/* all_ways, then the outcome's line must be want. */
static void expect_log(const char *name, const struct bytes *in, uint32_t max_len, const char *want)
{
        struct outcome o;

        all_ways(name, in->b, in->len, max_len, &o);
        checks++;
        if (strcmp(o.log, want) != 0)
                fail_msg("%s:\n  want: %s\n  got:  %s", name, want, o.log);
}

/* ---- the captured hellos ---- */

struct fixture {
        const char *file;
        const char *sni;  /* NULL: none */
        const char *alpn; /* as describe() writes it; "-": none */
        uint16_t records;
        uint16_t extensions;
};

static const struct fixture FIXTURES[] = {
    {"openssl_sni_alpn", "broker.example.com", "[mqtt,x-amzn-mqtt-ca]", 1, 11},
    {"openssl_no_sni", NULL, "-", 1, 9},
    {"openssl_large", "a-rather-long-broker-name-for-a-large-hello.eu-central-1.iot.example.com",
     "[mqtt,x-amzn-mqtt-ca,h2,http/1.1]", 1, 11},
    {"openssl_fragmented",
     "frag.a-rather-long-broker-name-for-a-large-hello.eu-central-1.iot.example.com",
     "[mqtt,x-amzn-mqtt-ca,h2,http/1.1]", 3, 11},
    {"openssl_tls12", "tls12.example.com", "-", 1, 7},
    {"python_ssl", "mqtt.example.org", "[mqtt,x-amzn-mqtt-ca]", 1, 12},
    {"mosquitto_pub", "broker.example.net", "[mqtt]", 1, 11},
    {"curl_h2", "broker.example.net", "[h2,http/1.1]", 1, 12},
    {"curl_tls12_http11", "broker.example.net", "[http/1.1]", 1, 7},
};
#define NFIXTURES (sizeof(FIXTURES) / sizeof(FIXTURES[0]))

static void load(const char *name, struct bytes *out)
{
        char path[512];
        uint8_t buf[4096];
        size_t n;

        snprintf(path, sizeof(path), "%s/%s.bin", TLS_FIXTURES_DIR, name);
        FILE *f = fopen(path, "rb");

        if (!f)
                fail_msg("cannot open %s", path);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                put(out, buf, n);
        fclose(f);
        assert_true(out->len > 0);
}

/* Each real hello: read whole every way, with what its client was told to send. */
static void test_fixture(void **state)
{
        const struct fixture *fx = *state;
        struct bytes in = {0};
        struct outcome o;
        char want[600];

        load(fx->file, &in);
        all_ways(fx->file, in.b, in.len, 0, &o);
        const struct tls_hello_info *info = tls_hello__info(&o.h);

        CHECK_INT(o.st, TLS_HELLO_DONE);
        CHECK_INT(tls_hello__offset(&o.h), in.len);
        CHECK_INT(info->records, fx->records);
        CHECK_INT(info->records_len, in.len); /* capture.sh saves exactly the hello's records */
        CHECK_INT(info->hello_len, in.len - 5 * fx->records - 4);
        CHECK_INT(info->record_version, 0x0301);
        CHECK_INT(info->client_version, 0x0303);
        CHECK_INT(info->extensions, fx->extensions);
        CHECK(!info->ech);
        CHECK_INT(info->has_sni, fx->sni != NULL);
        if (fx->sni) {
                CHECK_INT(info->sni_len, strlen(fx->sni));
                CHECK(strcmp(info->sni, fx->sni) == 0);
        }
        snprintf(want, sizeof(want), "alpn %s", fx->alpn);
        CHECK(strstr(o.log, want) != NULL);
        CHECK(strcmp(strstr(o.log, want), want) == 0); /* the end of the line */
        bytes_free(&in);
}

/* Bytes after the hello (TLS 1.3 middlebox-compatibility ChangeCipherSpec,
 * early data) are left to the caller, however the stream is cut. */
static void test_fixture_trailing(void **state)
{
        static const uint8_t after[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, /* ChangeCipherSpec */
                                        0x17, 0x03, 0x03, 0x00, 0x03, 'a',  'b', 'c'};
        struct outcome o;

        (void)state;
        for (size_t i = 0; i < NFIXTURES; i++) {
                struct bytes in = {0};

                load(FIXTURES[i].file, &in);
                size_t hello = in.len;

                put(&in, after, sizeof(after));
                all_ways(FIXTURES[i].file, in.b, in.len, 0, &o);
                CHECK_INT(o.st, TLS_HELLO_DONE);
                CHECK_INT(tls_hello__offset(&o.h), hello);
                /* and a second hello right behind it is not read either */
                struct bytes twice = {0};

                put(&twice, in.b, in.len);
                put(&twice, in.b, hello);
                bytes_free(&in);
                in = twice;
                all_ways(FIXTURES[i].file, in.b, in.len, 0, &o);
                CHECK_INT(tls_hello__offset(&o.h), hello);
                bytes_free(&in);
        }
}

/* Each real hello cut short anywhere: NEED_MORE with every byte consumed. */
static void test_fixture_truncated(void **state)
{
        struct outcome o;

        (void)state;
        for (size_t i = 0; i < NFIXTURES; i++) {
                struct bytes in = {0};

                load(FIXTURES[i].file, &in);
                for (size_t n = 0; n < in.len; n++) {
                        run_cuts(&o, 0, in.b, n, NULL, 0);
                        CHECK_INT(o.st, TLS_HELLO_NEED_MORE);
                        CHECK_INT(tls_hello__offset(&o.h), n);
                }
                bytes_free(&in);
        }
}

/* ---- hellos built here ---- */

static void test_no_extensions(void **state)
{
        struct bytes in = {0};
        struct spec sp = SPEC;

        (void)state;
        sp.exts_block = false;
        build(&in, &sp);
        expect_log("no extensions", &in, 0,
                   "DONE at 88: record 0301 client 0303 len 79 records 1/88 exts 0 ech 0 sni - "
                   "alpn -");
        bytes_free(&in);
        /* an empty extensions block is a block */
        build(&in, &SPEC);
        expect_log("empty extensions block", &in, 0,
                   "DONE at 90: record 0301 client 0303 len 81 records 1/90 exts 0 ech 0 sni - "
                   "alpn -");
        bytes_free(&in);
        /* the oldest hellos: SSL 3.0 record and client versions, no session id */
        sp.rec_version = 0x0300;
        sp.version = 0x0300;
        sp.sid_len = 0;
        build(&in, &sp);
        expect_log("ssl3", &in, 0,
                   "DONE at 56: record 0300 client 0300 len 47 records 1/56 exts 0 ech 0 sni - "
                   "alpn -");
        bytes_free(&in);
}

static void test_sni_only(void **state)
{
        struct bytes exts = {0}, in = {0};

        (void)state;
        put_sni(&exts, "broker.example.com");
        build_exts(&in, &exts);
        expect_log("sni only", &in, 0,
                   "DONE at 117: record 0301 client 0303 len 108 records 1/117 exts 1 ech 0 "
                   "sni broker.example.com alpn -");
        bytes_free(&in);
        bytes_free(&exts);
        /* bytes kept as sent: case and a trailing dot (routing folds them) */
        put_sni(&exts, "Broker.Example.COM.");
        build_exts(&in, &exts);
        expect_log("sni as sent", &in, 0,
                   "DONE at 118: record 0301 client 0303 len 109 records 1/118 exts 1 ech 0 "
                   "sni Broker.Example.COM. alpn -");
        bytes_free(&in);
        bytes_free(&exts);
        /* every byte a name may hold, 255 of them */
        char name[256];

        for (int i = 0; i < 255; i++)
                name[i] = "a-Z_0.9"[i % 7];
        name[255] = 0;
        name[0] = 'x'; /* not after a '.' at the start */
        put_sni(&exts, name);
        build_exts(&in, &exts);

        struct outcome o;

        all_ways("sni 255", in.b, in.len, 0, &o);
        CHECK_INT(o.st, TLS_HELLO_DONE);
        CHECK_INT(tls_hello__info(&o.h)->sni_len, 255);
        CHECK(strcmp(tls_hello__info(&o.h)->sni, name) == 0);
        bytes_free(&in);
        bytes_free(&exts);
}

static void test_alpn(void **state)
{
        static const char *const mqtt[] = {"x-amzn-mqtt-ca", "mqtt", NULL};
        static const char *const one[] = {"h2", NULL};
        struct bytes exts = {0}, in = {0};
        struct outcome o;
        const uint8_t *name;
        size_t len;

        (void)state;
        put_sni(&exts, "iot.example.net");
        put_alpn(&exts, mqtt);
        build_exts(&in, &exts);
        expect_log("alpn several", &in, 0,
                   "DONE at 140: record 0301 client 0303 len 131 records 1/140 exts 2 ech 0 "
                   "sni iot.example.net alpn [x-amzn-mqtt-ca,mqtt]");
        all_ways("alpn several", in.b, in.len, 0, &o);
        CHECK(tls_hello__alpn(&o.h, 1, &name, &len));
        CHECK_INT(len, 4);
        CHECK(memcmp(name, "mqtt", 4) == 0);
        CHECK_INT(tls_hello__info(&o.h)->alpn_count, 2);
        bytes_free(&in);
        bytes_free(&exts);
        /* ALPN alone, before SNI-less routing */
        put_alpn(&exts, one);
        build_exts(&in, &exts);
        expect_log("alpn only", &in, 0,
                   "DONE at 99: record 0301 client 0303 len 90 records 1/99 exts 1 ech 0 sni - "
                   "alpn [h2]");
        bytes_free(&in);
        bytes_free(&exts);
}

/* A list longer than TLS_HELLO_ALPN_MAX keeps the names that fit, in order. */
static void test_alpn_overflow(void **state)
{
        char names[40][16];
        const char *list[41];
        struct bytes exts = {0}, in = {0};
        struct outcome o;

        (void)state;
        for (int i = 0; i < 40; i++) {
                snprintf(names[i], sizeof(names[i]), "proto-%02d", i); /* 9 bytes on the wire */
                list[i] = names[i];
        }
        list[40] = NULL;
        put_alpn(&exts, list);
        build_exts(&in, &exts);
        all_ways("alpn overflow", in.b, in.len, 0, &o);
        const struct tls_hello_info *info = tls_hello__info(&o.h);

        CHECK_INT(o.st, TLS_HELLO_DONE);
        CHECK(info->has_alpn);
        CHECK(info->alpn_more);
        CHECK_INT(info->alpn_count, 256 / 9);
        CHECK_INT(info->alpn_len, 256 / 9 * 9);
        const uint8_t *name;
        size_t len;

        CHECK(tls_hello__alpn(&o.h, 27, &name, &len));
        CHECK(len == 8 && memcmp(name, "proto-27", 8) == 0);
        CHECK(!tls_hello__alpn(&o.h, 28, &name, &len));
        bytes_free(&in);
        bytes_free(&exts);
}

/* One handshake message over three records, cut inside its 4-byte header
 * and inside the SNI and ALPN extensions. */
static void test_three_records(void **state)
{
        static const char *const alpn[] = {"mqtt", "x-amzn-mqtt-ca", NULL};
        static const size_t frags[] = {2, 100, 0};
        struct bytes exts = {0}, in = {0};
        struct spec sp = SPEC;

        (void)state;
        put_sni(&exts, "broker.example.com");
        put_alpn(&exts, alpn);
        sp.exts = &exts;
        sp.frags = frags;
        build(&in, &sp);
        expect_log("three records", &in, 0,
                   "DONE at 153: record 0301 client 0303 len 134 records 3/153 exts 2 ech 0 "
                   "sni broker.example.com alpn [mqtt,x-amzn-mqtt-ca]");
        bytes_free(&in);
        /* and a record per byte: 138 records */
        size_t ones[200];

        for (size_t i = 0; i < 199; i++)
                ones[i] = 1;
        ones[199] = 0;
        sp.frags = ones;
        build(&in, &sp);
        expect_log("a record per byte", &in, 0,
                   "DONE at 828: record 0301 client 0303 len 134 records 138/828 exts 2 ech 0 "
                   "sni broker.example.com alpn [mqtt,x-amzn-mqtt-ca]");
        bytes_free(&in);
        bytes_free(&exts);
}

/* ECH: the outer hello's SNI is the public name, and ech says so. Other
 * names than host_name in the list are skipped (RFC 6066: 16-bit length). */
static void test_ech_and_other_name_types(void **state)
{
        static const uint8_t ech[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x42, 0x00, 0x00, 0x00, 0x00};
        static const uint8_t sni[] = {0x00, 0x17, 0x07, 0x00, 0x03, 'a', 'b', 'c', 0x00,
                                      0x00, 0x0e, 'p',  'u',  'b',  'l', 'i', 'c', '.',
                                      'e',  'x',  'a',  'm',  'p',  'l', 'e'};
        struct bytes exts = {0}, in = {0};

        (void)state;
        put_ext(&exts, TLS_EXT_SERVER_NAME, sni, sizeof(sni));
        put_ext(&exts, TLS_EXT_ECH, ech, sizeof(ech));
        build_exts(&in, &exts);
        expect_log("ech", &in, 0,
                   "DONE at 133: record 0301 client 0303 len 124 records 1/133 exts 2 ech 1 "
                   "sni public.example alpn -");
        bytes_free(&in);
        bytes_free(&exts);
}

/* A record holding the hello and more (no client sends it, but a stream
 * may): DONE at the hello's end; records_len counts the whole record. */
static void test_record_with_more(void **state)
{
        struct bytes exts = {0}, hs = {0}, in = {0};
        struct spec sp = SPEC;

        (void)state;
        put_sni(&exts, "a.example");
        sp.exts = &exts;
        put_handshake(&hs, &sp);
        put_u8(&hs, 0x0f); /* a CertificateVerify's first bytes */
        put_u8(&hs, 0x00);
        put_records(&in, 0x0303, hs.b, hs.len, NULL);
        expect_log("record with more", &in, 0,
                   "DONE at 108: record 0303 client 0303 len 99 records 1/110 exts 1 ech 0 "
                   "sni a.example alpn -");
        bytes_free(&in);
        bytes_free(&hs);
        bytes_free(&exts);
}

/* Versions let through: record 0x0304, client 0x0304 and 0x03ff. */
static void test_versions(void **state)
{
        struct bytes in = {0};
        struct spec sp = SPEC;
        struct outcome o;

        (void)state;
        sp.rec_version = 0x0304;
        sp.version = 0x0304;
        build(&in, &sp);
        all_ways("version 0304", in.b, in.len, 0, &o);
        CHECK_INT(tls_hello__info(&o.h)->record_version, 0x0304);
        CHECK_INT(tls_hello__info(&o.h)->client_version, 0x0304);
        bytes_free(&in);
        sp.version = 0x03ff;
        build(&in, &sp);
        all_ways("version 03ff", in.b, in.len, 0, &o);
        CHECK_INT(tls_hello__info(&o.h)->client_version, 0x03ff);
        bytes_free(&in);
}

/* A 16 KiB body (post-quantum key shares, padding) over two records passes
 * the default limit; one byte more is too large. */
static void test_16k(void **state)
{
        static const char *const alpn[] = {"mqtt", NULL};
        struct bytes exts = {0}, in = {0};
        struct outcome o;

        (void)state;
        put_sni(&exts, "big.example.com");
        put_alpn(&exts, alpn);
        put_padding_to(&exts, 16384);
        build_exts(&in, &exts);
        expect_log("16 KiB", &in, 0,
                   "DONE at 16398: record 0301 client 0303 len 16384 records 2/16398 exts 3 ech 0 "
                   "sni big.example.com alpn [mqtt]");
        bytes_free(&in);
        bytes_free(&exts);

        put_sni(&exts, "big.example.com");
        put_padding_to(&exts, 16385);
        build_exts(&in, &exts);
        expect_log("16 KiB + 1", &in, 0, "ERROR too_large at 9");
        /* a larger limit lets it through */
        all_ways("16 KiB + 1, max 65536", in.b, in.len, 65536, &o);
        CHECK_INT(o.st, TLS_HELLO_DONE);
        CHECK_INT(tls_hello__info(&o.h)->hello_len, 16385);
        bytes_free(&in);
        bytes_free(&exts);

        /* 60 KiB over four records, with the limit at 65536 */
        put_sni(&exts, "huge.example.com");
        put_padding_to(&exts, 60000);
        build_exts(&in, &exts);
        expect_log("60000", &in, 65536,
                   "DONE at 60024: record 0301 client 0303 len 60000 records 4/60024 exts 2 ech 0 "
                   "sni huge.example.com alpn -");
        expect_log("60000, default max", &in, 0, "ERROR too_large at 9");
        bytes_free(&in);
        bytes_free(&exts);

        /* a small limit refuses a real hello */
        load("openssl_large", &in);
        expect_log("openssl_large, max 1024", &in, 1024, "ERROR too_large at 9");
        bytes_free(&in);
}

/* TLS_HELLO_MAX_EXTS distinct types pass; one more is refused. */
static void test_many_extensions(void **state)
{
        struct bytes exts = {0}, in = {0};
        struct outcome o;

        (void)state;
        for (uint16_t t = 0; t < TLS_HELLO_MAX_EXTS; t++)
                put_ext(&exts, (uint16_t)(0x1000 + t * 0x101), "x", t % 3);
        build_exts(&in, &exts);
        all_ways("64 extensions", in.b, in.len, 0, &o);
        CHECK_INT(o.st, TLS_HELLO_DONE);
        CHECK_INT(tls_hello__info(&o.h)->extensions, TLS_HELLO_MAX_EXTS);
        bytes_free(&in);
        put_ext(&exts, 0x7777, NULL, 0);
        build_exts(&in, &exts);
        all_ways("65 extensions", in.b, in.len, 0, &o);
        CHECK_INT(o.st, TLS_HELLO_ERROR);
        CHECK_INT(tls_hello__error(&o.h), TLS_HELLO_ERR_TOO_MANY_EXTENSIONS);
        CHECK_INT(tls_hello__offset(&o.h), in.len - 2); /* at its type */
        bytes_free(&in);
        bytes_free(&exts);
}

/* ---- malformed hellos: one case per way of being wrong ---- */

struct bad {
        const char *name;
        void (*make)(struct bytes *out);
        enum tls_hello_err err;
        uint64_t at; /* the stream offset the error shows at; 0: not checked */
};

static void mk_app_data(struct bytes *out)
{
        build(out, &SPEC);
        out->b[0] = 23;
}

static void mk_alert_second_record(struct bytes *out)
{
        static const size_t frags[] = {50, 0};
        struct spec sp = SPEC;

        sp.frags = frags;
        build(out, &sp);
        out->b[55] = 21;
}

static void mk_http(struct bytes *out)
{
        put(out, "GET / HTTP/1.1\r\n", 16);
}

static void mk_mqtt(struct bytes *out)
{
        static const uint8_t connect[] = {0x10, 0x0c, 0x00, 0x04, 'M',  'Q',  'T',
                                          'T',  0x04, 0x02, 0x00, 0x3c, 0x00, 0x00};
        put(out, connect, sizeof(connect));
}

/* An SSL 2.0-compatible CLIENT-HELLO (RFC 5246 appendix E.2). */
static void mk_sslv2(struct bytes *out)
{
        static const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00,
                                     0x10, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0x0a};
        put(out, v2, sizeof(v2));
        put_fill(out, 16, 0x33);
}

static void mk_record_version_high(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.rec_version = 0x0305;
        build(out, &sp);
}

static void mk_record_version_low(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.rec_version = 0x0201;
        build(out, &sp);
}

static void mk_record_version_second(struct bytes *out)
{
        static const size_t frags[] = {40, 0};
        struct spec sp = SPEC;

        sp.frags = frags;
        build(out, &sp);
        out->b[46] = 0x04; /* 0x0401 */
}

static void mk_record_empty(struct bytes *out)
{
        put_records(out, 0x0301, NULL, 0, NULL);
        put(out, "\x16\x03\x01\x00\x00", 5);
        build(out, &SPEC);
}

static void mk_record_empty_between(struct bytes *out)
{
        static const size_t frags[] = {20, 0};
        struct spec sp = SPEC;
        struct bytes ok = {0};

        sp.frags = frags;
        build(&ok, &sp);
        put(out, ok.b, 25);
        put(out, "\x16\x03\x01\x00\x00", 5);
        put(out, ok.b + 25, ok.len - 25);
        bytes_free(&ok);
}

static void mk_record_too_long(struct bytes *out)
{
        put(out, "\x16\x03\x01\x40\x01", 5);
        put_fill(out, 50, 1);
}

static void mk_server_hello(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.hs_type = 2;
        build(out, &sp);
}

static void mk_too_large(struct bytes *out)
{
        put(out, "\x16\x03\x01\x00\x04\x01\x00\x40\x01", 9);
}

static void mk_too_large_24bit(struct bytes *out)
{
        put(out, "\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9);
}

static void mk_version_2(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.version = 0x0200;
        build(out, &sp);
}

static void mk_version_4(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.version = 0x0403;
        build(out, &sp);
}

static void mk_session_id_33(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.sid_len = 33;
        build(out, &sp);
}

static void mk_suites_odd(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.suites_len = 7;
        build(out, &sp);
}

static void mk_suites_empty(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.suites_len = 0;
        build(out, &sp);
}

static void mk_compression_empty(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.comp_len = 0;
        build(out, &sp);
}

static void mk_body_empty(struct bytes *out)
{
        put(out, "\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9);
}

/* The handshake length ends inside the session id. */
static void mk_body_short(struct bytes *out)
{
        struct spec sp = SPEC;

        sp.exts_block = false;
        sp.body_delta = -(int)(SPEC.suites_len + 2 + 2 + 20);
        build(out, &sp);
}

/* One byte after the compression methods: no room for the extensions length. */
static void mk_one_trailing_byte(struct bytes *out)
{
        struct bytes hs = {0};
        struct spec sp = SPEC;

        sp.exts_block = false;
        sp.body_delta = 1;
        put_handshake(&hs, &sp);
        put_u8(&hs, 0);
        put_records(out, 0x0301, hs.b, hs.len, NULL);
        bytes_free(&hs);
}

static void mk_exts_len_long(struct bytes *out)
{
        struct bytes exts = {0};
        struct spec sp = SPEC;

        put_sni(&exts, "a.example");
        sp.exts = &exts;
        sp.exts_delta = 1;
        build(out, &sp);
        bytes_free(&exts);
}

static void mk_exts_len_short(struct bytes *out)
{
        struct bytes exts = {0};
        struct spec sp = SPEC;

        put_sni(&exts, "a.example");
        sp.exts = &exts;
        sp.exts_delta = -1;
        build(out, &sp);
        bytes_free(&exts);
}

static void mk_ext_past_block(struct bytes *out)
{
        struct bytes exts = {0};

        put_ext(&exts, 0x002b, "\x02\x03\x04", 3);
        exts.b[3] = 4; /* one byte more than there is */
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_ext_header_cut(struct bytes *out)
{
        struct bytes exts = {0};

        put_ext(&exts, 0x002b, "\x02\x03\x04", 3);
        put(&exts, "\x00\x0a\x00", 3); /* 3 bytes: no room for type and length */
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_duplicate_sni(struct bytes *out)
{
        struct bytes exts = {0};

        put_sni(&exts, "a.example");
        put_sni(&exts, "a.example");
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_duplicate_unknown(struct bytes *out)
{
        struct bytes exts = {0};

        put_ext(&exts, 0x4a4a, NULL, 0); /* GREASE */
        put_ext(&exts, 0x0017, NULL, 0);
        put_ext(&exts, 0x4a4a, "\x00", 1);
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_too_many_exts(struct bytes *out)
{
        struct bytes exts = {0};

        for (uint16_t t = 0; t <= TLS_HELLO_MAX_EXTS; t++)
                put_ext(&exts, (uint16_t)(100 + t), NULL, 0);
        build_exts(out, &exts);
        bytes_free(&exts);
}

/* server_name data as given. */
static void mk_sni_raw(struct bytes *out, const void *data, size_t n)
{
        struct bytes exts = {0};

        put_ext(&exts, TLS_EXT_SERVER_NAME, data, n);
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_sni_name(struct bytes *out, const char *name, size_t n)
{
        struct bytes d = {0};

        put_u16(&d, (uint16_t)(n + 3));
        put_u8(&d, 0);
        put_u16(&d, (uint16_t)n);
        put(&d, name, n);
        mk_sni_raw(out, d.b, d.len);
        bytes_free(&d);
}

static void mk_sni_ext_empty(struct bytes *out)
{
        mk_sni_raw(out, NULL, 0);
}

static void mk_sni_ext_one_byte(struct bytes *out)
{
        mk_sni_raw(out, "\x00", 1);
}

static void mk_sni_list_empty(struct bytes *out)
{
        mk_sni_raw(out, "\x00\x00", 2);
}

static void mk_sni_list_long(struct bytes *out)
{
        mk_sni_raw(out,
                   "\x00\x07\x00\x00\x03"
                   "abc",
                   8);
}

static void mk_sni_list_short(struct bytes *out)
{
        mk_sni_raw(out,
                   "\x00\x05\x00\x00\x03"
                   "abc",
                   8);
}

static void mk_sni_entry_cut(struct bytes *out)
{
        mk_sni_raw(out,
                   "\x00\x08\x00\x00\x03"
                   "abc\x00\x00",
                   10);
}

static void mk_sni_name_long(struct bytes *out)
{
        mk_sni_raw(out,
                   "\x00\x06\x00\x00\x04"
                   "abc",
                   8);
}

static void mk_sni_name_empty(struct bytes *out)
{
        mk_sni_name(out, "", 0);
}

static void mk_sni_256(struct bytes *out)
{
        char name[256];

        memset(name, 'a', sizeof(name));
        mk_sni_name(out, name, sizeof(name));
}

static void mk_sni_two_hosts(struct bytes *out)
{
        mk_sni_raw(out,
                   "\x00\x0a\x00\x00\x02"
                   "ab"
                   "\x00\x00\x02"
                   "cd",
                   12);
}

static void mk_sni_space(struct bytes *out)
{
        mk_sni_name(out, "a b.example", 11);
}

static void mk_sni_slash(struct bytes *out)
{
        mk_sni_name(out, "a.example/x", 11);
}

static void mk_sni_nul(struct bytes *out)
{
        mk_sni_name(out, "a.exam\0ple", 10);
}

static void mk_sni_utf8(struct bytes *out)
{
        mk_sni_name(out, "caf\xc3\xa9.example", 13);
}

static void mk_sni_ipv6(struct bytes *out)
{
        mk_sni_name(out, "::1", 3);
}

static void mk_sni_leading_dot(struct bytes *out)
{
        mk_sni_name(out, ".example", 8);
}

static void mk_sni_empty_label(struct bytes *out)
{
        mk_sni_name(out, "a..example", 10);
}

static void mk_sni_dot(struct bytes *out)
{
        mk_sni_name(out, ".", 1);
}

static void mk_sni_two_dots(struct bytes *out)
{
        mk_sni_name(out, "a.example..", 11);
}

static void mk_alpn_raw(struct bytes *out, const void *data, size_t n)
{
        struct bytes exts = {0};

        put_sni(&exts, "a.example");
        put_ext(&exts, TLS_EXT_ALPN, data, n);
        build_exts(out, &exts);
        bytes_free(&exts);
}

static void mk_alpn_ext_empty(struct bytes *out)
{
        mk_alpn_raw(out, NULL, 0);
}

static void mk_alpn_list_empty(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x00", 2);
}

static void mk_alpn_list_one(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x01\x00", 3);
}

static void mk_alpn_list_long(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x06\x04mqtt", 7);
}

static void mk_alpn_list_short(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x04\x04mqtt", 7);
}

static void mk_alpn_name_empty(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x06\x04mqtt\x00", 8);
}

static void mk_alpn_name_past_list(struct bytes *out)
{
        mk_alpn_raw(out, "\x00\x05\x05mqtt", 7);
}

#define BAD(fn, e, off)                         \
        {                                       \
#fn, fn, TLS_HELLO_ERR_##e, off \
        }

static const struct bad BADS[] = {
    BAD(mk_app_data, NOT_HANDSHAKE, 1),
    BAD(mk_alert_second_record, NOT_HANDSHAKE, 56),
    BAD(mk_http, NOT_HANDSHAKE, 1),
    BAD(mk_mqtt, NOT_HANDSHAKE, 1),
    BAD(mk_sslv2, SSLV2, 1),
    BAD(mk_record_version_high, RECORD_VERSION, 3),
    BAD(mk_record_version_low, RECORD_VERSION, 3),
    BAD(mk_record_version_second, RECORD_VERSION, 48),
    BAD(mk_record_empty, RECORD_LENGTH, 5),
    BAD(mk_record_empty_between, RECORD_LENGTH, 30),
    BAD(mk_record_too_long, RECORD_LENGTH, 5),
    BAD(mk_server_hello, NOT_CLIENT_HELLO, 6),
    BAD(mk_too_large, TOO_LARGE, 9),
    BAD(mk_too_large_24bit, TOO_LARGE, 9),
    BAD(mk_version_2, BAD_VERSION, 11),
    BAD(mk_version_4, BAD_VERSION, 11),
    BAD(mk_session_id_33, BAD_SESSION_ID, 44),
    BAD(mk_suites_odd, BAD_CIPHER_SUITES, 78),
    BAD(mk_suites_empty, BAD_CIPHER_SUITES, 78),
    BAD(mk_compression_empty, BAD_COMPRESSION, 87),
    BAD(mk_body_empty, LENGTH_MISMATCH, 9),
    BAD(mk_body_short, LENGTH_MISMATCH, 44),
    BAD(mk_one_trailing_byte, LENGTH_MISMATCH, 88),
    BAD(mk_exts_len_long, LENGTH_MISMATCH, 90),
    BAD(mk_exts_len_short, LENGTH_MISMATCH, 90),
    BAD(mk_ext_past_block, TRUNCATED_EXTENSION, 94),
    BAD(mk_ext_header_cut, TRUNCATED_EXTENSION, 97),
    BAD(mk_duplicate_sni, DUPLICATE_EXTENSION, 110),
    BAD(mk_duplicate_unknown, DUPLICATE_EXTENSION, 100),
    BAD(mk_too_many_exts, TOO_MANY_EXTENSIONS, 348),
    BAD(mk_sni_ext_empty, BAD_SNI, 94),
    BAD(mk_sni_ext_one_byte, BAD_SNI, 94),
    BAD(mk_sni_list_empty, BAD_SNI, 96),
    BAD(mk_sni_list_long, BAD_SNI, 96),
    BAD(mk_sni_list_short, BAD_SNI, 96),
    BAD(mk_sni_entry_cut, BAD_SNI, 102),
    BAD(mk_sni_name_long, BAD_SNI, 99),
    BAD(mk_sni_name_empty, BAD_SNI, 99),
    BAD(mk_sni_256, BAD_SNI, 99),
    BAD(mk_sni_two_hosts, BAD_SNI, 104),
    BAD(mk_sni_space, BAD_SNI, 101),
    BAD(mk_sni_slash, BAD_SNI, 109),
    BAD(mk_sni_nul, BAD_SNI, 106),
    BAD(mk_sni_utf8, BAD_SNI, 103),
    BAD(mk_sni_ipv6, BAD_SNI, 100),
    BAD(mk_sni_leading_dot, BAD_SNI, 100),
    BAD(mk_sni_empty_label, BAD_SNI, 102),
    BAD(mk_sni_dot, BAD_SNI, 100),
    BAD(mk_sni_two_dots, BAD_SNI, 110),
    BAD(mk_alpn_ext_empty, BAD_ALPN, 112),
    BAD(mk_alpn_list_empty, BAD_ALPN, 114),
    BAD(mk_alpn_list_one, BAD_ALPN, 114),
    BAD(mk_alpn_list_long, BAD_ALPN, 114),
    BAD(mk_alpn_list_short, BAD_ALPN, 114),
    BAD(mk_alpn_name_empty, BAD_ALPN, 120),
    BAD(mk_alpn_name_past_list, BAD_ALPN, 115),
};
#define NBADS (sizeof(BADS) / sizeof(BADS[0]))

static void test_bad(void **state)
{
        const struct bad *b = *state;
        struct bytes in = {0};
        struct outcome o;

        b->make(&in);
        all_ways(b->name, in.b, in.len, 0, &o);
        CHECK_INT(o.st, TLS_HELLO_ERROR);
        if (tls_hello__error(&o.h) != b->err)
                fail_msg("%s: %s, want %s", b->name, o.log, tls_hello_err__str(b->err));
        if (b->at)
                CHECK_INT(tls_hello__offset(&o.h), b->at);
        CHECK(tls_hello__info(&o.h) == NULL);
        bytes_free(&in);
}

/* Every error has a case, and a distinct name. */
static void test_every_error(void **state)
{
        bool seen[TLS_HELLO_ERR__COUNT] = {false};

        (void)state;
        for (size_t i = 0; i < NBADS; i++)
                seen[BADS[i].err] = true;
        for (int e = 1; e < TLS_HELLO_ERR__COUNT; e++) {
                const char *s = tls_hello_err__str((enum tls_hello_err)e);

                if (!seen[e])
                        fail_msg("no malformed case for %s", s);
                CHECK(strcmp(s, "unknown") != 0);
                for (int f = 0; f < e; f++)
                        CHECK(strcmp(s, tls_hello_err__str((enum tls_hello_err)f)) != 0);
        }
        CHECK(strcmp(tls_hello_err__str(TLS_HELLO_OK), "ok") == 0);
        CHECK(strcmp(tls_hello_err__str(TLS_HELLO_ERR__COUNT), "unknown") == 0);
}

/* The API's edges: empty feeds, nothing before DONE, init resets. */
static void test_api(void **state)
{
        struct tls_hello h;
        struct bytes in = {0};
        const uint8_t *name;
        size_t used = 99, len;

        (void)state;
        tls_hello__init(&h, 0);
        CHECK_INT(tls_hello__feed(&h, NULL, 0, &used), TLS_HELLO_NEED_MORE);
        CHECK_INT(used, 0);
        CHECK(tls_hello__info(&h) == NULL);
        CHECK(!tls_hello__alpn(&h, 0, &name, &len));
        CHECK_INT(tls_hello__error(&h), TLS_HELLO_OK);
        load("python_ssl", &in);
        CHECK_INT(tls_hello__feed(&h, in.b, in.len - 1, &used), TLS_HELLO_NEED_MORE);
        CHECK(tls_hello__info(&h) == NULL);
        CHECK(!tls_hello__alpn(&h, 0, &name, &len));
        CHECK_INT(tls_hello__feed(&h, in.b + in.len - 1, 1, &used), TLS_HELLO_DONE);
        CHECK_INT(used, 1);
        CHECK(tls_hello__alpn(&h, 0, &name, &len));
        CHECK(len == 4 && memcmp(name, "mqtt", 4) == 0);
        /* an error, then init: a fresh reader */
        CHECK_INT(tls_hello__feed(&h, (const uint8_t *)"x", 1, &used), TLS_HELLO_DONE);
        tls_hello__init(&h, 0);
        CHECK_INT(tls_hello__feed(&h, (const uint8_t *)"GET", 3, &used), TLS_HELLO_ERROR);
        CHECK_INT(used, 1);
        tls_hello__init(&h, 0);
        CHECK_INT(tls_hello__error(&h), TLS_HELLO_OK);
        CHECK_INT(tls_hello__feed(&h, in.b, in.len, &used), TLS_HELLO_DONE);
        CHECK_INT(used, in.len);
        bytes_free(&in);
}

/* ---- random mutations, against the reference ---- */

static void mutate(struct bytes *m, const struct bytes *in, uint32_t *seed)
{
        m->len = 0;
        put(m, in->b, in->len);
        for (uint32_t k = 1 + lcg(seed) % 4; k; k--) {
                size_t at = lcg(seed) % m->len;

                switch (lcg(seed) % 6) {
                case 0: m->b[at] = (uint8_t)lcg(seed); break;
                case 1: m->b[at]++; break;
                case 2: m->b[at]--; break;
                case 3: m->b[at] ^= (uint8_t)(1u << lcg(seed) % 8); break;
                case 4: m->len = at + 1; break; /* cut short */
                default:                        /* a byte out */
                        memmove(m->b + at, m->b + at + 1, m->len - at - 1);
                        m->len--;
                        break;
                }
                if (!m->len)
                        put_u8(m, 22);
        }
}

/* Mutated fixtures and built hellos: the reader and the reference agree,
 * whole and cut at a random offset; many different errors come up. */
static void test_mutations(void **state)
{
        static const char *const alpn[] = {"x-amzn-mqtt-ca", "mqtt", NULL};
        static const size_t frags[] = {3, 40, 7, 0};
        struct bytes seeds[NFIXTURES + 2] = {{0}}, exts = {0}, m = {0};
        unsigned by_err[TLS_HELLO_ERR__COUNT] = {0}, done = 0, more = 0, kinds = 0;
        struct outcome *o = malloc(2 * sizeof(*o));
        struct spec sp = SPEC;
        uint32_t seed = 12345;

        (void)state;
        assert_non_null(o);
        for (size_t i = 0; i < NFIXTURES; i++)
                load(FIXTURES[i].file, &seeds[i]);
        put_sni(&exts, "broker.example.com");
        put_alpn(&exts, alpn);
        sp.exts = &exts;
        build(&seeds[NFIXTURES], &sp);
        sp.frags = frags;
        build(&seeds[NFIXTURES + 1], &sp);
        for (int round = 0; round < 40000; round++) {
                const struct bytes *in = &seeds[round % (NFIXTURES + 2)];
                uint32_t max_len = round % 5 == 0 ? 600 : 0;
                char name[64];

                mutate(&m, in, &seed);
                snprintf(name, sizeof(name), "mutation %d", round);
                run_cuts(&o[0], max_len, m.b, m.len, NULL, 0);
                same_as_ref(name, m.b, m.len, max_len, &o[0]);
                size_t cut = 1 + lcg(&seed) % m.len;

                if (cut < m.len) {
                        run_cuts(&o[1], max_len, m.b, m.len, &cut, 1);
                        same(name, "split at random", &o[0], &o[1]);
                }
                if (o[0].st == TLS_HELLO_ERROR)
                        by_err[tls_hello__error(&o[0].h)]++;
                done += o[0].st == TLS_HELLO_DONE;
                more += o[0].st == TLS_HELLO_NEED_MORE;
        }
        print_message("mutations: %u done, %u need more,", done, more);
        for (int e = 1; e < TLS_HELLO_ERR__COUNT; e++) {
                kinds += by_err[e] > 0;
                if (by_err[e])
                        print_message(" %s %u", tls_hello_err__str((enum tls_hello_err)e),
                                      by_err[e]);
        }
        print_message("\n");
        CHECK(done > 1000);
        CHECK(more > 1000);
        CHECK(kinds >= 12);
        for (size_t i = 0; i < NFIXTURES + 2; i++)
                bytes_free(&seeds[i]);
        bytes_free(&exts);
        bytes_free(&m);
        free(o);
}

int main(void)
{
        struct CMUnitTest tests[NFIXTURES + NBADS + 32];
        size_t n = 0;

        for (size_t i = 0; i < NFIXTURES; i++)
                tests[n++] = (struct CMUnitTest){.name = FIXTURES[i].file,
                                                 .test_func = test_fixture,
                                                 .initial_state = (void *)&FIXTURES[i]};
        for (size_t i = 0; i < NBADS; i++)
                tests[n++] = (struct CMUnitTest){
                    .name = BADS[i].name, .test_func = test_bad, .initial_state = (void *)&BADS[i]};
#define T(f) tests[n++] = (struct CMUnitTest){.name = #f, .test_func = f}
        T(test_fixture_trailing);
        T(test_fixture_truncated);
        T(test_no_extensions);
        T(test_sni_only);
        T(test_alpn);
        T(test_alpn_overflow);
        T(test_three_records);
        T(test_ech_and_other_name_types);
        T(test_record_with_more);
        T(test_versions);
        T(test_16k);
        T(test_many_extensions);
        T(test_every_error);
        T(test_api);
        T(test_mutations);
#undef T
        int failed = _cmocka_run_group_tests("tls_clienthello", tests, n, NULL, NULL);

        printf("tls_clienthello: %zu fixtures, %zu malformed cases, %lu checks\n", NFIXTURES, NBADS,
               checks);
        return failed;
}
