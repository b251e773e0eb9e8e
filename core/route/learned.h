/*
 * Learned bindings (DESIGN.md "Routing"): client id -> the pool of the last
 * topic that client used, so that its next connection binds at CONNECT, from
 * any address and through any worker, and its broker's CONNACK (with the
 * persistent session's queued messages) reaches it directly.
 *
 * Shared by every worker: a hash table under a reader-writer lock, read once
 * per CONNECT and written only when a binding changes, never per packet.
 * Bounded (LEARNED_MAX entries: new client ids are not learned beyond it).
 * Pools are kept by name, so a binding survives a reload that renumbers the
 * pools, and the state file stays readable.
 */
#ifndef MQTTLB_CORE_LEARNED_H
#define MQTTLB_CORE_LEARNED_H

#include <stddef.h>
#include <stdint.h>

#define LEARNED_MAX      (1u << 20)
#define LEARNED_POOL_MAX 64 /* bytes of a pool name, with its NUL */

struct learned;

struct learned *learned__new(void);
void learned__free(struct learned *l);
/* 1 and the pool's name in pool[0..len) when id is known, else 0. */
int learned__get(struct learned *l, const uint8_t *id, size_t id_len, char *pool, size_t len);
/* 1 when the binding is new or changed, 0 when it was already so, -ENOSPC
 * when full, -ENOMEM, -EINVAL for an empty id or a pool name too long. */
int learned__set(struct learned *l, const uint8_t *id, size_t id_len, const char *pool);
size_t learned__count(struct learned *l);
/*
 * The state file: one binding per line, "POOL<TAB>CLIENT-ID" with the id's
 * bytes escaped (\\, \t, \n, \xHH for other bytes below 0x20 or 0x7f).
 * load: lines that do not parse are skipped and counted in *bad (may be
 * NULL); -errno when the file cannot be read (-ENOENT: none yet). save writes
 * a temporary file and renames it over path (atomic).
 */
int learned__load(struct learned *l, const char *path, size_t *bad);
int learned__save(struct learned *l, const char *path);

#endif
