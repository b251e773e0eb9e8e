/*
 * The resumable ClientHello reader (see clienthello.h). Two layers: the
 * record layer reads 5-byte record headers one byte at a time and hands the
 * records' bodies to the handshake layer, a state machine whose every state
 * reads one field of the ClientHello: an integer of 1 to 3 bytes gathered in
 * hs.field, or a run of bytes up to hs.end (skipped, or copied into the
 * results for the host name and the ALPN list). Positions are counted from
 * the first byte of the handshake body; every length is checked against the
 * end of what encloses it (body, extensions block, extension, list) when it
 * is read, and every field against the room left before its first byte, so
 * an error shows at the same stream byte however the stream was cut.
 *
 * Transitions are taken as soon as a field is complete, without waiting for
 * the next byte: the call that consumes the hello's last byte reports DONE.
 *
 * Must not: allocate, keep the hello's bytes, or read outside
 * [buf, buf + len).
 */
#include "tls/clienthello.h"

#include <string.h>

enum hs_state {
        HS_TYPE = 0,       /* msg_type */
        HS_LENGTH,         /* uint24 length of the body */
        CH_VERSION,        /* legacy_version */
        CH_RANDOM,         /* run: 32 bytes */
        CH_SESSION_ID_LEN, /* uint8 */
        CH_SESSION_ID,     /* run */
        CH_SUITES_LEN,     /* uint16 */
        CH_SUITES,         /* run */
        CH_COMP_LEN,       /* uint8 */
        CH_COMP,           /* run */
        CH_EXTS_LEN,       /* uint16 */
        EXT_TYPE,          /* uint16 */
        EXT_LEN,           /* uint16 */
        EXT_SKIP,          /* run: the data of an extension not looked into */
        SNI_LIST_LEN,      /* uint16 ServerNameList length */
        SNI_TYPE,          /* uint8 NameType */
        SNI_LEN,           /* uint16 */
        SNI_NAME,          /* run: a host_name, copied */
        SNI_SKIP,          /* run: a name of another type */
        ALPN_LIST_LEN,     /* uint16 ProtocolNameList length */
        ALPN_LEN,          /* uint8 ProtocolName length */
        ALPN_NAME,         /* run: copied while it fits */
        HS_DONE,
        HS__COUNT
};

/* Bytes of each integer field; 0 for the runs. */
static const uint8_t field_size[HS__COUNT] = {
    [HS_TYPE] = 1,       [HS_LENGTH] = 3,    [CH_VERSION] = 2,  [CH_SESSION_ID_LEN] = 1,
    [CH_SUITES_LEN] = 2, [CH_COMP_LEN] = 1,  [CH_EXTS_LEN] = 2, [EXT_TYPE] = 2,
    [EXT_LEN] = 2,       [SNI_LIST_LEN] = 2, [SNI_TYPE] = 1,    [SNI_LEN] = 2,
    [ALPN_LIST_LEN] = 2, [ALPN_LEN] = 1,
};

#define SESSION_ID_MAX 32 /* legacy_session_id <0..32> */
#define RANDOM_LEN     32
#define NAME_HOST      0 /* NameType host_name, RFC 6066 §3 */

_Static_assert(TLS_HELLO_SNI_MAX <= UINT8_MAX, "info.sni_len is a uint8_t");
_Static_assert(TLS_HELLO_ALPN_MAX / 2 <= UINT8_MAX, "info.alpn_count is a uint8_t");
_Static_assert(TLS_HELLO_MAX_EXTS <= UINT16_MAX, "info.extensions is a uint16_t");

void tls_hello__init(struct tls_hello *h, uint32_t max_len)
{
        memset(h, 0, sizeof(*h));
        h->max_len = max_len ? max_len : TLS_HELLO_MAX_DEFAULT;
        h->hs.state = HS_TYPE;
}

static bool fail(struct tls_hello *h, enum tls_hello_err err)
{
        h->err = (uint8_t)err;
        return false;
}

/* need bytes must fit between the position and end, else err. */
static bool fits(struct tls_hello *h, uint32_t end, uint32_t need, enum tls_hello_err err)
{
        return end - h->hs.pos >= need ? true : fail(h, err);
}

/* Before the first byte of an integer field: is there room for it (and,
 * for a header, for what must follow it)? */
static bool field_fits(struct tls_hello *h, enum hs_state st)
{
        switch (st) {
        case CH_VERSION:
        case CH_SESSION_ID_LEN:
        case CH_SUITES_LEN:
        case CH_COMP_LEN:
        case CH_EXTS_LEN: /* one byte after the compression methods */
                return fits(h, h->info.hello_len, field_size[st], TLS_HELLO_ERR_LENGTH_MISMATCH);
        case EXT_TYPE: /* extension_type and its length */
                return fits(h, h->hs.exts, 4, TLS_HELLO_ERR_TRUNCATED_EXTENSION);
        case SNI_LIST_LEN: return fits(h, h->hs.ext, 2, TLS_HELLO_ERR_BAD_SNI);
        case SNI_TYPE: /* name_type and its length */
                return fits(h, h->hs.list, 3, TLS_HELLO_ERR_BAD_SNI);
        case ALPN_LIST_LEN: return fits(h, h->hs.ext, 2, TLS_HELLO_ERR_BAD_ALPN);
        default: /* the handshake header, or checked when its length was read */ return true;
        }
}

/* A run of n bytes starts. */
static void run(struct tls_hello *h, enum hs_state st, uint32_t n)
{
        h->hs.state = (uint8_t)st;
        h->hs.end = h->hs.pos + n;
}

/* A run of the ClientHello's own fields: it must fit the body. */
static bool hello_run(struct tls_hello *h, enum hs_state st, uint32_t n)
{
        if (!fits(h, h->info.hello_len, n, TLS_HELLO_ERR_LENGTH_MISMATCH))
                return false;
        run(h, st, n);
        return true;
}

/* After an extension (or the extensions length): the next one, or the end. */
static void next_extension(struct tls_hello *h)
{
        h->hs.state = h->hs.pos == h->hs.exts ? HS_DONE : EXT_TYPE;
}

/* RFC 8446 §4.2: "There MUST NOT be more than one extension of the same
 * type in a given extension block." */
static bool add_extension(struct tls_hello *h, uint16_t type)
{
        uint16_t n = h->info.extensions;

        for (uint16_t i = 0; i < n; i++)
                if (h->hs.ext_types[i] == type)
                        return fail(h, TLS_HELLO_ERR_DUPLICATE_EXTENSION);
        if (n == TLS_HELLO_MAX_EXTS)
                return fail(h, TLS_HELLO_ERR_TOO_MANY_EXTENSIONS);
        h->hs.ext_types[n] = type;
        h->info.extensions = n + 1;
        return true;
}

/* The extension whose length was just read starts: ext_type is the last
 * type added. */
static bool start_extension(struct tls_hello *h, uint32_t len)
{
        if (len > h->hs.exts - h->hs.pos)
                return fail(h, TLS_HELLO_ERR_TRUNCATED_EXTENSION);
        h->hs.ext = h->hs.pos + len;
        switch (h->hs.ext_types[h->info.extensions - 1]) {
        case TLS_EXT_SERVER_NAME: h->hs.state = SNI_LIST_LEN; break;
        case TLS_EXT_ALPN:
                h->info.has_alpn = true;
                h->hs.state = ALPN_LIST_LEN;
                break;
        case TLS_EXT_ECH:
                h->info.ech = true;
                run(h, EXT_SKIP, len);
                break;
        default: run(h, EXT_SKIP, len); break;
        }
        return true;
}

/* An integer field st is complete with value v: check it, and on. */
static bool on_field(struct tls_hello *h, enum hs_state st, uint32_t v)
{
        struct tls_hello_info *in = &h->info;

        switch (st) {
        case HS_TYPE:
                if (v != TLS_HT_CLIENT_HELLO)
                        return fail(h, TLS_HELLO_ERR_NOT_CLIENT_HELLO);
                h->hs.state = HS_LENGTH;
                return true;
        case HS_LENGTH:
                if (v > h->max_len)
                        return fail(h, TLS_HELLO_ERR_TOO_LARGE);
                in->hello_len = v;
                h->hs.state = CH_VERSION;
                return true;
        case CH_VERSION:
                if (v >> 8 != 3)
                        return fail(h, TLS_HELLO_ERR_BAD_VERSION);
                in->client_version = (uint16_t)v;
                return hello_run(h, CH_RANDOM, RANDOM_LEN);
        case CH_SESSION_ID_LEN:
                if (v > SESSION_ID_MAX)
                        return fail(h, TLS_HELLO_ERR_BAD_SESSION_ID);
                return hello_run(h, CH_SESSION_ID, v);
        case CH_SUITES_LEN: /* cipher_suites <2..2^16-2>, 2 bytes each */
                if (v < 2 || v % 2)
                        return fail(h, TLS_HELLO_ERR_BAD_CIPHER_SUITES);
                return hello_run(h, CH_SUITES, v);
        case CH_COMP_LEN: /* legacy_compression_methods <1..2^8-1> */
                if (v < 1)
                        return fail(h, TLS_HELLO_ERR_BAD_COMPRESSION);
                return hello_run(h, CH_COMP, v);
        case CH_EXTS_LEN:
                if (v != in->hello_len - h->hs.pos)
                        return fail(h, TLS_HELLO_ERR_LENGTH_MISMATCH);
                h->hs.exts = in->hello_len;
                next_extension(h);
                return true;
        case EXT_TYPE:
                if (!add_extension(h, (uint16_t)v))
                        return false;
                h->hs.state = EXT_LEN;
                return true;
        case EXT_LEN: return start_extension(h, v);
        case SNI_LIST_LEN: /* ServerNameList server_name_list <1..2^16-1> */
                if (v < 1 || v != h->hs.ext - h->hs.pos)
                        return fail(h, TLS_HELLO_ERR_BAD_SNI);
                h->hs.list = h->hs.ext;
                h->hs.state = SNI_TYPE;
                return true;
        case SNI_TYPE:
                h->hs.sni_type = (uint8_t)v;
                h->hs.state = SNI_LEN;
                return true;
        case SNI_LEN:
                if (v > h->hs.list - h->hs.pos)
                        return fail(h, TLS_HELLO_ERR_BAD_SNI);
                if (h->hs.sni_type != NAME_HOST) {
                        run(h, SNI_SKIP, v);
                        return true;
                }
                /* RFC 6066 §3: one name per type; HostName <1..2^16-1> */
                if (in->has_sni || v < 1 || v > TLS_HELLO_SNI_MAX)
                        return fail(h, TLS_HELLO_ERR_BAD_SNI);
                h->hs.sni_prev = '.';
                run(h, SNI_NAME, v);
                return true;
        case ALPN_LIST_LEN: /* ProtocolNameList protocol_name_list <2..2^16-1> */
                if (v < 2 || v != h->hs.ext - h->hs.pos)
                        return fail(h, TLS_HELLO_ERR_BAD_ALPN);
                h->hs.list = h->hs.ext;
                h->hs.state = ALPN_LEN;
                return true;
        case ALPN_LEN: /* ProtocolName <1..2^8-1> */
                if (v < 1 || v > h->hs.list - h->hs.pos)
                        return fail(h, TLS_HELLO_ERR_BAD_ALPN);
                /* keep a prefix of the list: once one name is left out, the
                 * rest are too */
                h->hs.alpn_keep = !in->alpn_more && in->alpn_len + 1 + v <= TLS_HELLO_ALPN_MAX;
                if (h->hs.alpn_keep) {
                        in->alpn[in->alpn_len++] = (uint8_t)v;
                        in->alpn_count++;
                } else {
                        in->alpn_more = true;
                }
                run(h, ALPN_NAME, v);
                return true;
        default: return true; /* not reached: the runs have no value */
        }
}

/* A run st reached hs.end. */
static void on_run_end(struct tls_hello *h, enum hs_state st)
{
        switch (st) {
        case CH_RANDOM: h->hs.state = CH_SESSION_ID_LEN; break;
        case CH_SESSION_ID: h->hs.state = CH_SUITES_LEN; break;
        case CH_SUITES: h->hs.state = CH_COMP_LEN; break;
        case CH_COMP: /* extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2) */
                h->hs.state = h->hs.pos == h->info.hello_len ? HS_DONE : CH_EXTS_LEN;
                break;
        case SNI_NAME:
                h->info.has_sni = true;
                /* fall through */
        case SNI_SKIP:
                if (h->hs.pos == h->hs.list)
                        next_extension(h);
                else
                        h->hs.state = SNI_TYPE;
                break;
        case ALPN_NAME:
                if (h->hs.pos == h->hs.list)
                        next_extension(h);
                else
                        h->hs.state = ALPN_LEN;
                break;
        default: /* EXT_SKIP */ next_extension(h); break;
        }
}

/* Letters, digits, '-' and '_' (seen in real names though not in host
 * names, RFC 1123); '.' is checked apart. */
static bool host_char(uint8_t c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

/* n bytes of a host_name: copied and checked. Returns how many were good;
 * fewer than n with the error set. */
static size_t take_host_name(struct tls_hello *h, const uint8_t *p, size_t n)
{
        struct tls_hello_info *in = &h->info;
        uint8_t prev = h->hs.sni_prev;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = p[i];

                /* no empty label: '.' neither first nor after '.' */
                if (c == '.' ? prev == '.' : !host_char(c)) {
                        h->hs.sni_prev = prev;
                        fail(h, TLS_HELLO_ERR_BAD_SNI);
                        return i;
                }
                in->sni[in->sni_len++] = (char)c;
                prev = c;
        }
        h->hs.sni_prev = prev;
        return n;
}

/*
 * Reads handshake bytes p[0..n) (the body of one record, or part of it).
 * Returns how many were consumed: n, or fewer when the hello ended (done)
 * or was refused (err).
 */
static size_t hs_read(struct tls_hello *h, const uint8_t *p, size_t n)
{
        size_t i = 0;

        for (;;) {
                enum hs_state st = h->hs.state;
                uint8_t size = field_size[st];

                if (st == HS_DONE) {
                        h->done = true;
                        return i;
                }
                if (size) {
                        if (h->hs.nfield == 0 && !field_fits(h, st))
                                return i;
                        while (h->hs.nfield < size) {
                                if (i == n)
                                        return i;
                                h->hs.field = h->hs.field << 8 | p[i++];
                                h->hs.nfield++;
                        }
                        uint32_t v = h->hs.field;

                        h->hs.field = 0;
                        h->hs.nfield = 0;
                        if (st != HS_TYPE && st != HS_LENGTH) /* the header is not the body */
                                h->hs.pos += size;
                        if (!on_field(h, st, v))
                                return i;
                        continue;
                }
                size_t take = h->hs.end - h->hs.pos;

                if (take > n - i)
                        take = n - i;
                if (st == SNI_NAME) {
                        size_t good = take_host_name(h, p + i, take);

                        if (good < take) {
                                h->hs.pos += (uint32_t)good + 1;
                                return i + good + 1; /* the bad byte was read */
                        }
                } else if (st == ALPN_NAME && h->hs.alpn_keep) {
                        memcpy(h->info.alpn + h->info.alpn_len, p + i, take);
                        h->info.alpn_len += (uint16_t)take;
                }
                i += take;
                h->hs.pos += (uint32_t)take;
                if (h->hs.pos < h->hs.end)
                        return i; /* i == n */
                on_run_end(h, st);
        }
}

/* One byte of a record header; the record's body follows it. */
static bool record_header_byte(struct tls_hello *h, uint8_t b)
{
        struct tls_hello_info *in = &h->info;
        uint8_t *hdr = h->rec.hdr;

        hdr[h->rec.nhdr++] = b;
        switch (h->rec.nhdr) {
        case 1: /* ContentType */
                if (b == TLS_CT_HANDSHAKE)
                        return true;
                /* SSL 2.0 headers have bit 7 set (RFC 5246 appendix E.2); no
                 * ContentType does */
                if (in->records == 0 && (b & 0x80))
                        return fail(h, TLS_HELLO_ERR_SSLV2);
                return fail(h, TLS_HELLO_ERR_NOT_HANDSHAKE);
        case 3: { /* legacy_record_version */
                uint16_t v = (uint16_t)(hdr[1] << 8 | hdr[2]);

                if (v < TLS_VERSION_SSL3 || v > TLS_VERSION_TLS13)
                        return fail(h, TLS_HELLO_ERR_RECORD_VERSION);
                if (in->records == 0)
                        in->record_version = v;
                return true;
        }
        case TLS_RECORD_HEADER: { /* length */
                uint16_t len = (uint16_t)(hdr[3] << 8 | hdr[4]);

                /* RFC 8446 §5.1: no zero-length handshake fragments */
                if (len == 0 || len > TLS_RECORD_MAX)
                        return fail(h, TLS_HELLO_ERR_RECORD_LENGTH);
                h->rec.nhdr = 0;
                h->rec.left = len;
                in->records++;
                in->records_len += TLS_RECORD_HEADER + len;
                return true;
        }
        default: return true;
        }
}

enum tls_hello_status tls_hello__feed(struct tls_hello *h, const uint8_t *buf, size_t len,
                                      size_t *used)
{
        size_t at = 0;

        *used = 0;
        if (h->err)
                return TLS_HELLO_ERROR;
        if (h->done)
                return TLS_HELLO_DONE;
        while (at < len) {
                if (h->rec.left == 0) {
                        if (!record_header_byte(h, buf[at++]))
                                break;
                        continue;
                }
                size_t n = len - at < h->rec.left ? len - at : h->rec.left;
                size_t k = hs_read(h, buf + at, n);

                at += k;
                h->rec.left -= (uint16_t)k;
                if (h->err || h->done)
                        break;
        }
        h->offset += at;
        *used = at;
        if (h->err)
                return TLS_HELLO_ERROR;
        return h->done ? TLS_HELLO_DONE : TLS_HELLO_NEED_MORE;
}

enum tls_hello_err tls_hello__error(const struct tls_hello *h)
{
        return (enum tls_hello_err)h->err;
}

const char *tls_hello_err__str(enum tls_hello_err err)
{
        static const char *const names[TLS_HELLO_ERR__COUNT] = {
            [TLS_HELLO_OK] = "ok",
            [TLS_HELLO_ERR_NOT_HANDSHAKE] = "not_handshake",
            [TLS_HELLO_ERR_SSLV2] = "sslv2",
            [TLS_HELLO_ERR_RECORD_VERSION] = "bad_record_version",
            [TLS_HELLO_ERR_RECORD_LENGTH] = "bad_record_length",
            [TLS_HELLO_ERR_NOT_CLIENT_HELLO] = "not_client_hello",
            [TLS_HELLO_ERR_TOO_LARGE] = "too_large",
            [TLS_HELLO_ERR_BAD_VERSION] = "bad_version",
            [TLS_HELLO_ERR_BAD_SESSION_ID] = "bad_session_id",
            [TLS_HELLO_ERR_BAD_CIPHER_SUITES] = "bad_cipher_suites",
            [TLS_HELLO_ERR_BAD_COMPRESSION] = "bad_compression",
            [TLS_HELLO_ERR_LENGTH_MISMATCH] = "length_mismatch",
            [TLS_HELLO_ERR_TRUNCATED_EXTENSION] = "truncated_extension",
            [TLS_HELLO_ERR_DUPLICATE_EXTENSION] = "duplicate_extension",
            [TLS_HELLO_ERR_TOO_MANY_EXTENSIONS] = "too_many_extensions",
            [TLS_HELLO_ERR_BAD_SNI] = "bad_sni",
            [TLS_HELLO_ERR_BAD_ALPN] = "bad_alpn",
        };

        if ((unsigned)err >= TLS_HELLO_ERR__COUNT || !names[err])
                return "unknown";
        return names[err];
}

uint64_t tls_hello__offset(const struct tls_hello *h)
{
        return h->offset;
}

const struct tls_hello_info *tls_hello__info(const struct tls_hello *h)
{
        return h->done ? &h->info : NULL;
}

bool tls_hello__alpn(const struct tls_hello *h, unsigned i, const uint8_t **name, size_t *len)
{
        const struct tls_hello_info *in = &h->info;
        size_t at = 0;

        if (!h->done || i >= in->alpn_count)
                return false;
        for (; i; i--)
                at += 1 + in->alpn[at];
        *name = in->alpn + at + 1;
        *len = in->alpn[at];
        return true;
}
