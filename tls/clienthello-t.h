/*
 * Types of the TLS ClientHello reader (clienthello.h): the wire constants it
 * reads by name, its outcomes and reasons for refusal, what it reports, and
 * its state. The state is public only so that a connection can embed a
 * reader without a separate allocation; every field of struct tls_hello is
 * private to tls/clienthello.c except what tls_hello__info() hands out.
 *
 * Spec references: RFC 8446 (TLS 1.3) and RFC 5246 (TLS 1.2) for the record
 * layer and the ClientHello, RFC 6066 §3 (server_name), RFC 7301 §3.1
 * (ALPN), draft-ietf-tls-esni (encrypted_client_hello).
 */
#ifndef MQTTLB_TLS_CLIENTHELLO_T_H
#define MQTTLB_TLS_CLIENTHELLO_T_H

#include <stdbool.h>
#include <stdint.h>

/* Wire values, RFC 8446 §5.1 and §4, and the IANA TLS registries. */
enum {
        TLS_CT_HANDSHAKE = 22,     /* ContentType handshake */
        TLS_HT_CLIENT_HELLO = 1,   /* HandshakeType client_hello */
        TLS_RECORD_HEADER = 5,     /* type, legacy_record_version, length */
        TLS_RECORD_MAX = 1 << 14,  /* TLSPlaintext.length, RFC 8446 §5.1 */
        TLS_VERSION_SSL3 = 0x0300, /* the oldest record version accepted */
        TLS_VERSION_TLS13 = 0x0304,
};

/* ExtensionType values the reader looks into (or counts). */
enum {
        TLS_EXT_SERVER_NAME = 0, /* RFC 6066 §3 */
        TLS_EXT_ALPN = 16,       /* RFC 7301 */
        TLS_EXT_PADDING = 21,    /* RFC 7685; skipped like any other */
        TLS_EXT_ECH = 0xfe0d,    /* encrypted_client_hello (draft-ietf-tls-esni) */
};

/* Limits; each has its home here. */
#define TLS_HELLO_MAX_DEFAULT 16384 /* handshake body bytes, when init is given 0 */
#define TLS_HELLO_SNI_MAX     255   /* host_name bytes kept (RFC 6066 HostName <1..2^16-1>) */
#define TLS_HELLO_ALPN_MAX    256   /* ProtocolNameList bytes kept, as on the wire */
#define TLS_HELLO_MAX_EXTS    64    /* distinct extension types a hello may carry */

enum tls_hello_status {
        TLS_HELLO_NEED_MORE = 0, /* every byte given was consumed; the hello is not over */
        TLS_HELLO_DONE,          /* the whole ClientHello was read */
        TLS_HELLO_ERROR,         /* not a ClientHello we accept: tls_hello__error() */
};

/*
 * Why a stream was refused. The value is stable and indexes "malformed by
 * reason" counters; keep tls_hello_err__str() in sync.
 */
enum tls_hello_err {
        TLS_HELLO_OK = 0,
        TLS_HELLO_ERR_NOT_HANDSHAKE,       /* a record's content type is not handshake (22) */
        TLS_HELLO_ERR_SSLV2,               /* the stream starts with an SSLv2 header (bit 7) */
        TLS_HELLO_ERR_RECORD_VERSION,      /* record version outside 0x0300..0x0304 */
        TLS_HELLO_ERR_RECORD_LENGTH,       /* record length 0 or over 2^14 (RFC 8446 §5.1) */
        TLS_HELLO_ERR_NOT_CLIENT_HELLO,    /* the first handshake message is not client_hello */
        TLS_HELLO_ERR_TOO_LARGE,           /* handshake length over max_len */
        TLS_HELLO_ERR_BAD_VERSION,         /* legacy_version's major byte not 3 */
        TLS_HELLO_ERR_BAD_SESSION_ID,      /* legacy_session_id longer than 32 */
        TLS_HELLO_ERR_BAD_CIPHER_SUITES,   /* cipher_suites empty or of an odd length */
        TLS_HELLO_ERR_BAD_COMPRESSION,     /* legacy_compression_methods empty */
        TLS_HELLO_ERR_LENGTH_MISMATCH,     /* a field of the hello does not fit its length */
        TLS_HELLO_ERR_TRUNCATED_EXTENSION, /* an extension runs past the extensions block */
        TLS_HELLO_ERR_DUPLICATE_EXTENSION, /* an extension type twice (RFC 8446 §4.2) */
        TLS_HELLO_ERR_TOO_MANY_EXTENSIONS, /* more than TLS_HELLO_MAX_EXTS extensions */
        TLS_HELLO_ERR_BAD_SNI,             /* server_name malformed (clienthello.h says how) */
        TLS_HELLO_ERR_BAD_ALPN,            /* application_layer_protocol_negotiation malformed */
        TLS_HELLO_ERR__COUNT
};

/* What a ClientHello said: complete only once tls_hello__feed() said DONE. */
struct tls_hello_info {
        uint16_t record_version; /* legacy_record_version of the first record */
        uint16_t client_version; /* ClientHello.legacy_version */
        uint32_t hello_len;      /* the handshake body's length (without its 4-byte header) */
        uint32_t records_len;    /* bytes of the records that held the hello, headers included */
        uint32_t records;        /* how many records held it */
        uint16_t extensions;     /* how many extensions it had */
        bool has_sni;            /* a host_name was read into sni[] */
        bool has_alpn;           /* an ALPN extension was present (alpn[] may still be
                                  * short: see alpn_more) */
        bool alpn_more;          /* protocols that did not fit alpn[] were left out */
        bool ech;                /* encrypted_client_hello present: sni is the outer,
                                  * public name, which is what we route by */
        uint8_t sni_len;         /* 1..TLS_HELLO_SNI_MAX when has_sni */
        uint8_t alpn_count;      /* protocols in alpn[] */
        uint16_t alpn_len;       /* bytes of alpn[] used */
        /* the first host_name, bytes as sent (case kept, trailing dot kept),
         * NUL-terminated */
        char sni[TLS_HELLO_SNI_MAX + 1];
        /* the protocols that fit, in the client's order, as on the wire:
         * each name after its length byte (tls_hello__alpn() walks it) */
        uint8_t alpn[TLS_HELLO_ALPN_MAX];
};

/* The reader's state: what tls_hello__init() sets up. */
struct tls_hello {
        uint32_t max_len; /* largest handshake body accepted */
        uint8_t err;      /* enum tls_hello_err, sticky */
        bool done;        /* the hello was read: DONE from now on */
        uint64_t offset;  /* stream bytes consumed */

        /* the record layer */
        struct {
                uint8_t hdr[TLS_RECORD_HEADER]; /* the header being read */
                uint8_t nhdr;                   /* bytes of hdr[] read */
                uint16_t left;                  /* bytes of the record's body still to come */
        } rec;

        /* the handshake message, positions counted from its body's first byte */
        struct {
                uint8_t state;    /* what the next handshake byte is (clienthello.c) */
                uint8_t nfield;   /* bytes of the integer field being read */
                uint32_t field;   /* its value so far */
                uint32_t pos;     /* body bytes read */
                uint32_t end;     /* where the field or run being read must end */
                uint32_t exts;    /* end of the extensions block */
                uint32_t ext;     /* end of the extension being read */
                uint32_t list;    /* end of its list (ServerNameList, ProtocolNameList) */
                uint8_t sni_type; /* NameType of the server name entry being read */
                uint8_t sni_prev; /* the name's previous byte ('.' at its start) */
                bool alpn_keep;   /* the protocol being read goes into alpn[] */
                uint16_t ext_types[TLS_HELLO_MAX_EXTS]; /* types seen, for duplicates */
        } hs;

        struct tls_hello_info info;
};

#endif
