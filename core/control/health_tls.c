/*
 * A TLS health check (health.h, health-int.h): the target's TLS state, the
 * session of each check, and the check's turns between the operations that
 * health.c's ring runs for it. OpenSSL 3 over two memory BIOs: the read BIO
 * holds the ciphertext received and not yet consumed, the write BIO what
 * the session wrote and is not sent yet. A turn runs the session as far as
 * the bytes received take it (handshake, then the CONNACK through SSL_read),
 * then asks for the next operation: the ciphertext queued sent, else a
 * RECV of more. The verdicts are health.c's (check__passed, check__failed).
 *
 * The BIOs, the server name and the ciphertext buffer are the target's for
 * its life (the BIOs reference counted into each check's SSL), and the
 * SSL_CTX is shared by the targets that load the same files: a check
 * allocates its SSL (SSL_new, and what OpenSSL allocates inside) and
 * nothing else.
 *
 * Never blocks (a memory BIO has no socket under it), never prints. The
 * error queue is emptied after every OpenSSL call that fails, so a stale
 * error never explains a later one; a reason is the first error queued
 * (the most specific): the alert received, "certificate verify failed
 * (hostname mismatch)".
 */
#include "core/control/health-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#define SERVER_NAME_MAX 256 /* a DNS name is at most 253 bytes */

/* What a session call came to. */
enum session_status {
        SESSION_OK = 0, /* done: the handshake, or bytes read */
        SESSION_WANT,   /* needs bytes from the broker first */
        SESSION_CLOSED, /* the broker's close_notify: no more bytes */
        SESSION_ERROR,  /* failed, the reason in why */
};

struct health_tls {
        SSL_CTX *ctx; /* one reference */
        SSL *ssl;     /* the check's session, NULL between checks */
        BIO *rbio;    /* ciphertext in */
        BIO *wbio;    /* ciphertext out */
        bool verify;  /* ca_file given: the chain and the name are checked */
        bool sni;     /* server_name is a DNS name: sent as SNI */
        char server_name[SERVER_NAME_MAX];
        size_t io_len, io_off; /* io[io_off..io_len): queued, not yet sent */
        uint8_t io[HEALTH_TLS_IO];
};

static bool empty(const char *s)
{
        return !s || !*s;
}

static bool same(const char *a, const char *b)
{
        return empty(a) ? empty(b) : !empty(b) && !strcmp(a, b);
}

bool health_tls__same_files(const struct health_target *a, const struct health_target *b)
{
        return same(a->cert_file, b->cert_file) && same(a->key_file, b->key_file) &&
               same(a->ca_file, b->ca_file);
}

/*
 * Why the last OpenSSL call failed: the first error queued (the most
 * specific), a failed verification with X509's own reason, a system error
 * by errno. The queue is emptied.
 */
static void reason(const SSL *ssl, char *why, size_t whylen)
{
        unsigned long e = ERR_peek_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;

        if (!why || !whylen) {
                ERR_clear_error();
                return;
        }
        if (e && ERR_SYSTEM_ERROR(e))
                snprintf(why, whylen, "%s", strerror(ERR_GET_REASON(e)));
        else if (ssl && ERR_GET_LIB(e) == ERR_LIB_SSL &&
                 ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
                snprintf(why, whylen, "%s (%s)", r ? r : "certificate verify failed",
                         X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        else if (r)
                snprintf(why, whylen, "%s", r);
        else if (e)
                ERR_error_string_n(e, why, whylen);
        else
                snprintf(why, whylen, "failed with no reason given");
        ERR_clear_error();
}

/* What happened to a call that returned ret <= 0. */
static enum session_status status_of(struct health_tls *s, int ret, char *why, size_t whylen)
{
        switch (SSL_get_error(s->ssl, ret)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE: /* a memory BIO always takes more: never */
                ERR_clear_error();
                return SESSION_WANT;
        case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return SESSION_CLOSED;
        default: reason(s->ssl, why, whylen); return SESSION_ERROR;
        }
}

static int load(SSL_CTX *ctx, const struct health_target *t, char *err, size_t errlen)
{
        const char *what, *file;
        char why[128];

        if (!empty(t->cert_file) != !empty(t->key_file)) {
                snprintf(err, errlen, "%s: cert_file and key_file go together", t->name);
                return -EINVAL;
        }
        if (!empty(t->ca_file)) {
                what = "ca_file", file = t->ca_file;
                if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1)
                        goto bad;
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        } else {
                /* liveness, not identity: any certificate will do */
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        }
        if (!empty(t->cert_file)) {
                what = "cert_file", file = t->cert_file;
                if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1)
                        goto bad;
                what = "key_file", file = t->key_file;
                if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_check_private_key(ctx) != 1)
                        goto bad;
        }
        return 0;
bad:
        reason(NULL, why, sizeof(why));
        snprintf(err, errlen, "%s: %s %s: %s", t->name, what, file, why);
        return -EINVAL;
}

int health_tls__new(struct health_tls **out, const struct health_target *t, struct health_tls *like,
                    char *err, size_t errlen)
{
        struct health_tls *s;
        unsigned char ip[16];
        int e = -ENOMEM;

        if (!empty(t->server_name) && strlen(t->server_name) >= SERVER_NAME_MAX) {
                snprintf(err, errlen, "%s: server_name longer than %d bytes", t->name,
                         SERVER_NAME_MAX - 1);
                return -EINVAL;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                goto nomem;
        if (like) {
                if (!SSL_CTX_up_ref(like->ctx))
                        goto nomem;
                s->ctx = like->ctx;
        } else {
                s->ctx = SSL_CTX_new(TLS_client_method());
                if (!s->ctx)
                        goto nomem;
                if ((e = load(s->ctx, t, err, errlen)))
                        goto fail;
        }
        s->rbio = BIO_new(BIO_s_mem());
        s->wbio = BIO_new(BIO_s_mem());
        if (!s->rbio || !s->wbio)
                goto nomem;
        /* empty is "not yet" (WANT_READ), never end of file */
        BIO_set_mem_eof_return(s->rbio, -1);
        s->verify = !empty(t->ca_file);
        if (!empty(t->server_name)) {
                snprintf(s->server_name, sizeof(s->server_name), "%s", t->server_name);
                /* RFC 6066 §3: SNI carries host names, never literal addresses */
                s->sni = inet_pton(AF_INET, t->server_name, ip) != 1 &&
                         inet_pton(AF_INET6, t->server_name, ip) != 1;
        }
        *out = s;
        return 0;
nomem:
        snprintf(err, errlen, "%s: TLS: out of memory", t->name);
        e = -ENOMEM;
fail:
        ERR_clear_error();
        health_tls__free(s);
        return e;
}

void health_tls__free(struct health_tls *s)
{
        if (!s)
                return;
        health_tls__end(s);
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_CTX_free(s->ctx);
        free(s);
}

static int session_begin(struct health_tls *s)
{
        health_tls__end(s);
        (void)BIO_reset(s->rbio);
        (void)BIO_reset(s->wbio);
        s->io_len = s->io_off = 0;
        s->ssl = SSL_new(s->ctx);
        if (!s->ssl)
                goto fail;
        /* SSL_free drops the references given here; the BIOs stay ours */
        if (!BIO_up_ref(s->rbio))
                goto fail;
        if (!BIO_up_ref(s->wbio)) {
                BIO_free(s->rbio);
                goto fail;
        }
        SSL_set_bio(s->ssl, s->rbio, s->wbio);
        SSL_set_connect_state(s->ssl);
        if (s->sni && SSL_set_tlsext_host_name(s->ssl, s->server_name) != 1)
                goto fail;
        /* an address is matched against the IP SANs, a name against the DNS
         * ones (SSL_set1_host tells them apart) */
        if (s->verify && s->server_name[0] && SSL_set1_host(s->ssl, s->server_name) != 1)
                goto fail;
        return 0;
fail:
        ERR_clear_error();
        health_tls__end(s);
        return -ENOMEM;
}

void health_tls__end(struct health_tls *s)
{
        SSL_free(s->ssl);
        s->ssl = NULL;
}

static enum session_status session_handshake(struct health_tls *s, char *why, size_t whylen)
{
        int r;

        ERR_clear_error();
        r = SSL_do_handshake(s->ssl);
        if (r == 1)
                return SESSION_OK;
        return status_of(s, r, why, whylen);
}

static int session_write(struct health_tls *s, const uint8_t *buf, size_t len, char *why,
                         size_t whylen)
{
        size_t n;

        ERR_clear_error();
        if (SSL_write_ex(s->ssl, buf, len, &n) == 1 && n == len)
                return 0;
        reason(s->ssl, why, whylen);
        return -1;
}

static enum session_status session_read(struct health_tls *s, uint8_t *buf, size_t cap, size_t *n,
                                        char *why, size_t whylen)
{
        ERR_clear_error();
        if (SSL_read_ex(s->ssl, buf, cap, n) == 1)
                return SESSION_OK;
        return status_of(s, 0, why, whylen);
}

static void session_shutdown(struct health_tls *s)
{
        ERR_clear_error();
        (void)SSL_shutdown(s->ssl); /* 0: close_notify queued, theirs not awaited */
        ERR_clear_error();
}

size_t health_tls__out(struct health_tls *s, const uint8_t **p)
{
        if (s->io_off == s->io_len) {
                int r = BIO_read(s->wbio, s->io, sizeof(s->io));

                s->io_off = 0;
                s->io_len = r > 0 ? (size_t)r : 0;
        }
        *p = s->io + s->io_off;
        return s->io_len - s->io_off;
}

static void session_sent(struct health_tls *s, size_t n)
{
        s->io_off += n < s->io_len - s->io_off ? n : s->io_len - s->io_off;
}

uint8_t *health_tls__in(struct health_tls *s)
{
        return s->io;
}

static int session_received(struct health_tls *s, size_t n)
{
        if (!n)
                return 0;
        return BIO_write(s->rbio, s->io, (int)n) == (int)n ? 0 : -ENOMEM;
}

size_t health_tls__goodbye(struct health_tls *s, const uint8_t **msg, size_t n)
{
        if (n)
                (void)session_write(s, *msg, n, NULL, 0);
        session_shutdown(s);
        return health_tls__out(s, msg);
}

/* ---- a TLS check's turns ---- */

/* The handshake as far as it goes; once done, HEALTH_CHECK_TCP has passed
 * and MQTT's CONNECT goes into the session. True when the attempt ended. */
static bool tls_handshake(struct health *h, struct target *t)
{
        char why[HEALTH_REASON_MAX];

        switch (session_handshake(t->tls, why, sizeof(why))) {
        case SESSION_OK: break;
        case SESSION_WANT: return false;
        case SESSION_CLOSED:
                check__failed(h, t, "TLS handshake: closed by the broker");
                return true;
        default: check__failed(h, t, "TLS handshake: %s", why); return true;
        }
        t->tls_phase = TLS_OPEN;
        if (t->kind == HEALTH_CHECK_TCP) {
                check__goodbye(t, NULL, 0);
                check__passed(h, t, check__what_passed(t, false));
                return true;
        }
        if (session_write(t->tls, t->out, t->out_len, why, sizeof(why))) {
                check__failed(h, t, "TLS: %s", why);
                return true;
        }
        return false;
}

/* Plaintext out of the open session to the parser: true when that ended
 * the attempt, false when the session needs bytes from the broker. */
static bool tls_read(struct health *h, struct target *t)
{
        char why[HEALTH_REASON_MAX];
        size_t n;

        for (;;) {
                switch (session_read(t->tls, t->in, sizeof(t->in), &n, why, sizeof(why))) {
                case SESSION_OK:
                        if (check__bytes(h, t, t->in, n))
                                return true;
                        break;
                case SESSION_WANT: return false;
                case SESSION_CLOSED:
                        check__closed_early(h, t, "TLS: closed before CONNACK");
                        return true;
                default: check__failed(h, t, "TLS: %s", why); return true;
                }
        }
}

/*
 * A TLS check's turn: the session goes as far as the bytes received take it
 * (handshake, then the CONNACK), then the next operation is what it needs:
 * its ciphertext sent, else a receive.
 */
static void tls_drive(struct health *h, struct target *t)
{
        const uint8_t *p;
        int e;

        if (t->tls_phase == TLS_HANDSHAKE && tls_handshake(h, t))
                return;
        if (t->tls_phase == TLS_OPEN && tls_read(h, t))
                return;
        t->stage = health_tls__out(t->tls, &p) ? ST_SEND : ST_RECV;
        if ((e = check__submit(h, t)))
                check__failed(h, t, "io_uring: %s", strerror(-e));
}

void health_tls__on_connect(struct health *h, struct target *t)
{
        if (session_begin(t->tls)) {
                check__failed(h, t, "TLS: out of memory");
                return;
        }
        t->tls_phase = TLS_HANDSHAKE;
        tls_drive(h, t);
}

void health_tls__on_recv(struct health *h, struct target *t, int res)
{
        if (res == 0 || res == -ECONNRESET) {
                if (t->tls_phase == TLS_HANDSHAKE)
                        check__failed(h, t, "TLS handshake: connection %s by the broker",
                                      res ? "reset" : "closed");
                else
                        check__closed_early(h, t,
                                            res ? "TLS: recv: Connection reset by peer"
                                                : "TLS: closed before CONNACK");
                return;
        }
        if (res < 0) {
                check__failed(h, t, "%srecv: %s", check__where(t), strerror(-res));
                return;
        }
        if (session_received(t->tls, (size_t)res)) {
                check__failed(h, t, "TLS: out of memory");
                return;
        }
        tls_drive(h, t);
}

void health_tls__on_send(struct health *h, struct target *t, int res)
{
        if (res < 0) {
                check__failed(h, t, "%ssend: %s", check__where(t), strerror(-res));
                return;
        }
        session_sent(t->tls, (size_t)res);
        tls_drive(h, t);
}
