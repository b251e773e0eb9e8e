/*
 * The pcap port (see pcap_port.h). Reading copies a captured frame into a
 * UMEM frame from the worker's cache; writing dumps a frame and gives it back
 * to the cache at once (the "completion"). Frames longer than a UMEM frame
 * are skipped and counted: the balancer's MSS keeps its own frames smaller.
 */
#include "xsk/pcap_port.h"

#include <errno.h>
#include <stdbool.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HLEN_ 14

/*
 * How a captured frame of a link type becomes an Ethernet frame: drop
 * `strip` header bytes and, unless Ethernet already, put an Ethernet header
 * in front whose EtherType is read at `proto_at` (or, for raw IP, from the IP
 * version nibble). The one list of supported link types.
 */
struct link_shape {
        uint32_t strip;
        int proto_at; /* -1: Ethernet as is; -2: from the IP version */
};

struct pcap_port {
        struct port port;
        pcap_t *in;
        pcap_t *dead;
        pcap_dumper_t *out;
        int linktype;
        struct link_shape shape;
        uint64_t skipped;
};

static bool link_shape(int linktype, struct link_shape *ls)
{
        switch (linktype) {
        case DLT_EN10MB: *ls = (struct link_shape){0, -1}; return true;
        case DLT_LINUX_SLL: *ls = (struct link_shape){16, 14}; return true; /* protocol at 14 */
        case DLT_LINUX_SLL2: *ls = (struct link_shape){20, 0}; return true; /* protocol at 0 */
        case DLT_RAW:
        case 228: /* LINKTYPE_IPV4 */
        case 229: /* LINKTYPE_IPV6 */ *ls = (struct link_shape){0, -2}; return true;
        default: return false;
        }
}

/* Bytes to drop from a captured frame and the EtherType to put in front
 * (0: none, the frame is Ethernet); -1 when the frame is too short. */
static int frame_shape(const struct link_shape *ls, const uint8_t *b, uint32_t len, uint32_t *strip,
                       uint16_t *ethertype)
{
        if (len < ls->strip + (ls->proto_at == -2 ? 1 : 0))
                return -1;
        *strip = ls->strip;
        if (ls->proto_at == -1)
                *ethertype = 0;
        else if (ls->proto_at == -2)
                *ethertype = (b[0] >> 4) == 6 ? 0x86DD : 0x0800;
        else
                *ethertype = (uint16_t)(b[ls->proto_at] << 8 | b[ls->proto_at + 1]);
        return 0;
}

static uint32_t pcap_rx(struct port *port, struct frame_desc *d, uint32_t n)
{
        struct pcap_port *pp = (struct pcap_port *)port;
        uint32_t got = 0;

        while (pp->in && got < n) {
                struct pcap_pkthdr *h;
                const uint8_t *b;
                uint32_t strip, room = port->umem->frame_size;
                uint16_t ethertype;
                int r = pcap_next_ex(pp->in, &h, &b);

                if (r != 1) { /* end of file or error: nothing more to read */
                        pcap_close(pp->in);
                        pp->in = NULL;
                        break;
                }
                port->clock_ns =
                    (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec * 1000ull;
                if (h->caplen != h->len ||
                    frame_shape(&pp->shape, b, h->caplen, &strip, &ethertype)) {
                        pp->skipped++;
                        continue;
                }
                uint32_t len = h->caplen - strip + (ethertype ? ETH_HLEN_ : 0);

                if (len > room) {
                        pp->skipped++;
                        continue;
                }
                uint64_t addr;

                if (!frame_cache__alloc(port->cache, &addr, 1)) {
                        port->rx_dropped++;
                        continue;
                }
                uint8_t *f = umem_area__data(port->umem, addr);

                if (ethertype) {
                        memset(f, 0, 12);
                        f[12] = (uint8_t)(ethertype >> 8);
                        f[13] = (uint8_t)ethertype;
                        memcpy(f + ETH_HLEN_, b + strip, h->caplen - strip);
                } else {
                        memcpy(f, b, h->caplen);
                }
                d[got].addr = addr;
                d[got].len = len;
                got++;
        }
        port->rx_frames += got;
        return got;
}

static uint32_t pcap_tx(struct port *port, const struct frame_desc *d, uint32_t n)
{
        struct pcap_port *pp = (struct pcap_port *)port;

        for (uint32_t i = 0; i < n; i++) {
                if (pp->out) {
                        struct pcap_pkthdr h = {
                            .ts = {.tv_sec = (time_t)(port->clock_ns / 1000000000ull),
                                   .tv_usec = (suseconds_t)(port->clock_ns % 1000000000ull / 1000)},
                            .caplen = d[i].len,
                            .len = d[i].len,
                        };

                        pcap_dump((u_char *)pp->out, &h, umem_area__data(port->umem, d[i].addr));
                }
                frame_cache__put(port->cache, d[i].addr);
        }
        port->tx_frames += n;
        return n;
}

static void pcap_flush(struct port *port)
{
        struct pcap_port *pp = (struct pcap_port *)port;

        if (pp->out)
                pcap_dump_flush(pp->out);
}

static void pcap_port_close(struct port *port)
{
        struct pcap_port *pp = (struct pcap_port *)port;

        if (pp->in)
                pcap_close(pp->in);
        if (pp->out)
                pcap_dump_close(pp->out);
        if (pp->dead)
                pcap_close(pp->dead);
        free(pp);
}

static const struct port_ops PCAP_OPS = {
    .rx = pcap_rx,
    .tx = pcap_tx,
    .flush = pcap_flush,
    .close = pcap_port_close,
};

int pcap_port__open(struct port **out, const char *in_path, const char *out_path,
                    struct umem_area *umem, struct frame_cache *cache, char *err, size_t errlen)
{
        char perr[PCAP_ERRBUF_SIZE] = "";
        struct pcap_port *pp = calloc(1, sizeof(*pp));

        if (!pp)
                return -ENOMEM;
        pp->port.ops = &PCAP_OPS;
        pp->port.name = "pcap";
        pp->port.umem = umem;
        pp->port.cache = cache;
        pp->port.virtual_clock = true;
        if (in_path) {
                pp->in = pcap_open_offline_with_tstamp_precision(in_path,
                                                                 PCAP_TSTAMP_PRECISION_MICRO, perr);
                if (!pp->in) {
                        if (err)
                                snprintf(err, errlen, "%s: %s", in_path, perr);
                        goto fail;
                }
                pp->linktype = pcap_datalink(pp->in);
                if (!link_shape(pp->linktype, &pp->shape)) {
                        if (err)
                                snprintf(err, errlen,
                                         "%s: link type %s is not supported (Ethernet, Linux "
                                         "cooked or raw IP captures are)",
                                         in_path, pcap_datalink_val_to_name(pp->linktype));
                        goto fail;
                }
        }
        if (out_path) {
                pp->dead = pcap_open_dead(DLT_EN10MB, 65535);
                pp->out = pp->dead ? pcap_dump_open(pp->dead, out_path) : NULL;
                if (!pp->out) {
                        if (err)
                                snprintf(err, errlen, "%s: %s", out_path,
                                         pp->dead ? pcap_geterr(pp->dead) : "cannot create");
                        goto fail;
                }
        }
        *out = &pp->port;
        return 0;
fail:
        pcap_port_close(&pp->port);
        return -EINVAL;
}

uint64_t pcap_port__skipped(const struct port *p)
{
        return ((const struct pcap_port *)p)->skipped;
}
