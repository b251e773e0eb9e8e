/*
 * The pcap port: reads frames from a capture (Ethernet, Linux cooked v1/v2 or
 * raw IP, the latter given a synthetic Ethernet header) and writes the frames
 * sent to an Ethernet capture, stamped with the port's clock.
 */
#ifndef MQTTLB_XSK_PCAP_PORT_H
#define MQTTLB_XSK_PCAP_PORT_H

#include "xsk/port.h"

/*
 * in_path or out_path may be NULL (nothing to read / nothing written).
 * On failure returns -errno and, when err is not NULL, a message naming the
 * file and the problem in err[0..errlen).
 */
int pcap_port__open(struct port **out, const char *in_path, const char *out_path,
                    struct umem_area *umem, struct frame_cache *cache, char *err, size_t errlen);

/* Frames read so far that could not be used (too long for a frame, bad link type). */
uint64_t pcap_port__skipped(const struct port *p);

#endif
