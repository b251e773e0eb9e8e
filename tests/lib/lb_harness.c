/* The balancer's offline harness (lb_harness.h). */
#include "lb_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/config.h"
#include "core/tcp/csum.h"
#include "core/tcp/packet.h"
#include "core/config/plan.h"
#include "xsk/mem_port.h"

const uint8_t LBH_LB_MAC[6] = {2, 0, 0, 0, 0, 1};
const uint8_t LBH_CLIENT_MAC[6] = {2, 0, 0, 0, 0, 0xc1};
const uint8_t LBH_BROKER_MAC[6] = {2, 0, 0, 0, 0, 0xb1};

#define LBH_SEED_DEFAULT 0x6c6268ull

static int nexthop(void *ctx, const struct ip_addr *dst, struct lb_nexthop *out)
{
        (void)ctx;
        (void)dst;
        out->port = 0;
        memcpy(out->src_mac, LBH_LB_MAC, 6);
        memcpy(out->dst_mac, LBH_BROKER_MAC, 6);
        return 0;
}

int lbh__open(struct lbh **out, const struct lbh_cfg *cfg, char *err, size_t errlen)
{
        struct lbh *h = calloc(1, sizeof(*h));
        struct config *conf = NULL;
        struct plan *plan = NULL;
        struct worker_cfg wc = {0};
        uint32_t nsrc = 0;

        *out = NULL;
        if (h)
                h->out_max = cfg->out_max ? cfg->out_max : LBH_OUT_MAX;
        if (!h || !(h->out = calloc(h->out_max, sizeof(*h->out)))) {
                snprintf(err, errlen, "out of memory");
                goto fail_h;
        }
        if (config__load_string("harness.yaml", cfg->yaml, &conf, err, errlen))
                goto fail_h;
        if (plan__build(conf, &plan, err, errlen)) {
                config__free(conf);
                goto fail_h;
        }
        config__free(conf);
        for (uint32_t i = 0; i < plan->nsources && nsrc < WORKER_SOURCES_MAX; i++, nsrc++) {
                h->src[nsrc].addr = plan->sources[i].addr;
                h->src[nsrc].port_lo = plan->sources[i].port_lo;
                h->src[nsrc].port_hi = plan->sources[i].port_hi;
        }
        h->frames = cfg->frames ? cfg->frames : 4096;
        if (umem_area__map(&h->umem, h->frames, UMEM_FRAME_SIZE, false)) {
                snprintf(err, errlen, "cannot map the UMEM");
                goto fail_plan;
        }
        if (frame_pool__new(&h->pool, h->frames, UMEM_FRAME_SIZE)) {
                snprintf(err, errlen, "cannot make the frame pool");
                goto fail_umem;
        }
        frame_cache__init(&h->cache, h->pool);
        if (mem_port__open(&h->port, "harness", &h->umem, &h->cache)) {
                snprintf(err, errlen, "cannot open the memory port");
                goto fail_pool;
        }
        h->port->virtual_clock = true;
        if (lb__new(&h->lb, &(struct lb_cfg){.plan = plan,
                                             .nworkers = cfg->nworkers ? cfg->nworkers : 1,
                                             .nexthop = nexthop,
                                             .report = cfg->report,
                                             .report_ctx = cfg->report_ctx,
                                             .keep_topics = cfg->keep_topics,
                                             .seed = cfg->seed ? cfg->seed : LBH_SEED_DEFAULT})) {
                snprintf(err, errlen, "lb__new failed");
                goto fail_port; /* lb__new freed the plan */
        }
        if (lb_worker__new(&h->lw, h->lb, 0, NULL, 0)) {
                snprintf(err, errlen, "lb_worker__new failed");
                goto fail_lb;
        }
        wc.nworkers = 1; /* one worker loop, whatever cfg->nworkers: every frame is its own */
        wc.core = -1;
        wc.ports[0] = h->port;
        wc.fds[0] = -1;
        wc.nports = 1;
        wc.cache = &h->cache;
        wc.sources = h->src;
        wc.nsources = nsrc;
        wc.ops = &lb_ops;
        wc.ctx = h->lw;
        wc.stop = &h->stop;
        atomic_init(&h->stop, false);
        worker__init(&h->w, &wc);
        *out = h;
        return 0;

fail_lb:
        lb__free(h->lb);
        goto fail_port_only;
fail_port:
        plan = NULL;
fail_port_only:
        port__close(h->port);
fail_pool:
        frame_cache__drain(&h->cache);
        frame_pool__free(h->pool);
fail_umem:
        umem_area__unmap(&h->umem);
fail_plan:
        if (plan)
                plan__put(plan);
fail_h:
        if (h)
                free(h->out);
        free(h);
        return -1;
}

static void collect(struct lbh *h)
{
        struct frame_desc d[64];
        uint32_t n;

        while ((n = mem_port__drain(h->port, d, 64))) {
                for (uint32_t i = 0; i < n; i++) {
                        if (h->nout < h->out_max)
                                lbh_frame__parse(&h->out[h->nout++], h->umem.base + d[i].addr,
                                                 d[i].len);
                        else
                                h->out_lost++;
                        frame_cache__put(&h->cache, d[i].addr);
                }
        }
}

uint32_t lbh__close(struct lbh *h)
{
        uint32_t missing;

        lb_worker__close_all(h->lw, &h->w);
        worker__flush(&h->w);
        collect(h);
        lb_worker__free(h->lw);
        lb__free(h->lb);
        port__close(h->port);
        frame_cache__drain(&h->cache);
        missing = frame_pool__total(h->pool) - frame_pool__count(h->pool);
        frame_pool__free(h->pool);
        umem_area__unmap(&h->umem);
        free(h->out);
        free(h);
        return missing;
}

int lbh__inject(struct lbh *h, const void *frame, uint32_t len)
{
        return mem_port__inject(h->port, frame, len);
}

uint32_t lbh__run(struct lbh *h, uint64_t now_ns)
{
        uint32_t before = h->nout + (uint32_t)h->out_lost;

        if (now_ns > h->now_ns)
                h->now_ns = now_ns;
        h->port->clock_ns = h->now_ns;
        do {
                worker__round(&h->w);
                worker__flush(&h->w);
        } while (mem_port__rx_pending(h->port));
        /* one more round with nothing in: the sends of the last one leave */
        worker__round(&h->w);
        worker__flush(&h->w);
        collect(h);
        return h->nout + (uint32_t)h->out_lost - before;
}

void lbh__clear(struct lbh *h)
{
        h->nout = 0;
}

void lbh__stats(const struct lbh *h, struct lb_stats *s)
{
        lb_worker__stats(h->lw, s);
}

uint32_t lbh__connections(const struct lbh *h)
{
        return lb_worker__connections(h->lw);
}

int lbh__build(uint8_t *buf, size_t cap, const struct lbh_peer *p, const struct lbh_seg *s)
{
        static const struct tcp_out_syn_opts syn_default = {1460, 7, true};
        uint32_t iph = p->family == 4 ? 20 : 40;
        uint8_t opt[40];
        uint32_t olen = 0, tcp_len, total;
        uint8_t *ip = buf + 14, *tcp;
        uint64_t sum;
        uint16_t check;

        if (s->flags & TCP_OUT_SYN) {
                const struct tcp_out_syn_opts *o = s->syn ? s->syn : &syn_default;

                opt[olen++] = 2, opt[olen++] = 4;
                packet__put16(opt + olen, o->mss), olen += 2;
                if (o->wscale != TCP_WSCALE_NONE)
                        opt[olen++] = 1, opt[olen++] = 3, opt[olen++] = 3, opt[olen++] = o->wscale;
                if (o->sack_ok)
                        opt[olen++] = 1, opt[olen++] = 1, opt[olen++] = 4, opt[olen++] = 2;
        }
        if (s->nsack) {
                if (s->nsack > TCP_OUT_SACK_MAX || olen + 4 + 8 * s->nsack > 40)
                        return -EINVAL;
                opt[olen++] = 1, opt[olen++] = 1;
                opt[olen++] = 5, opt[olen++] = (uint8_t)(2 + 8 * s->nsack);
                for (unsigned i = 0; i < s->nsack; i++) {
                        packet__put32(opt + olen, s->sack[i].start);
                        packet__put32(opt + olen + 4, s->sack[i].end);
                        olen += 8;
                }
        }
        while (olen % 4)
                opt[olen++] = 1;
        tcp_len = 20 + olen + s->len;
        total = 14 + iph + tcp_len;
        if (total > cap)
                return -ENOSPC;
        memcpy(buf, p->to_mac ? p->to_mac : LBH_LB_MAC, 6);
        memcpy(buf + 6, p->mac ? p->mac : LBH_CLIENT_MAC, 6);
        packet__put16(buf + 12, p->family == 4 ? ETH_P_IPV4_ : ETH_P_IPV6_);
        memset(ip, 0, iph);
        if (p->family == 4) {
                ip[0] = 0x45;
                packet__put16(ip + 2, (uint16_t)(20 + tcp_len));
                ip[6] = 0x40;
                ip[8] = 64;
                ip[9] = IPPROTO_TCP_;
                memcpy(ip + 12, p->addr, 4);
                memcpy(ip + 16, p->to, 4);
                check = csum__fold(csum__partial(ip, 20, 0));
                memcpy(ip + 10, &check, 2);
        } else {
                ip[0] = 0x60;
                packet__put16(ip + 4, (uint16_t)tcp_len);
                ip[6] = IPPROTO_TCP_;
                ip[7] = 64;
                memcpy(ip + 8, p->addr, 16);
                memcpy(ip + 24, p->to, 16);
        }
        tcp = ip + iph;
        memset(tcp, 0, 20);
        packet__put16(tcp, p->port);
        packet__put16(tcp + 2, p->to_port);
        packet__put32(tcp + 4, s->seq);
        packet__put32(tcp + 8, s->flags & TCP_OUT_ACK ? s->ack : 0);
        tcp[12] = (uint8_t)((20 + olen) / 4 << 4);
        tcp[13] = s->flags;
        packet__put16(tcp + 14, s->win);
        memcpy(tcp + 20, opt, olen);
        if (s->len)
                memcpy(tcp + 20 + olen, s->data, s->len);
        sum = p->family == 4 ? csum__pseudo4(p->addr, p->to, IPPROTO_TCP_, (uint16_t)tcp_len)
                             : csum__pseudo6(p->addr, p->to, IPPROTO_TCP_, tcp_len);
        check = csum__fold(csum__partial(tcp, tcp_len, sum));
        memcpy(tcp + 16, &check, 2);
        if (total < TCP_OUT_MIN_FRAME) {
                if (cap < TCP_OUT_MIN_FRAME)
                        return -ENOSPC;
                memset(buf + total, 0, TCP_OUT_MIN_FRAME - total);
                total = TCP_OUT_MIN_FRAME;
        }
        return (int)total;
}

int lbh__send(struct lbh *h, const struct lbh_peer *p, const struct lbh_seg *s)
{
        uint8_t frame[2048];
        int n = lbh__build(frame, sizeof(frame), p, s);

        return n < 0 ? n : lbh__inject(h, frame, (uint32_t)n);
}

bool lbh_frame__parse(struct lbh_frame *f, const uint8_t *frame, uint32_t len)
{
        struct packet m;
        const uint8_t *tcp, *ip;
        uint32_t doff, tcp_len, alen;
        uint64_t sum;

        /* everything but the bytes, which are copied next */
        memset((uint8_t *)f + offsetof(struct lbh_frame, len), 0,
               sizeof(*f) - offsetof(struct lbh_frame, len));
        f->wire_len = len;
        if (len > sizeof(f->bytes))
                len = sizeof(f->bytes);
        memcpy(f->bytes, frame, len);
        f->len = len;
        if (packet__parse(f->bytes, len, &m) != PACKET_OK)
                return false;
        ip = f->bytes + m.l3;
        tcp = f->bytes + m.l4;
        alen = m.family == 4 ? 4 : 16;
        f->family = m.family;
        memcpy(f->saddr, ip + (m.family == 4 ? 12 : 8), alen);
        memcpy(f->daddr, ip + (m.family == 4 ? 16 : 24), alen);
        f->sport = m.sport;
        f->dport = m.dport;
        f->seq = packet__be32(tcp + 4);
        f->ack = packet__be32(tcp + 8);
        f->flags = tcp[13] & 0x3f;
        f->win = packet__be16(tcp + 14);
        f->payload = f->bytes + m.payload;
        f->plen = (uint32_t)(m.end - m.payload);
        doff = (uint32_t)(tcp[12] >> 4) * 4;
        tcp_len = (uint32_t)(m.end - m.l4);
        sum = m.family == 4 ? csum__pseudo4(f->saddr, f->daddr, IPPROTO_TCP_, (uint16_t)tcp_len)
                            : csum__pseudo6(f->saddr, f->daddr, IPPROTO_TCP_, tcp_len);
        f->ok = csum__fold(csum__partial(tcp, tcp_len, sum)) == 0 &&
                (m.family != 4 || csum__fold(csum__partial(ip, 20, 0)) == 0);
        if (f->flags & TCP_OUT_SYN)
                tcp_opts__parse(tcp, tcp_len, &f->syn);
        for (uint32_t i = 20; i < doff;) {
                uint8_t kind = tcp[i], olen;

                if (kind == 0)
                        break;
                if (kind == 1) {
                        i++;
                        continue;
                }
                if (i + 1 >= doff || (olen = tcp[i + 1]) < 2 || i + olen > doff)
                        break;
                if (kind == 5)
                        for (uint32_t b = i + 2; b + 8 <= i + olen && f->nsack < TCP_OUT_SACK_MAX;
                             b += 8) {
                                f->sack[f->nsack].start = packet__be32(tcp + b);
                                f->sack[f->nsack].end = packet__be32(tcp + b + 4);
                                f->nsack++;
                        }
                i += olen;
        }
        return true;
}

/* ---- UDP listeners ---- */

/* Ethernet and VLAN tags of a frame from p; the offset of the IP header. */
static uint32_t put_l2(uint8_t *buf, const struct lbh_peer *p, const struct lbh_vlans *v)
{
        uint32_t off = 12;

        memcpy(buf, p->to_mac ? p->to_mac : LBH_LB_MAC, 6);
        memcpy(buf + 6, p->mac ? p->mac : LBH_CLIENT_MAC, 6);
        for (unsigned i = 0; v && i < v->n; i++, off += 4) {
                packet__put16(buf + off, v->tpid[i]);
                packet__put16(buf + off + 2, v->tci[i]);
        }
        packet__put16(buf + off, p->family == 4 ? ETH_P_IPV4_ : ETH_P_IPV6_);
        return off + 2;
}

/* The IP header of a datagram from p of l4_len bytes of proto at ip. */
static void put_ip(uint8_t *ip, const struct lbh_peer *p, uint8_t proto, uint32_t l4_len)
{
        uint16_t check;

        if (p->family == 4) {
                memset(ip, 0, 20);
                ip[0] = 0x45;
                packet__put16(ip + 2, (uint16_t)(20 + l4_len));
                packet__put16(ip + 4, 0x2345);
                ip[8] = 64;
                ip[9] = proto;
                memcpy(ip + 12, p->addr, 4);
                memcpy(ip + 16, p->to, 4);
                check = csum__fold(csum__partial(ip, 20, 0));
                memcpy(ip + 10, &check, 2);
        } else {
                memset(ip, 0, 40);
                ip[0] = 0x60;
                packet__put16(ip + 4, (uint16_t)l4_len);
                ip[6] = proto;
                ip[7] = 64;
                memcpy(ip + 8, p->addr, 16);
                memcpy(ip + 24, p->to, 16);
        }
}

/* The L4 checksum over l4[0..l4_len) with p's pseudo-header (the field zero). */
static uint16_t l4_sum(const struct lbh_peer *p, uint8_t proto, const uint8_t *l4, uint32_t l4_len)
{
        uint64_t sum = p->family == 4 ? csum__pseudo4(p->addr, p->to, proto, (uint16_t)l4_len)
                                      : csum__pseudo6(p->addr, p->to, proto, l4_len);

        return csum__fold(csum__partial(l4, l4_len, sum));
}

/* Pads a frame of total bytes to the Ethernet minimum; its length or -ENOSPC. */
static int pad(uint8_t *buf, size_t cap, uint32_t total)
{
        if (total < TCP_OUT_MIN_FRAME) {
                if (cap < TCP_OUT_MIN_FRAME)
                        return -ENOSPC;
                memset(buf + total, 0, TCP_OUT_MIN_FRAME - total);
                total = TCP_OUT_MIN_FRAME;
        }
        return (int)total;
}

int lbh__build_udp(uint8_t *buf, size_t cap, const struct lbh_peer *p, const struct lbh_vlans *v,
                   const void *data, uint32_t len)
{
        uint32_t l2 = 14 + 4u * (v ? v->n : 0), iph = p->family == 4 ? 20 : 40;
        uint32_t l4_len = UDP_HLEN + len, total = l2 + iph + l4_len;
        uint8_t *udp = buf + l2 + iph;
        uint16_t check;

        if ((v && v->n > TCP_OUT_VLANS) || l4_len > UINT16_MAX - 20)
                return -EINVAL;
        if (total > cap)
                return -ENOSPC;
        put_l2(buf, p, v);
        put_ip(buf + l2, p, IPPROTO_UDP_, l4_len);
        packet__put16(udp, p->port);
        packet__put16(udp + 2, p->to_port);
        packet__put16(udp + 4, (uint16_t)l4_len);
        memset(udp + 6, 0, 2);
        if (len)
                memcpy(udp + UDP_HLEN, data, len);
        check = l4_sum(p, IPPROTO_UDP_, udp, l4_len);
        if (!check)
                check = 0xffff;
        memcpy(udp + 6, &check, 2);
        return pad(buf, cap, total);
}

int lbh__send_udp(struct lbh *h, const struct lbh_peer *p, const struct lbh_vlans *v,
                  const void *data, uint32_t len)
{
        uint8_t frame[UMEM_FRAME_SIZE];
        int n = lbh__build_udp(frame, sizeof(frame), p, v, data, len);

        return n < 0 ? n : lbh__inject(h, frame, (uint32_t)n);
}

int lbh__build_icmp_unreach(uint8_t *buf, size_t cap, const struct lbh_peer *p, uint8_t code,
                            const void *quote, uint32_t qlen)
{
        uint32_t iph = p->family == 4 ? 20 : 40, l4_len = 8 + qlen, total = 14 + iph + l4_len;
        uint8_t proto = p->family == 4 ? IPPROTO_ICMP_ : IPPROTO_ICMPV6_;
        uint8_t *icmp = buf + 14 + iph;
        uint16_t check;

        if (total > cap)
                return -ENOSPC;
        put_l2(buf, p, NULL);
        put_ip(buf + 14, p, proto, l4_len);
        memset(icmp, 0, 8);
        icmp[0] = p->family == 4 ? 3 : 1; /* destination unreachable */
        icmp[1] = code;
        memcpy(icmp + 8, quote, qlen);
        /* ICMPv4: over the message only (RFC 792); ICMPv6: with the
         * pseudo-header (RFC 4443 2.3) */
        check = p->family == 4 ? csum__fold(csum__partial(icmp, l4_len, 0))
                               : l4_sum(p, proto, icmp, l4_len);
        memcpy(icmp + 2, &check, 2);
        return pad(buf, cap, total);
}

int lbh__send_icmp_unreach(struct lbh *h, const struct lbh_peer *p, uint8_t code, const void *quote,
                           uint32_t qlen)
{
        uint8_t frame[UMEM_FRAME_SIZE];
        int n = lbh__build_icmp_unreach(frame, sizeof(frame), p, code, quote, qlen);

        return n < 0 ? n : lbh__inject(h, frame, (uint32_t)n);
}

bool lbh_udp__parse(struct lbh_udp *u, const uint8_t *frame, uint32_t len)
{
        uint32_t off = 12, ip_len, ulen, alen;
        const uint8_t *ip, *udp;
        uint16_t type;
        uint64_t sum;

        memset(u, 0, sizeof(*u));
        if (len < 14)
                return false;
        memcpy(u->dmac, frame, 6);
        memcpy(u->smac, frame + 6, 6);
        type = packet__be16(frame + off);
        while ((type == ETH_P_8021Q_ || type == ETH_P_8021AD_) && u->vlans.n < TCP_OUT_VLANS) {
                if (len < off + 6)
                        return false;
                u->vlans.tpid[u->vlans.n] = type;
                u->vlans.tci[u->vlans.n++] = packet__be16(frame + off + 2);
                off += 4;
                type = packet__be16(frame + off);
        }
        u->l3 = off + 2;
        ip = frame + u->l3;
        if (type == ETH_P_IPV4_) {
                if (len < u->l3 + 20 || ip[0] != 0x45 || ip[9] != IPPROTO_UDP_)
                        return false;
                ip_len = packet__be16(ip + 2);
                u->family = 4;
                u->l4 = u->l3 + 20;
                alen = 4;
                memcpy(u->saddr, ip + 12, 4);
                memcpy(u->daddr, ip + 16, 4);
        } else if (type == ETH_P_IPV6_) {
                if (len < u->l3 + 40 || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP_)
                        return false;
                ip_len = 40u + packet__be16(ip + 4);
                u->family = 6;
                u->l4 = u->l3 + 40;
                alen = 16;
                memcpy(u->saddr, ip + 8, 16);
                memcpy(u->daddr, ip + 24, 16);
        } else {
                return false;
        }
        if (u->l4 + UDP_HLEN > len || u->l3 + ip_len > len || u->l4 + UDP_HLEN > u->l3 + ip_len)
                return false;
        udp = frame + u->l4;
        u->sport = packet__be16(udp);
        u->dport = packet__be16(udp + 2);
        ulen = packet__be16(udp + 4);
        u->payload = udp + UDP_HLEN;
        u->plen = ulen >= UDP_HLEN ? ulen - UDP_HLEN : 0;
        if (ulen != u->l3 + ip_len - u->l4) /* the UDP length is the IP datagram's rest */
                return true;
        sum = alen == 4 ? csum__pseudo4(u->saddr, u->daddr, IPPROTO_UDP_, (uint16_t)ulen)
                        : csum__pseudo6(u->saddr, u->daddr, IPPROTO_UDP_, ulen);
        u->ok = packet__be16(udp + 6) != 0 && csum__fold(csum__partial(udp, ulen, sum)) == 0 &&
                (u->family != 4 || csum__fold(csum__partial(ip, 20, 0)) == 0);
        return true;
}

int lbh__plan(struct plan **out, const char *yaml, char *err, size_t errlen)
{
        struct config *conf = NULL;
        int rc;

        *out = NULL;
        if (config__load_string("harness.yaml", yaml, &conf, err, errlen))
                return -1;
        rc = plan__build(conf, out, err, errlen);
        config__free(conf);
        return rc ? -1 : 0;
}

int lbh__set_plan(struct lbh *h, struct plan *p)
{
        return lb__set_plan(h->lb, p);
}
