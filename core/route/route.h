/*
 * The routing table (DESIGN.md "Routing"): MQTT topic filters -> pool,
 * client-id patterns -> pool, and a default pool.
 *
 * Owns the filter trie and the pattern list. Pools are plain indices here:
 * the table neither knows nor checks them. Lookups run per PUBLISH and per
 * CONNECT in the workers: they never allocate and never write. Nothing here
 * locks (a reload builds a new table) or prints.
 */
#ifndef MQTTLB_CORE_ROUTE_H
#define MQTTLB_CORE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_NONE       (-1) /* no rule matched / no default */
#define ROUTE_DUPLICATE  1    /* add: the same filter or pattern is already there */
#define ROUTE_MAX_LEVELS 64   /* levels in a route filter; bounds lookup recursion */

struct route_table;

/* An empty table, no default. NULL when out of memory. */
struct route_table *route_table__new(void);
void route_table__free(struct route_table *rt);

/*
 * Adds "filter -> pool" (pool >= 0). The filter must be a valid topic filter
 * (mqtt_topic__check_filter) and not a shared subscription ("$share/...":
 * it names a subscriber group, not topics). Returns 0, or ROUTE_DUPLICATE
 * when the same filter was added before: the first one stays in force and
 * this one is ignored (the config checker should warn). -EINVAL for a bad
 * filter or pool, -E2BIG past ROUTE_MAX_LEVELS levels, -ENOMEM.
 */
int route_table__add_filter(struct route_table *rt, const uint8_t *filter, size_t len, int pool);

/*
 * Adds "client-id pattern -> pool": a glob where '*' matches any run of
 * bytes (also none) and '?' exactly one byte; other bytes match themselves.
 * Patterns are tried in the order added. Returns 0, ROUTE_DUPLICATE for a
 * pattern already there (the first stays), -EINVAL, -ENOMEM.
 */
int route_table__add_client_id(struct route_table *rt, const uint8_t *pattern, size_t len,
                               int pool);

/* The default pool (>= 0) or ROUTE_NONE. */
int route_table__set_default(struct route_table *rt, int pool);
int route_table__default(const struct route_table *rt);

/*
 * The pool of the most specific filter that matches a topic name, or
 * ROUTE_NONE. The default is NOT applied: the caller decides how client-id
 * rules, topic rules and the default combine, and whether "no rule" is worth
 * counting. Specificity: comparing two matching filters level by level, at
 * the first level where they differ a literal beats '+', '+' beats '#', and
 * a filter that has ended beats "/#" (so "a" beats "a/#" for topic "a").
 * Distinct matching filters always differ that way, so only identical
 * filters tie, and the first added wins. The topic must be a valid topic
 * name (the parser checked it).
 */
int route_table__match_topic(const struct route_table *rt, const uint8_t *topic, size_t len);

/* The pool of the first client-id pattern that matches, or ROUTE_NONE. */
int route_table__match_client_id(const struct route_table *rt, const uint8_t *id, size_t len);

/* Whether a glob pattern matches s: '*' any run, '?' one byte. O(len * plen). */
bool route__glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t len);

#endif
