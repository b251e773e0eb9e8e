/*
 * Building and parsing xdpgen's frames (gen_frame.h). Headers are written
 * byte by byte in network order, so nothing here depends on the host's
 * endianness or on the alignment of a UMEM frame.
 */
#include "bench/gen_frame.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_VLAN 0x8100
#define ETH_P_QINQ 0x88a8
#define PROTO_TCP  6
#define PROTO_UDP  17
#define TCP_SYN    0x02
#define TCP_PSH    0x08
#define TCP_ACK    0x10

static void put_eth(uint8_t *f, const struct gen_addrs *a)
{
        memcpy(f, a->dst_mac, 6);
        memcpy(f + 6, a->src_mac, 6);
        gen_put16(f + 12, ETH_P_IPV4);
}

/* IPv4 header without options, DF set (RFC 791), checksum computed. */
static void put_ip_proto(uint8_t *ip, uint16_t total, uint16_t id, uint32_t src, uint32_t dst,
                         uint8_t proto)
{
        ip[0] = 0x45;
        ip[1] = 0;
        gen_put16(ip + 2, total);
        gen_put16(ip + 4, id);
        gen_put16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = proto;
        gen_put16(ip + 10, 0);
        memcpy(ip + 12, &src, 4);
        memcpy(ip + 16, &dst, 4);
        gen_put16(ip + 10, (uint16_t)~gen_csum_fold(gen_csum_add(0, ip, GEN_IP_LEN)));
}

static void put_ip(uint8_t *ip, uint16_t total, uint16_t id, uint32_t src, uint32_t dst)
{
        put_ip_proto(ip, total, id, src, dst, PROTO_TCP);
}

/* The TCP pseudo header's sum (RFC 793 section 3.1). */
static uint64_t pseudo_sum(const uint8_t *ip, uint32_t tcp_len)
{
        return gen_csum_add(0, ip + 12, 8) + PROTO_TCP + tcp_len;
}

void gen_template__init(struct gen_template *t, uint8_t *buf, uint32_t size,
                        const struct gen_addrs *a, uint16_t sport, uint16_t dport, uint32_t isn,
                        uint32_t ack, bool fixed, uint32_t run_id)
{
        uint8_t *ip = buf + GEN_ETH_LEN, *tcp = ip + GEN_IP_LEN, *pl = tcp + GEN_TCP_LEN;
        uint32_t tcp_len = size - GEN_ETH_LEN - GEN_IP_LEN;

        memset(buf, 0, size);
        put_eth(buf, a);
        put_ip(ip, (uint16_t)(size - GEN_ETH_LEN), 0, a->src_ip, a->dst_ip);
        gen_put16(tcp, sport);
        gen_put16(tcp + 2, dport);
        gen_put32(tcp + 8, ack);
        tcp[12] = (GEN_TCP_LEN / 4) << 4;
        tcp[13] = TCP_ACK | TCP_PSH;
        gen_put16(tcp + 14, 65535);
        gen_put32(pl, GEN_MAGIC);
        gen_put32(pl + 4, run_id);
        /* seq, stamp seq and checksum are zero here: added per frame */
        t->frame = buf;
        t->size = size;
        t->payload = tcp_len - GEN_TCP_LEN;
        t->step = fixed ? 0 : t->payload;
        t->tcp_seq = isn;
        t->sum = pseudo_sum(ip, tcp_len) + gen_csum_add(0, tcp, tcp_len);
        t->udp = false;
}

void gen_template__init_udp(struct gen_template *t, uint8_t *buf, uint32_t size,
                            const struct gen_addrs *a, uint16_t sport, uint16_t dport,
                            uint32_t run_id)
{
        uint8_t *ip = buf + GEN_ETH_LEN, *udp = ip + GEN_IP_LEN, *pl = udp + GEN_UDP_LEN;
        uint32_t udp_len = size - GEN_ETH_LEN - GEN_IP_LEN;

        memset(buf, 0, size);
        put_eth(buf, a);
        put_ip_proto(ip, (uint16_t)(size - GEN_ETH_LEN), 0, a->src_ip, a->dst_ip, PROTO_UDP);
        gen_put16(udp, sport);
        gen_put16(udp + 2, dport);
        gen_put16(udp + 4, (uint16_t)udp_len);
        gen_put32(pl, GEN_MAGIC);
        gen_put32(pl + 4, run_id);
        /* stamp seq and checksum are zero here: added per frame */
        t->frame = buf;
        t->size = size;
        t->payload = udp_len - GEN_UDP_LEN;
        t->step = 0;
        t->tcp_seq = 0;
        t->udp = true;
        /* the pseudo header (RFC 768) and the datagram */
        t->sum = gen_csum_add(0, ip + 12, 8) + PROTO_UDP + udp_len + gen_csum_add(0, udp, udp_len);
}

void gen_frame__syn(uint8_t *dst, const struct gen_addrs *a, uint32_t src_ip, uint16_t sport,
                    uint16_t dport, uint32_t seq, uint16_t ip_id, uint16_t mss)
{
        uint8_t *ip = dst + GEN_ETH_LEN, *tcp = ip + GEN_IP_LEN;
        const uint32_t tcp_len = GEN_TCP_LEN + 4;

        memset(dst, 0, GEN_SYN_SIZE);
        put_eth(dst, a);
        put_ip(ip, (uint16_t)(GEN_IP_LEN + tcp_len), ip_id, src_ip, a->dst_ip);
        gen_put16(tcp, sport);
        gen_put16(tcp + 2, dport);
        gen_put32(tcp + 4, seq);
        tcp[12] = (uint8_t)((tcp_len / 4) << 4);
        tcp[13] = TCP_SYN;
        gen_put16(tcp + 14, 64240);
        tcp[20] = 2; /* MSS, RFC 793 section 3.1 (kind 2, length 4) */
        tcp[21] = 4;
        gen_put16(tcp + 22, mss);
        gen_put16(tcp + 16, (uint16_t)~gen_csum_fold(pseudo_sum(ip, tcp_len) +
                                                     gen_csum_add(0, tcp, tcp_len)));
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void gen_frame__parse(const uint8_t *f, uint32_t len, struct gen_rx_info *out)
{
        uint32_t off = 12, type, ihl, total, doff, tcp_len;
        const uint8_t *ip, *tcp;

        memset(out, 0, sizeof(*out));
        if (len < off + 2)
                return;
        type = (uint32_t)f[off] << 8 | f[off + 1];
        if ((type == ETH_P_VLAN || type == ETH_P_QINQ) && len >= off + 6) {
                off += 4;
                type = (uint32_t)f[off] << 8 | f[off + 1];
        }
        off += 2;
        if (type != ETH_P_IPV4 || len < off + GEN_IP_LEN)
                return;
        ip = f + off;
        ihl = (ip[0] & 0x0f) * 4u;
        total = (uint32_t)ip[2] << 8 | ip[3];
        /* UDP: the stamp right after its header; checksum 0 is none (RFC 768) */
        if (ip[0] >> 4 == 4 && ihl >= GEN_IP_LEN && total >= ihl + GEN_UDP_LEN &&
            total <= len - off && !(ip[6] & 0x3f) && !ip[7] && ip[9] == PROTO_UDP) {
                const uint8_t *udp = ip + ihl;
                uint32_t udp_len = (uint32_t)udp[4] << 8 | udp[5];

                if (udp_len < GEN_UDP_LEN || udp_len > total - ihl)
                        return;
                if (udp_len - GEN_UDP_LEN >= GEN_STAMP_LEN &&
                    get32(udp + GEN_UDP_LEN) == GEN_MAGIC) {
                        out->stamped = true;
                        out->run_id = get32(udp + GEN_UDP_LEN + 4);
                        out->seq = (uint64_t)get32(udp + GEN_UDP_LEN + 8) << 32 |
                                   get32(udp + GEN_UDP_LEN + 12);
                        out->csum_ok =
                            gen_csum_fold(gen_csum_add(0, ip, ihl)) == 0xffff &&
                            (!(udp[6] | udp[7]) ||
                             gen_csum_fold(gen_csum_add(0, ip + 12, 8) + PROTO_UDP + udp_len +
                                           gen_csum_add(0, udp, udp_len)) == 0xffff);
                }
                return;
        }
        /* not version 4, options beyond the frame, a fragment, or not TCP */
        if (ip[0] >> 4 != 4 || ihl < GEN_IP_LEN || total < ihl + GEN_TCP_LEN || total > len - off ||
            (ip[6] & 0x3f) || ip[7] || ip[9] != PROTO_TCP)
                return;
        tcp = ip + ihl;
        tcp_len = total - ihl;
        doff = (uint32_t)(tcp[12] >> 4) * 4u;
        if (doff < GEN_TCP_LEN || doff > tcp_len)
                return;
        out->syn = (tcp[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN;
        if (tcp_len - doff >= GEN_STAMP_LEN && get32(tcp + doff) == GEN_MAGIC) {
                out->stamped = true;
                out->run_id = get32(tcp + doff + 4);
                out->seq = (uint64_t)get32(tcp + doff + 8) << 32 | get32(tcp + doff + 12);
        }
        if (out->stamped || out->syn)
                out->csum_ok = gen_csum_fold(gen_csum_add(0, ip, ihl)) == 0xffff &&
                               gen_csum_fold(pseudo_sum(ip, tcp_len) +
                                             gen_csum_add(0, tcp, tcp_len)) == 0xffff;
}
