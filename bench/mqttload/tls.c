/*
 * mqttload's TLS client (tls.h): OpenSSL 3 over memory BIOs, driven by
 * conn.c's ring operations.
 */
#include "bench/mqttload/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>

/* plaintext is read in pieces of at least this much room */
#define READ_ROOM 1024u

/* --tls-resume: the session a connection's handshake produced (TLS 1.3: the
 * server's ticket, which arrives after the handshake) is kept on the client
 * and offered by its next connection. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
        struct conn *c = SSL_get_app_data(ssl);

        if (!c)
                return 0;
        if (c->tls_sess)
                SSL_SESSION_free(c->tls_sess);
        c->tls_sess = sess;
        return 1; /* ours now */
}

struct ssl_ctx_st *tls__ctx_new(const struct load_cfg *cfg, char *err, size_t errlen)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        int v = cfg->tls_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;

        if (!ctx) {
                snprintf(err, errlen, "--tls: SSL_CTX_new failed");
                return NULL;
        }
        if (cfg->tls_version) {
                SSL_CTX_set_min_proto_version(ctx, v);
                SSL_CTX_set_max_proto_version(ctx, v);
        } else {
                SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        }
        /* thousands of idle connections: no read and write buffers held
         * between records */
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        if (cfg->tls_resume) {
                SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                        SSL_SESS_CACHE_NO_INTERNAL_STORE);
                SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        } else {
                /* every connection a full handshake; no ticket asked for */
                SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
                SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        }
        if (cfg->cafile) {
                if (SSL_CTX_load_verify_locations(ctx, cfg->cafile, NULL) != 1) {
                        char e[200];

                        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
                        snprintf(err, errlen, "--cafile: cannot load \"%s\": %s", cfg->cafile, e);
                        SSL_CTX_free(ctx);
                        return NULL;
                }
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        } else {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        }
        return ctx;
}

void tls__ctx_free(struct ssl_ctx_st *ctx)
{
        SSL_CTX_free(ctx);
}

int tls__start(struct conn *c)
{
        const struct load_cfg *cfg = &c->t->l->cfg;
        SSL *ssl = SSL_new(c->t->l->tls_ctx);
        BIO *rbio, *wbio;
        int r;

        if (!ssl)
                return -ENOMEM;
        rbio = BIO_new(BIO_s_mem());
        wbio = BIO_new(BIO_s_mem());
        if (!rbio || !wbio) {
                BIO_free(rbio);
                BIO_free(wbio);
                SSL_free(ssl);
                return -ENOMEM;
        }
        /* an empty network-side BIO means "wait for more", not EOF */
        BIO_set_mem_eof_return(rbio, -1);
        SSL_set_bio(ssl, rbio, wbio);
        SSL_set_app_data(ssl, c);
        SSL_set_connect_state(ssl);
        if (cfg->sni) {
                SSL_set_tlsext_host_name(ssl, cfg->sni);
                /* with --cafile the certificate must name it */
                if (cfg->cafile)
                        SSL_set1_host(ssl, cfg->sni);
        }
        if (cfg->tls_resume && c->tls_sess)
                SSL_set_session(ssl, c->tls_sess);
        c->ssl = ssl;
        c->tls_wbio = wbio;
        ERR_clear_error();
        r = SSL_do_handshake(ssl); /* writes the ClientHello */
        if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
                return -EIO;
        return 0;
}

static enum tls_step read_plain(struct conn *c)
{
        for (;;) {
                int n, e;

                if (c->rxcap - c->rxlen < READ_ROOM) {
                        uint32_t cap = c->rxcap * 2;
                        uint8_t *p = realloc(c->rx, cap);

                        if (!p)
                                return TLS_STEP_ERROR;
                        c->rx = p;
                        c->rxcap = cap;
                }
                n = SSL_read(c->ssl, c->rx + c->rxlen, (int)(c->rxcap - c->rxlen));
                if (n > 0) {
                        c->rxlen += (uint32_t)n;
                        continue;
                }
                e = SSL_get_error(c->ssl, n);
                if (e == SSL_ERROR_WANT_READ)
                        return TLS_STEP_OPEN;
                if (e == SSL_ERROR_ZERO_RETURN)
                        return TLS_STEP_CLOSED;
                return TLS_STEP_ERROR;
        }
}

enum tls_step tls__input(struct conn *c, const uint8_t *buf, uint32_t n)
{
        enum tls_step step = TLS_STEP_OPEN;

        ERR_clear_error();
        if (n && BIO_write(SSL_get_rbio(c->ssl), buf, (int)n) != (int)n)
                return TLS_STEP_ERROR;
        if (!SSL_is_init_finished(c->ssl)) {
                int r = SSL_do_handshake(c->ssl);

                if (r <= 0)
                        return SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ ? TLS_STEP_AGAIN
                                                                               : TLS_STEP_ERROR;
                step = TLS_STEP_DONE;
        }
        /* the broker's first bytes (a ticket, the CONNACK) may have come with
         * its Finished */
        switch (read_plain(c)) {
        case TLS_STEP_OPEN: return step;
        case TLS_STEP_CLOSED: return TLS_STEP_CLOSED;
        default: return TLS_STEP_ERROR;
        }
}

bool tls__reused(const struct conn *c)
{
        return SSL_session_reused(c->ssl) == 1;
}

int tls__write(struct conn *c, const uint8_t *buf, uint32_t len)
{
        ERR_clear_error();
        /* into a memory BIO, whole: it grows */
        return SSL_write(c->ssl, buf, (int)len) == (int)len ? 0 : -EIO;
}

uint32_t tls__pending(const struct conn *c)
{
        return c->ssl ? (uint32_t)BIO_ctrl_pending(c->tls_wbio) : 0;
}

uint32_t tls__take(struct conn *c, uint8_t *out, uint32_t cap)
{
        int n = BIO_read(c->tls_wbio, out, (int)cap);

        return n > 0 ? (uint32_t)n : 0;
}

void tls__end(struct conn *c)
{
        if (!c->ssl)
                return;
        SSL_set_app_data(c->ssl, NULL);
        /* OpenSSL marks the session of a connection freed without a
         * close_notify not resumable; --tls-resume keeps it usable, as
         * clients that keep their tickets over a dropped connection do */
        if (c->tls_sess)
                SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl); /* and both BIOs */
        c->ssl = NULL;
        c->tls_wbio = NULL;
}

void tls__forget(struct conn *c)
{
        tls__end(c);
        if (c->tls_sess) {
                SSL_SESSION_free(c->tls_sess);
                c->tls_sess = NULL;
        }
}

const char *tls__why(struct conn *c)
{
        static __thread char buf[200];
        unsigned long e = ERR_peek_error();
        long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;

        if (v != X509_V_OK)
                snprintf(buf, sizeof(buf), "certificate verify failed: %s",
                         X509_verify_cert_error_string(v));
        else if (e)
                ERR_error_string_n(e, buf, sizeof(buf));
        else
                snprintf(buf, sizeof(buf), "TLS error (nothing on OpenSSL's queue)");
        return buf;
}
