/*
 * A YAML document (libyaml) walked against a schema of our own: the generic
 * half of the configuration reader. config.c holds mqttlb's schema and the
 * checks across sections; this part knows nothing of mqttlb.
 *
 * Owns the parsed document while it is loaded and the message: every mistake
 * becomes one "NAME:LINE: PATH: message" in the caller's buffer. Private to
 * core/config*.c. Never prints.
 */
#ifndef MQTTLB_CORE_CONFIG_WALK_H
#define MQTTLB_CORE_CONFIG_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define CFG_PATH_LEN 128 /* "pools[12].brokers[3].address" */
#define CFG_SHOW_LEN 72  /* a value quoted in a message */

struct cfg_walk {
        const char *name; /* the file, for messages */
        const char *text; /* the input (reader errors give a byte offset, not a line) */
        size_t textlen;
        char *err;
        size_t errlen;
        int err_line; /* of the message in err; 0: none yet */
        void *user;   /* the caller's context, for its handlers */
        yaml_document_t doc;
        bool loaded;
};

enum cfg_type {
        CFG_T_U32,      /* uint32_t, min..max */
        CFG_T_BOOL,     /* bool: true or false */
        CFG_T_STR,      /* char *, not empty (replaces what is there) */
        CFG_T_DURATION, /* uint32_t in units of unit_us microseconds, min..max */
        CFG_T_SIZE,     /* uint32_t bytes (k, M, G: binary), min..max */
        CFG_T_CHOICE,   /* an int-sized enum, one of choices */
        CFG_T_MAP,      /* a nested mapping that fills the same object */
        CFG_T_FN,       /* the handler does it */
};

struct cfg_choice {
        const char *name;
        int value;
};

struct cfg_field;
typedef int cfg_field_fn(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                         void *obj, const char *path);

struct cfg_schema {
        const struct cfg_field *fields;
        size_t n; /* at most CFG_SCHEMA_MAX */
};

#define CFG_SCHEMA_MAX 24

/* One key of a mapping: what it holds, where it goes, its limits, what it is. */
struct cfg_field {
        const char *key;
        enum cfg_type type;
        size_t off; /* in the object the mapping fills */
        uint32_t min, max;
        uint32_t unit_us;                 /* CFG_T_DURATION: 1000 (milliseconds) or 1 */
        const struct cfg_choice *choices; /* CFG_T_CHOICE: up to a NULL name */
        const struct cfg_schema *sub;     /* CFG_T_MAP */
        cfg_field_fn *fn;                 /* CFG_T_FN */
        bool required;
        const char *doc; /* what the value is: "missing key" messages say it */
};

/* Schema rows: key, offset, limits, doc. */
#define CFG_U32(k, o, lo, hi, d)                                                      \
        {                                                                             \
                .key = k, .type = CFG_T_U32, .off = o, .min = lo, .max = hi, .doc = d \
        }
#define CFG_MS(k, o, lo, hi, d)                                                                    \
        {                                                                                          \
                .key = k, .type = CFG_T_DURATION, .off = o, .min = lo, .max = hi, .unit_us = 1000, \
                .doc = d                                                                           \
        }
#define CFG_US(k, o, lo, hi, d)                                                                 \
        {                                                                                       \
                .key = k, .type = CFG_T_DURATION, .off = o, .min = lo, .max = hi, .unit_us = 1, \
                .doc = d                                                                        \
        }
#define CFG_SIZE(k, o, lo, hi, d)                                                      \
        {                                                                              \
                .key = k, .type = CFG_T_SIZE, .off = o, .min = lo, .max = hi, .doc = d \
        }
#define CFG_BOOL(k, o, d)                                        \
        {                                                        \
                .key = k, .type = CFG_T_BOOL, .off = o, .doc = d \
        }
#define CFG_STR(k, o, d)                                        \
        {                                                       \
                .key = k, .type = CFG_T_STR, .off = o, .doc = d \
        }
#define CFG_CHOICE(k, o, ch, d)                                                   \
        {                                                                         \
                .key = k, .type = CFG_T_CHOICE, .off = o, .choices = ch, .doc = d \
        }
#define CFG_MAP(k, s, d)                                        \
        {                                                       \
                .key = k, .type = CFG_T_MAP, .sub = s, .doc = d \
        }
#define CFG_FN(k, o, f, d)                                              \
        {                                                               \
                .key = k, .type = CFG_T_FN, .off = o, .fn = f, .doc = d \
        }
#define CFG_REQUIRED(k, o, f, d)                                                          \
        {                                                                                 \
                .key = k, .type = CFG_T_FN, .off = o, .fn = f, .required = true, .doc = d \
        }
#define CFG_SCHEMA(rows)                             \
        {                                            \
                rows, sizeof(rows) / sizeof(rows[0]) \
        }

/*
 * Parses w->text (textlen bytes) into w->doc: *root is the root node of its
 * one document. -EINVAL with the message for a YAML error, an empty stream
 * or a second document; -ENOMEM. cfg_walk__done frees the document.
 */
int cfg_walk__load(struct cfg_walk *w, const yaml_node_t **root);
void cfg_walk__done(struct cfg_walk *w);

/*
 * Sets the message unless one nearer the top of the file is there already
 * (checks that all run report the first mistake in the file). path names the
 * key or the list item; "" or NULL for the top level. Returns -EINVAL.
 */
__attribute__((format(printf, 4, 5))) int cfg_walk__fail(struct cfg_walk *w, int line,
                                                         const char *path, const char *fmt, ...);
/* "expected WHAT, got VALUE" at n. */
int cfg_walk__expected(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                       const char *what);

static inline int cfg_walk__line(const yaml_node_t *n)
{
        return (int)n->start_mark.line + 1;
}

static inline const yaml_node_t *cfg_walk__node(struct cfg_walk *w, int id)
{
        return yaml_document_get_node(&w->doc, id);
}

/* s in quotes for a message: control and non-ASCII bytes escaped, long values cut. */
const char *cfg_walk__show(const char *s, char buf[CFG_SHOW_LEN]);
/* "path.key" and "path[i]" into out (CFG_PATH_LEN bytes). */
void cfg_walk__join(char *out, const char *path, const char *key);
void cfg_walk__join_index(char *out, const char *path, uint32_t i);
/* "90s", "1m", "500ms", "50us": the largest unit that divides us exactly. */
const char *cfg_walk__duration(uint64_t us, char buf[32]);

/* The text of a scalar that is not null and holds no NUL byte; else NULL after the message. */
const char *cfg_walk__text(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                           const char *what);
/* A whole number in min..max, unquoted. */
int cfg_walk__u32(struct cfg_walk *w, const yaml_node_t *n, const char *path, uint32_t min,
                  uint32_t max, uint32_t *out);
/* strdup into *slot, freeing what was there. -ENOMEM. */
int cfg_walk__set_str(char **slot, const char *s);

/*
 * Fills obj from the mapping n after schema s, in file order: every key
 * known (else the message lists the known ones), given once, of its type and
 * within its limits, and the required ones present.
 */
int cfg_walk__map(struct cfg_walk *w, const yaml_node_t *n, const struct cfg_schema *s, void *obj,
                  const char *path);

/*
 * The items of list n, at least min (0 or 1) and at most max; a null value
 * counts as an empty list, so "brokers:" says what "brokers: []" says. one
 * names an item in messages ("broker").
 */
int cfg_walk__items(struct cfg_walk *w, const yaml_node_t *n, const char *path, uint32_t min,
                    uint32_t max, const char *one, yaml_node_item_t **first, uint32_t *count);

/*
 * The value of key in mapping n, or NULL (also when n is NULL or not a
 * mapping); *key_line (when not NULL) is the line of the key.
 */
const yaml_node_t *cfg_walk__find(struct cfg_walk *w, const yaml_node_t *n, const char *key,
                                  int *key_line);

#endif
