/*
 * Offline replay, its first step (see replay.h): the TCP connections of a
 * capture read out of a pcap file (Ethernet, Linux cooked or raw IP; IPv4
 * and IPv6): for each client connection its segments as captured (times,
 * retransmissions and reorderings kept), and the server's stream reassembled
 * with, for each stretch of it, how much of the client's stream the server
 * had acknowledged when it sent it. replay.c plays them.
 *
 * Owns the capture it builds (replay_capture__free). Reads the file; keeps
 * no state between calls.
 */
#include "core/replay/replay.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "core/replay/replay_peer.h"
#include "core/tcp/packet.h"

#define REPLAY_STREAM_MAX (64u << 20) /* per direction: bytes beyond are ignored */

struct sseg { /* a server segment, before reassembly */
        uint32_t off, len, data, acked;
};

struct side { /* the server side of a connection, while reading */
        struct sseg *segs;
        uint32_t nsegs, capsegs;
        uint8_t *data;
        uint32_t len, cap;
        uint32_t irs;
        bool irs_ok;
};

struct reader {
        struct replay_capture *c;
        uint32_t capconns;
        struct side *sides;
        struct replay_seg **segv; /* per conn, capacity in segcap */
        uint32_t *segcap, *cdcap;
        int32_t *table; /* open addressing: conn index + 1, 0 empty */
        uint32_t tsize;
};

static int grow_array(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
        uint32_t c = *cap ? *cap : 16;
        void *na;

        if (need <= *cap)
                return 0;
        while (c < need)
                c *= 2;
        na = realloc(*arr, (size_t)c * elem);
        if (!na)
                return -ENOMEM;
        *arr = na;
        *cap = c;
        return 0;
}

static uint32_t tuple_hash(uint8_t family, const uint8_t *ca, uint16_t cp, const uint8_t *sa,
                           uint16_t sp)
{
        uint32_t h = 2166136261u;
        size_t alen = family == 4 ? 4 : 16;

        for (size_t i = 0; i < alen; i++)
                h = (h ^ ca[i]) * 16777619u;
        for (size_t i = 0; i < alen; i++)
                h = (h ^ sa[i]) * 16777619u;
        h = (h ^ cp) * 16777619u;
        h = (h ^ sp) * 16777619u;
        return h ^ family;
}

static bool conn_is(const struct replay_conn *k, uint8_t family, const uint8_t *ca, uint16_t cp,
                    const uint8_t *sa, uint16_t sp)
{
        size_t alen = family == 4 ? 4 : 16;

        return k->family == family && k->cport == cp && k->sport == sp &&
               !memcmp(k->caddr, ca, alen) && !memcmp(k->saddr, sa, alen);
}

/* The slot of a tuple: its entry, or the empty slot where it would go. */
static uint32_t table_slot(const struct reader *rd, uint8_t family, const uint8_t *ca, uint16_t cp,
                           const uint8_t *sa, uint16_t sp)
{
        uint32_t i = tuple_hash(family, ca, cp, sa, sp) & (rd->tsize - 1);

        while (rd->table[i] && !conn_is(&rd->c->conns[rd->table[i] - 1], family, ca, cp, sa, sp))
                i = (i + 1) & (rd->tsize - 1);
        return i;
}

static int table_grow(struct reader *rd)
{
        uint32_t n = rd->tsize ? 2 * rd->tsize : 1024;
        int32_t *old = rd->table;
        uint32_t oldn = rd->tsize;

        rd->table = calloc(n, sizeof(*rd->table));
        if (!rd->table) {
                rd->table = old;
                return -ENOMEM;
        }
        rd->tsize = n;
        for (uint32_t i = 0; i < oldn; i++) {
                if (!old[i])
                        continue;
                const struct replay_conn *k = &rd->c->conns[old[i] - 1];
                uint32_t s = table_slot(rd, k->family, k->caddr, k->cport, k->saddr, k->sport);

                rd->table[s] = old[i];
        }
        free(old);
        return 0;
}

/* A new connection for a client SYN (the latest one of its tuple wins). */
static int conn_new(struct reader *rd, uint8_t family, const struct replay_tcp *s, uint64_t t,
                    const struct tcp_syn_opts *opts)
{
        struct replay_capture *c = rd->c;
        uint32_t n = c->nconns, cap = rd->capconns, slot;
        struct replay_conn *k;
        size_t alen = family == 4 ? 4 : 16;

        if ((n + 1) * 2 > rd->tsize && table_grow(rd))
                return -ENOMEM;
        if (n == cap) {
                uint32_t nc = cap ? 2 * cap : 16;
                void *a = realloc(c->conns, sizeof(*c->conns) * nc);

                if (!a)
                        return -ENOMEM;
                c->conns = a;
                a = realloc(rd->sides, sizeof(*rd->sides) * nc);
                if (!a)
                        return -ENOMEM;
                rd->sides = a;
                a = realloc(rd->segcap, sizeof(*rd->segcap) * nc);
                if (!a)
                        return -ENOMEM;
                rd->segcap = a;
                a = realloc(rd->cdcap, sizeof(*rd->cdcap) * nc);
                if (!a)
                        return -ENOMEM;
                rd->cdcap = a;
                rd->capconns = nc;
        }
        k = &c->conns[n];
        memset(k, 0, sizeof(*k));
        memset(&rd->sides[n], 0, sizeof(rd->sides[n]));
        rd->segcap[n] = rd->cdcap[n] = 0;
        k->family = family;
        memcpy(k->caddr, s->saddr, alen);
        memcpy(k->saddr, s->daddr, alen);
        k->cport = s->sport;
        k->sport = s->dport;
        k->syn_ns = k->last_ns = t;
        k->isn = s->seq;
        k->syn = *opts;
        slot = table_slot(rd, family, k->caddr, k->cport, k->saddr, k->sport);
        rd->table[slot] = (int32_t)n + 1;
        c->nconns++;
        return 0;
}

static int client_seg(struct reader *rd, uint32_t i, const struct replay_tcp *s, uint64_t t)
{
        struct replay_conn *k = &rd->c->conns[i];
        uint32_t off = s->seq - (k->isn + 1);
        struct replay_seg *g;

        if (!s->len && !(s->flags & (TCP_OUT_FIN | TCP_OUT_RST)))
                return 0; /* a pure ACK: nothing to play */
        if ((int32_t)off < 0 || off > REPLAY_STREAM_MAX || s->len > REPLAY_STREAM_MAX - off)
                return 0; /* before the ISN (the SYN's own data) or absurdly far */
        if (grow_array((void **)&k->segs, &rd->segcap[i], k->nsegs + 1, sizeof(*k->segs)) ||
            replay__grow_bytes(&k->cdata, &rd->cdcap[i], k->cdata_len + s->len))
                return -ENOMEM;
        g = &k->segs[k->nsegs++];
        g->t_ns = t;
        g->off = off;
        g->len = s->len;
        g->data = k->cdata_len;
        g->flags = s->flags;
        memcpy(k->cdata + k->cdata_len, s->data, s->len);
        k->cdata_len += s->len;
        if (s->flags & TCP_OUT_FIN)
                k->fin = true;
        if (s->flags & TCP_OUT_RST)
                k->rst = true;
        return 0;
}

static int server_seg(struct reader *rd, uint32_t i, const struct replay_tcp *s)
{
        struct replay_conn *k = &rd->c->conns[i];
        struct side *sd = &rd->sides[i];
        uint32_t off, acked = 0;
        struct sseg *g;

        if ((s->flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == (TCP_OUT_SYN | TCP_OUT_ACK)) {
                sd->irs = s->seq;
                sd->irs_ok = true;
                return 0;
        }
        if (s->flags & TCP_OUT_FIN)
                k->server_fin = true;
        if (s->flags & TCP_OUT_RST)
                k->server_rst = true;
        if (!s->len)
                return 0;
        if (!sd->irs_ok) { /* the SYN-ACK is missing: its first byte starts the stream */
                sd->irs = s->seq - 1;
                sd->irs_ok = true;
        }
        off = s->seq - (sd->irs + 1);
        if ((int32_t)off < 0 || off > REPLAY_STREAM_MAX || s->len > REPLAY_STREAM_MAX - off)
                return 0;
        if (s->flags & TCP_OUT_ACK) {
                acked = s->ack - (k->isn + 1);
                if ((int32_t)acked < 0)
                        acked = 0;
        }
        if (grow_array((void **)&sd->segs, &sd->capsegs, sd->nsegs + 1, sizeof(*sd->segs)) ||
            replay__grow_bytes(&sd->data, &sd->cap, sd->len + s->len))
                return -ENOMEM;
        g = &sd->segs[sd->nsegs++];
        g->off = off;
        g->len = s->len;
        g->data = sd->len;
        g->acked = acked;
        memcpy(sd->data + sd->len, s->data, s->len);
        sd->len += s->len;
        return 0;
}

/*
 * Reassembles segments into out[0..prefix): each segment's bytes placed at
 * its offset in capture order (the first copy of a byte wins), the prefix
 * advanced over what is contiguous. cb(i, prefix_before, prefix_after) after
 * each segment.
 */
struct piece {
        uint32_t off, len;
        const uint8_t *data;
};

static int reassemble(const struct piece *pc, uint32_t n, uint8_t **out, uint32_t *prefix,
                      bool *gap, void (*cb)(void *ctx, uint32_t i, uint32_t from, uint32_t to),
                      void *ctx, uint32_t *retx, uint32_t *ooo)
{
        uint32_t end = 0, p = 0;
        uint8_t *have, *buf;

        for (uint32_t i = 0; i < n; i++)
                if (pc[i].off + pc[i].len > end)
                        end = pc[i].off + pc[i].len;
        buf = malloc(end ? end : 1);
        have = calloc(end ? end : 1, 1);
        if (!buf || !have) {
                free(buf);
                free(have);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < n; i++) {
                uint32_t from = p, fresh = 0;

                if (!pc[i].len)
                        continue;
                if (ooo && pc[i].off > p)
                        (*ooo)++;
                for (uint32_t b = 0; b < pc[i].len; b++)
                        if (!have[pc[i].off + b]) {
                                have[pc[i].off + b] = 1;
                                buf[pc[i].off + b] = pc[i].data[b];
                                fresh++;
                        }
                if (retx && !fresh)
                        (*retx)++;
                while (p < end && have[p])
                        p++;
                if (cb && p > from)
                        cb(ctx, i, from, p);
        }
        *gap = p < end;
        *prefix = p;
        *out = buf;
        free(have);
        return 0;
}

struct chunk_ctx {
        struct replay_conn *k;
        const struct sseg *segs;
        uint32_t cap, acked;
        int err;
};

static void chunk_cb(void *ctx, uint32_t i, uint32_t from, uint32_t to)
{
        struct chunk_ctx *cc = ctx;
        struct replay_conn *k = cc->k;

        if (cc->segs[i].acked > cc->acked)
                cc->acked = cc->segs[i].acked;
        if (grow_array((void **)&k->chunks, &cc->cap, k->nchunks + 1, sizeof(*k->chunks))) {
                cc->err = -ENOMEM;
                return;
        }
        k->chunks[k->nchunks++] = (struct replay_chunk){from, to - from, cc->acked};
}

static int finish_conn(struct reader *rd, uint32_t i)
{
        struct replay_conn *k = &rd->c->conns[i];
        struct side *sd = &rd->sides[i];
        uint32_t n = k->nsegs > sd->nsegs ? k->nsegs : sd->nsegs;
        struct piece *pc = malloc(sizeof(*pc) * (n ? n : 1));
        struct chunk_ctx cc = {.k = k, .segs = sd->segs};
        bool sgap;
        int r;

        if (!pc)
                return -ENOMEM;
        for (uint32_t j = 0; j < k->nsegs; j++)
                pc[j] = (struct piece){k->segs[j].off, k->segs[j].len, k->cdata + k->segs[j].data};
        r = reassemble(pc, k->nsegs, &k->stream, &k->stream_len, &k->stream_gap, NULL, NULL,
                       &k->retransmitted, &k->out_of_order);
        if (!r) {
                for (uint32_t j = 0; j < sd->nsegs; j++)
                        pc[j] = (struct piece){sd->segs[j].off, sd->segs[j].len,
                                               sd->data + sd->segs[j].data};
                r = reassemble(pc, sd->nsegs, &k->sstream, &k->sstream_len, &sgap, chunk_cb, &cc,
                               NULL, NULL);
                if (!r)
                        r = cc.err;
        }
        free(pc);
        return r;
}

static void reader_free(struct reader *rd)
{
        if (rd->sides)
                for (uint32_t i = 0; i < rd->c->nconns; i++) {
                        free(rd->sides[i].segs);
                        free(rd->sides[i].data);
                }
        free(rd->sides);
        free(rd->segcap);
        free(rd->cdcap);
        free(rd->table);
}

/* Bytes to skip and the EtherType to assume for a link type (as the pcap
 * port: Ethernet, Linux cooked v1/v2, raw IP); false when unsupported. */
static bool link_shape(int linktype, uint32_t *strip, int *proto_at)
{
        switch (linktype) {
        case DLT_EN10MB: *strip = 0, *proto_at = -1; return true;
        case DLT_LINUX_SLL: *strip = 16, *proto_at = 14; return true;
        case DLT_LINUX_SLL2: *strip = 20, *proto_at = 0; return true;
        case DLT_RAW:
        case 228: /* LINKTYPE_IPV4 */
        case 229: /* LINKTYPE_IPV6 */ *strip = 0, *proto_at = -2; return true;
        default: return false;
        }
}

int replay_capture__read(const char *path, struct replay_capture **out, char *err, size_t errlen)
{
        char perr[PCAP_ERRBUF_SIZE] = "";
        struct replay_capture *c = calloc(1, sizeof(*c));
        struct reader rd = {.c = c};
        struct pcap_pkthdr *h;
        const uint8_t *b;
        uint8_t *frame = malloc(UINT16_MAX + 1);
        uint32_t strip = 0;
        int proto_at = 0, r = 0;
        pcap_t *p;

        if (!c || !frame || !(c->path = strdup(path))) {
                free(frame);
                replay_capture__free(c);
                return -ENOMEM;
        }
        p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
        if (!p) { /* libpcap names the file in some messages, not in others */
                if (!strncmp(perr, path, strlen(path)))
                        snprintf(err, errlen, "%s", perr);
                else
                        snprintf(err, errlen, "%s: %s", path, perr);
                free(frame);
                replay_capture__free(c);
                return -EINVAL;
        }
        if (!link_shape(pcap_datalink(p), &strip, &proto_at)) {
                snprintf(err, errlen,
                         "%s: link type %s is not supported (Ethernet, Linux cooked or raw IP "
                         "captures are)",
                         path, pcap_datalink_val_to_name(pcap_datalink(p)));
                r = -EINVAL;
                goto out;
        }
        while (!r && pcap_next_ex(p, &h, &b) == 1) {
                uint64_t t = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
                uint32_t len = h->caplen;
                const uint8_t *f = b;
                struct packet m;
                struct replay_tcp s;

                if (!c->packets++)
                        c->first_ns = t;
                if (t > c->last_ns)
                        c->last_ns = t;
                if (h->caplen < h->len || len < strip + 1) {
                        c->ignored++;
                        continue;
                }
                if (proto_at != -1) { /* a synthetic Ethernet header in front */
                        uint16_t et;

                        if (proto_at == -2)
                                et = (b[strip] >> 4) == 6 ? 0x86dd : 0x0800;
                        else if (len < (uint32_t)proto_at + 2)
                                et = 0;
                        else
                                et = packet__be16(b + proto_at);
                        len = len - strip + 14;
                        if (len > UINT16_MAX) {
                                c->ignored++;
                                continue;
                        }
                        memset(frame, 0, 12);
                        frame[12] = (uint8_t)(et >> 8);
                        frame[13] = (uint8_t)et;
                        memcpy(frame + 14, b + strip, len - 14);
                        f = frame;
                }
                if (packet__parse(f, len, &m) != PACKET_OK) {
                        c->ignored++;
                        continue;
                }
                replay_tcp__parse(&s, f, &m);
                if ((s.flags & (TCP_OUT_SYN | TCP_OUT_ACK)) == TCP_OUT_SYN) {
                        uint32_t slot;

                        if (!rd.tsize && table_grow(&rd)) {
                                r = -ENOMEM;
                                break;
                        }
                        slot = table_slot(&rd, m.family, s.saddr, s.sport, s.daddr, s.dport);
                        if (rd.table[slot] && c->conns[rd.table[slot] - 1].isn == s.seq &&
                            !c->conns[rd.table[slot] - 1].nsegs)
                                continue; /* the SYN again */
                        r = conn_new(&rd, m.family, &s, t, &s.opts);
                        continue;
                }
                if (!rd.tsize) {
                        c->ignored++;
                        continue;
                }
                uint32_t slot = table_slot(&rd, m.family, s.saddr, s.sport, s.daddr, s.dport);

                if (rd.table[slot]) {
                        uint32_t i = (uint32_t)rd.table[slot] - 1;

                        c->conns[i].last_ns = t;
                        r = client_seg(&rd, i, &s, t);
                        continue;
                }
                slot = table_slot(&rd, m.family, s.daddr, s.dport, s.saddr, s.sport);
                if (rd.table[slot]) {
                        uint32_t i = (uint32_t)rd.table[slot] - 1;

                        c->conns[i].last_ns = t;
                        r = server_seg(&rd, i, &s);
                        continue;
                }
                c->ignored++; /* its SYN is not in the capture */
        }
        for (uint32_t i = 0; !r && i < c->nconns; i++)
                r = finish_conn(&rd, i);
        if (r == -ENOMEM)
                snprintf(err, errlen, "%s: out of memory", path);
out:
        pcap_close(p);
        free(frame);
        reader_free(&rd);
        if (r) {
                replay_capture__free(c);
                return r;
        }
        *out = c;
        return 0;
}

void replay_capture__free(struct replay_capture *c)
{
        if (!c)
                return;
        for (uint32_t i = 0; i < c->nconns; i++) {
                struct replay_conn *k = &c->conns[i];

                free(k->segs);
                free(k->cdata);
                free(k->stream);
                free(k->sstream);
                free(k->chunks);
        }
        free(c->conns);
        free(c->path);
        free(c);
}

void replay_capture__list(const struct replay_capture *c, FILE *out)
{
        fprintf(out, "%s: %llu packets, %u connections, %llu packets ignored\n", c->path,
                (unsigned long long)c->packets, c->nconns, (unsigned long long)c->ignored);
        for (uint32_t i = 0; i < c->nconns; i++) {
                const struct replay_conn *k = &c->conns[i];
                char ca[64], sa[64], ws[8];

                net_addr__str_of(k->family, k->caddr, k->cport, ca, sizeof(ca));
                net_addr__str_of(k->family, k->saddr, k->sport, sa, sizeof(sa));
                if (k->syn.wscale == TCP_WSCALE_NONE)
                        snprintf(ws, sizeof(ws), "-");
                else
                        snprintf(ws, sizeof(ws), "%u", k->syn.wscale);
                fprintf(out,
                        "%u %s -> %s at %.6f isn %u mss %u ws %s sack %s: %u segments "
                        "(%u retransmitted, %u out of order), %u bytes%s, %s; server %u bytes "
                        "in %u chunks%s\n",
                        i, ca, sa, (double)(k->syn_ns - c->first_ns) / 1e9, k->isn,
                        k->syn.mss_ok ? k->syn.mss : 0, ws, k->syn.sack_ok ? "yes" : "no", k->nsegs,
                        k->retransmitted, k->out_of_order, k->stream_len,
                        k->stream_gap ? " (then a hole)" : "",
                        k->rst   ? "RST"
                        : k->fin ? "FIN"
                                 : "open",
                        k->sstream_len, k->nchunks,
                        k->server_rst   ? ", RST"
                        : k->server_fin ? ", FIN"
                                        : "");
        }
}
