/*
 * Topic alias table: slots indexed by alias number, topics in one arena.
 * Redefining an alias with a topic no longer than its old one reuses the old
 * bytes; otherwise the topic is appended. A full arena is compacted (live
 * topics moved down in offset order); what still does not fit is not kept.
 * Memory is fixed at creation: nothing here allocates per packet.
 */
#include "mqtt/alias.h"

#include <stdlib.h>
#include <string.h>

struct mqtt_alias_slot {
        uint32_t off;
        uint16_t len;
        uint8_t state; /* enum mqtt_alias_state */
};

struct mqtt_alias_table {
        uint16_t max;
        uint32_t cap, used;
        struct mqtt_alias_slot *slots; /* [1..max] */
        uint16_t *order;               /* scratch for compaction */
        uint8_t *arena;
};

struct mqtt_alias_table *mqtt_alias__new(uint16_t max, uint32_t arena_bytes)
{
        struct mqtt_alias_table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->max = max;
        t->cap = arena_bytes;
        t->slots = calloc((size_t)max + 1, sizeof(*t->slots));
        t->order = calloc((size_t)max + 1, sizeof(*t->order));
        t->arena = malloc(arena_bytes ? arena_bytes : 1);
        if (!t->slots || !t->order || !t->arena) {
                mqtt_alias__free(t);
                return NULL;
        }
        return t;
}

void mqtt_alias__free(struct mqtt_alias_table *t)
{
        if (!t)
                return;
        free(t->slots);
        free(t->order);
        free(t->arena);
        free(t);
}

void mqtt_alias__clear(struct mqtt_alias_table *t)
{
        memset(t->slots, 0, ((size_t)t->max + 1) * sizeof(*t->slots));
        t->used = 0;
}

uint16_t mqtt_alias__max(const struct mqtt_alias_table *t)
{
        return t->max;
}

static _Thread_local const struct mqtt_alias_slot *cmp_slots;

static int by_offset(const void *a, const void *b)
{
        uint32_t x = cmp_slots[*(const uint16_t *)a].off;
        uint32_t y = cmp_slots[*(const uint16_t *)b].off;

        return x < y ? -1 : x > y;
}

/* Moves every kept topic down to close the holes left by redefinitions. */
static void compact(struct mqtt_alias_table *t)
{
        size_t n = 0;
        uint32_t at = 0;

        for (uint32_t a = 1; a <= t->max; a++)
                if (t->slots[a].state == MQTT_ALIAS_KEPT)
                        t->order[n++] = (uint16_t)a;
        /* qsort has no context argument; the table is per connection and
         * per worker thread, so a thread-local comparison base is safe. */
        cmp_slots = t->slots;
        qsort(t->order, n, sizeof(*t->order), by_offset);
        for (size_t i = 0; i < n; i++) {
                struct mqtt_alias_slot *s = &t->slots[t->order[i]];

                memmove(t->arena + at, t->arena + s->off, s->len);
                s->off = at;
                at += s->len;
        }
        t->used = at;
}

enum mqtt_alias_state mqtt_alias__set(struct mqtt_alias_table *t, uint16_t alias,
                                      const uint8_t *topic, uint32_t len)
{
        struct mqtt_alias_slot *s = &t->slots[alias];

        if (s->state == MQTT_ALIAS_KEPT && len <= s->len) {
                memmove(t->arena + s->off, topic, len);
                s->len = (uint16_t)len;
                return MQTT_ALIAS_KEPT;
        }
        s->state = MQTT_ALIAS_NOT_KEPT; /* its old bytes are free from here */
        if (t->cap - t->used < len)
                compact(t);
        if (t->cap - t->used < len)
                return MQTT_ALIAS_NOT_KEPT;
        memcpy(t->arena + t->used, topic, len);
        s->off = t->used;
        s->len = (uint16_t)len;
        s->state = MQTT_ALIAS_KEPT;
        t->used += len;
        return MQTT_ALIAS_KEPT;
}

enum mqtt_alias_state mqtt_alias__get(const struct mqtt_alias_table *t, uint16_t alias,
                                      struct mqtt_str *topic)
{
        const struct mqtt_alias_slot *s = &t->slots[alias];

        if (s->state == MQTT_ALIAS_KEPT) {
                topic->ptr = t->arena + s->off;
                topic->len = s->len;
        }
        return (enum mqtt_alias_state)s->state;
}
