/*
 * The walk of a YAML document against a schema (config_walk.h): scalars read
 * strictly, every mistake one "NAME:LINE: PATH: message".
 *
 * Owns the libyaml parser and document while a file is read. Knows the value
 * types (numbers, booleans, durations, sizes, choices) and the shape rules
 * (known keys, each once, required ones present); knows nothing of what the
 * keys mean. Never prints.
 *
 * Strict on purpose: YAML 1.1 would read `yes` as true and `1883` quoted as
 * a string; a configuration is clearer when numbers, booleans, durations and
 * sizes are written plain and strings may be written either way.
 */
#include "core/config/config_walk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 512

int cfg_walk__fail(struct cfg_walk *w, int line, const char *path, const char *fmt, ...)
{
        char msg[MSG_MAX];
        va_list ap;

        if (w->err_line && w->err_line <= line)
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (w->errlen) {
                if (path && *path)
                        snprintf(w->err, w->errlen, "%s:%d: %s: %s", w->name, line, path, msg);
                else
                        snprintf(w->err, w->errlen, "%s:%d: %s", w->name, line, msg);
        }
        w->err_line = line;
        return -EINVAL;
}

const char *cfg_walk__show(const char *s, char buf[CFG_SHOW_LEN])
{
        size_t o = 0;

        buf[o++] = '"';
        for (; *s && o < CFG_SHOW_LEN - 6; s++) {
                unsigned char ch = (unsigned char)*s;

                if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
                        buf[o++] = (char)ch;
                } else {
                        if (o + 4 >= CFG_SHOW_LEN - 6)
                                break;
                        o += (size_t)snprintf(buf + o, CFG_SHOW_LEN - o, "\\x%02x", ch);
                }
        }
        if (*s) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o++] = '"';
        buf[o] = 0;
        return buf;
}

static bool is_null(const yaml_node_t *n)
{
        const char *v = (const char *)n->data.scalar.value;

        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
               !strcmp(v, "NULL");
}

/* What a node is, for "expected X, got Y": the value itself for a scalar. */
static const char *got(const yaml_node_t *n, char buf[CFG_SHOW_LEN])
{
        switch (n->type) {
        case YAML_MAPPING_NODE: return "a mapping";
        case YAML_SEQUENCE_NODE: return "a list";
        case YAML_SCALAR_NODE:
                return is_null(n) ? "nothing"
                                  : cfg_walk__show((const char *)n->data.scalar.value, buf);
        default: return "nothing";
        }
}

int cfg_walk__expected(struct cfg_walk *w, const yaml_node_t *n, const char *path, const char *what)
{
        char b[CFG_SHOW_LEN];

        return cfg_walk__fail(w, cfg_walk__line(n), path, "expected %s, got %s", what, got(n, b));
}

void cfg_walk__join(char *out, const char *path, const char *key)
{
        if (path && *path)
                snprintf(out, CFG_PATH_LEN, "%s.%s", path, key);
        else
                snprintf(out, CFG_PATH_LEN, "%s", key);
}

void cfg_walk__join_index(char *out, const char *path, uint32_t i)
{
        snprintf(out, CFG_PATH_LEN, "%s[%u]", path, i);
}

/* ---- scalars ---- */

const char *cfg_walk__text(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                           const char *what)
{
        if (n->type != YAML_SCALAR_NODE || is_null(n)) {
                cfg_walk__expected(w, n, path, what);
                return NULL;
        }
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
                cfg_walk__fail(w, cfg_walk__line(n), path, "the value holds a NUL byte");
                return NULL;
        }
        return (const char *)n->data.scalar.value;
}

/* A plain (unquoted) scalar: numbers, booleans, durations and sizes are never quoted. */
static const char *plain(struct cfg_walk *w, const yaml_node_t *n, const char *path,
                         const char *what)
{
        const char *s = cfg_walk__text(w, n, path, what);
        char b[CFG_SHOW_LEN];

        if (s && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
                cfg_walk__fail(w, cfg_walk__line(n), path,
                               "expected %s, got the quoted string %s (drop the quotes)", what,
                               cfg_walk__show(s, b));
                return NULL;
        }
        return s;
}

/* Leading decimal digits into *v; the rest of s, or NULL for none or an overflow. */
static const char *digits(const char *s, uint64_t *v)
{
        const char *p = s;

        *v = 0;
        for (; *p >= '0' && *p <= '9'; p++)
                if (__builtin_mul_overflow(*v, 10, v) ||
                    __builtin_add_overflow(*v, (uint64_t)(*p - '0'), v))
                        return NULL;
        return p == s ? NULL : p;
}

static const struct {
        const char *name;
        uint64_t us;
} UNITS[] = {
    {"h", 3600000000ull}, {"m", 60000000ull}, {"s", 1000000ull}, {"ms", 1000ull}, {"us", 1ull}};

#define NUNITS (sizeof(UNITS) / sizeof(UNITS[0]))

const char *cfg_walk__duration(uint64_t us, char buf[32])
{
        for (size_t i = 0; i < NUNITS; i++)
                if (us && us % UNITS[i].us == 0) {
                        snprintf(buf, 32, "%llu%s", (unsigned long long)(us / UNITS[i].us),
                                 UNITS[i].name);
                        return buf;
                }
        return "0";
}

static const char *fmt_size(uint64_t v, char buf[32])
{
        if (v && v % (1u << 30) == 0)
                snprintf(buf, 32, "%lluG", (unsigned long long)(v >> 30));
        else if (v && v % (1u << 20) == 0)
                snprintf(buf, 32, "%lluM", (unsigned long long)(v >> 20));
        else if (v && v % 1024 == 0)
                snprintf(buf, 32, "%lluk", (unsigned long long)(v >> 10));
        else
                snprintf(buf, 32, "%llu", (unsigned long long)v);
        return buf;
}

int cfg_walk__u32(struct cfg_walk *w, const yaml_node_t *n, const char *path, uint32_t min,
                  uint32_t max, uint32_t *out)
{
        char what[64];
        const char *s, *end;
        uint64_t v;

        snprintf(what, sizeof(what), "a whole number from %u to %u", min, max);
        if (!(s = plain(w, n, path, what)))
                return -EINVAL;
        end = digits(s, &v);
        if (!end || *end)
                return cfg_walk__expected(w, n, path, what);
        if (v < min || v > max)
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s is out of range (%u to %u)",
                                      s, min, max);
        *out = (uint32_t)v;
        return 0;
}

/*
 * A duration: digits and a unit (us, ms, s, m, h), or 0. A bare number is
 * refused: "5" could be seconds as well as milliseconds.
 */
static int get_duration(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                        const char *path, uint32_t *out)
{
        const char *what =
            f->unit_us == 1 ? "a duration (50us, 2ms, 1s)" : "a duration (500ms, 2s, 1m, 1h)";
        const char *s, *unit;
        char lo[32], hi[32], b[CFG_SHOW_LEN];
        uint64_t v, mult = 0, us;
        int line = cfg_walk__line(n);

        if (!(s = plain(w, n, path, what)))
                return -EINVAL;
        if (!(unit = digits(s, &v)))
                return cfg_walk__expected(w, n, path, what);
        if (!*unit && v)
                return cfg_walk__fail(w, line, path,
                                      "%s has no unit: write %s%s, for instance (units: us, ms, "
                                      "s, m, h)",
                                      cfg_walk__show(s, b), s, f->unit_us == 1 ? "us" : "ms");
        if (!*unit)
                mult = 1; /* 0 is 0 in any unit */
        for (size_t i = 0; *unit && i < NUNITS; i++)
                if (!strcmp(unit, UNITS[i].name))
                        mult = UNITS[i].us;
        if (!mult)
                return cfg_walk__fail(w, line, path,
                                      "%s: unknown unit '%s' (units: us, ms, s, m, h)",
                                      cfg_walk__show(s, b), unit);
        if (!__builtin_mul_overflow(v, mult, &us) && us % f->unit_us)
                return cfg_walk__fail(w, line, path, "%s is not a whole number of milliseconds", s);
        if (__builtin_mul_overflow(v, mult, &us) || us / f->unit_us < f->min ||
            us / f->unit_us > f->max)
                return cfg_walk__fail(w, line, path, "%s is out of range (%s to %s)", s,
                                      cfg_walk__duration((uint64_t)f->min * f->unit_us, lo),
                                      cfg_walk__duration((uint64_t)f->max * f->unit_us, hi));
        *out = (uint32_t)(us / f->unit_us);
        return 0;
}

/* A size: bytes, or with k, M or G (binary: 1k = 1024). */
static int get_size(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                    const char *path, uint32_t *out)
{
        const char *what = "a size (65536, 128k, 1M)";
        const char *s, *unit;
        char lo[32], hi[32], b[CFG_SHOW_LEN];
        uint64_t v, mult = 0;

        if (!(s = plain(w, n, path, what)))
                return -EINVAL;
        if (!(unit = digits(s, &v)))
                return cfg_walk__expected(w, n, path, what);
        if (!*unit)
                mult = 1;
        else if (!strcmp(unit, "k") || !strcmp(unit, "K"))
                mult = 1u << 10;
        else if (!strcmp(unit, "M") || !strcmp(unit, "m")) /* no millibytes: m is M */
                mult = 1u << 20;
        else if (!strcmp(unit, "G") || !strcmp(unit, "g"))
                mult = 1u << 30;
        else
                return cfg_walk__fail(w, cfg_walk__line(n), path,
                                      "%s: unknown unit '%s' (k, M, G, or none: bytes)",
                                      cfg_walk__show(s, b), unit);
        if (__builtin_mul_overflow(v, mult, &v) || v < f->min || v > f->max)
                return cfg_walk__fail(w, cfg_walk__line(n), path, "%s is out of range (%s to %s)",
                                      s, fmt_size(f->min, lo), fmt_size(f->max, hi));
        *out = (uint32_t)v;
        return 0;
}

/* true or false (YAML 1.2's core schema; 1.1's yes/no/on/off are refused). */
static int get_bool(struct cfg_walk *w, const yaml_node_t *n, const char *path, bool *out)
{
        const char *s = plain(w, n, path, "true or false");

        if (!s)
                return -EINVAL;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
                *out = true;
        else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
                *out = false;
        else
                return cfg_walk__expected(w, n, path, "true or false");
        return 0;
}

static int get_choice(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *n,
                      const char *path, int *out)
{
        char names[128] = "", b[CFG_SHOW_LEN];
        const char *s = cfg_walk__text(w, n, path, "a name");
        size_t o = 0;

        if (!s)
                return -EINVAL;
        for (const struct cfg_choice *c = f->choices; c->name; c++) {
                if (!strcmp(s, c->name)) {
                        *out = c->value;
                        return 0;
                }
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "", c->name);
        }
        return cfg_walk__fail(w, cfg_walk__line(n), path, "%s is not one of: %s",
                              cfg_walk__show(s, b), names);
}

int cfg_walk__set_str(char **slot, const char *s)
{
        char *d = strdup(s);

        if (!d)
                return -ENOMEM;
        free(*slot);
        *slot = d;
        return 0;
}

/* ---- mappings and lists ---- */

/* Edit distance of short strings, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b), row[33];

        if (la > 32 || lb > 32)
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];

                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        if (up + 1 < best)
                                best = up + 1;
                        diag = up;
                        row[j] = best;
                }
        }
        return row[lb];
}

static int unknown_key(struct cfg_walk *w, const yaml_node_t *k, const struct cfg_schema *s,
                       const char *path)
{
        char known[512] = "", hint[96] = "", b[CFG_SHOW_LEN];
        const char *key = (const char *)k->data.scalar.value;
        size_t o = 0, best = 3;

        for (size_t i = 0; i < s->n; i++) {
                size_t d = distance(key, s->fields[i].key);

                o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", i ? ", " : "",
                                      s->fields[i].key);
                if (d < best && d < strlen(key)) {
                        best = d;
                        snprintf(hint, sizeof(hint), "did you mean '%s'? ", s->fields[i].key);
                }
        }
        return cfg_walk__fail(w, cfg_walk__line(k), path, "unknown key %s (%sknown keys here: %s)",
                              cfg_walk__show(key, b), hint, known);
}

static int set_field(struct cfg_walk *w, const struct cfg_field *f, const yaml_node_t *v, void *obj,
                     const char *path)
{
        char *at = (char *)obj + f->off;
        const char *s;
        int e, choice = 0;

        switch (f->type) {
        case CFG_T_U32: return cfg_walk__u32(w, v, path, f->min, f->max, (uint32_t *)(void *)at);
        case CFG_T_BOOL: return get_bool(w, v, path, (bool *)at);
        case CFG_T_STR:
                if (!(s = cfg_walk__text(w, v, path, "a string")))
                        return -EINVAL;
                if (!*s)
                        return cfg_walk__fail(w, cfg_walk__line(v), path, "an empty string");
                return cfg_walk__set_str((char **)(void *)at, s);
        case CFG_T_DURATION: return get_duration(w, f, v, path, (uint32_t *)(void *)at);
        case CFG_T_SIZE: return get_size(w, f, v, path, (uint32_t *)(void *)at);
        case CFG_T_CHOICE:
                if ((e = get_choice(w, f, v, path, &choice)))
                        return e;
                memcpy(at, &choice, sizeof(choice)); /* int-sized enums (the caller asserts it) */
                return 0;
        case CFG_T_MAP: return cfg_walk__map(w, v, f->sub, obj, path);
        case CFG_T_FN: return f->fn(w, f, v, obj, path);
        }
        return -EINVAL;
}

int cfg_walk__map(struct cfg_walk *w, const yaml_node_t *n, const struct cfg_schema *s, void *obj,
                  const char *path)
{
        const yaml_node_t *seen[CFG_SCHEMA_MAX] = {0};
        char sub[CFG_PATH_LEN], b[CFG_SHOW_LEN];
        int e;

        if (s->n > CFG_SCHEMA_MAX)
                return -EINVAL;
        if (n->type != YAML_MAPPING_NODE)
                return cfg_walk__expected(w, n, path, "a mapping (key: value)");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                const yaml_node_t *k = cfg_walk__node(w, p->key), *v = cfg_walk__node(w, p->value);
                const char *key;
                size_t i;

                if (k->type != YAML_SCALAR_NODE || is_null(k))
                        return cfg_walk__fail(w, cfg_walk__line(k), path,
                                              "keys are plain names, not %s", got(k, b));
                key = (const char *)k->data.scalar.value;
                for (i = 0; i < s->n && strcmp(key, s->fields[i].key); i++)
                        ;
                if (i == s->n)
                        return unknown_key(w, k, s, path);
                cfg_walk__join(sub, path, key);
                if (seen[i])
                        return cfg_walk__fail(w, cfg_walk__line(k), sub,
                                              "given twice (first at line %d)",
                                              cfg_walk__line(seen[i]));
                seen[i] = k;
                if ((e = set_field(w, &s->fields[i], v, obj, sub)))
                        return e;
        }
        for (size_t i = 0; i < s->n; i++)
                if (s->fields[i].required && !seen[i])
                        return cfg_walk__fail(w, cfg_walk__line(n), path, "missing key '%s' (%s)",
                                              s->fields[i].key, s->fields[i].doc);
        return 0;
}

int cfg_walk__items(struct cfg_walk *w, const yaml_node_t *n, const char *path, uint32_t min,
                    uint32_t max, const char *one, yaml_node_item_t **first, uint32_t *count)
{
        char exp[96];
        size_t k;

        *count = 0;
        *first = NULL;
        if (!is_null(n)) {
                if (n->type != YAML_SEQUENCE_NODE) {
                        snprintf(exp, sizeof(exp), "a list (of %s entries)", one);
                        return cfg_walk__expected(w, n, path, exp);
                }
                k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
                if (k > max)
                        return cfg_walk__fail(
                            w, cfg_walk__line(cfg_walk__node(w, n->data.sequence.items.start[max])),
                            path, "at most %u entries (this is one more)", max);
                *count = (uint32_t)k;
                *first = n->data.sequence.items.start;
        }
        if (*count < min)
                return cfg_walk__fail(w, cfg_walk__line(n), path, "empty: needs at least one %s",
                                      one);
        return 0;
}

const yaml_node_t *cfg_walk__find(struct cfg_walk *w, const yaml_node_t *n, const char *key,
                                  int *key_line)
{
        if (!n || n->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                const yaml_node_t *k = cfg_walk__node(w, p->key);

                if (k->type == YAML_SCALAR_NODE &&
                    !strcmp((const char *)k->data.scalar.value, key)) {
                        if (key_line)
                                *key_line = cfg_walk__line(k);
                        return cfg_walk__node(w, p->value);
                }
        }
        return NULL;
}

/* ---- the document ---- */

/* The line of a byte offset (reader errors carry an offset, not a mark). */
static int line_at(const struct cfg_walk *w, size_t off)
{
        int line = 1;

        for (size_t i = 0; i < off && i < w->textlen; i++)
                line += w->text[i] == '\n';
        return line;
}

static int parse_failed(struct cfg_walk *w, const yaml_parser_t *p)
{
        const char *problem = p->problem ? p->problem : "syntax error";

        switch (p->error) {
        case YAML_MEMORY_ERROR: return -ENOMEM;
        case YAML_READER_ERROR:
                return cfg_walk__fail(w, line_at(w, p->problem_offset), NULL,
                                      "YAML: %s (byte %zu; the file must be UTF-8 text)", problem,
                                      p->problem_offset);
        default:
                if (p->context)
                        return cfg_walk__fail(w, (int)p->problem_mark.line + 1, NULL,
                                              "YAML: %s (%s at line %d)", problem, p->context,
                                              (int)p->context_mark.line + 1);
                return cfg_walk__fail(w, (int)p->problem_mark.line + 1, NULL, "YAML: %s", problem);
        }
}

int cfg_walk__load(struct cfg_walk *w, const yaml_node_t **root)
{
        yaml_parser_t parser;
        yaml_document_t extra;
        int e = 0;

        *root = NULL;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)w->text, w->textlen);
        if (!yaml_parser_load(&parser, &w->doc)) {
                e = parse_failed(w, &parser);
                yaml_parser_delete(&parser);
                return e;
        }
        w->loaded = true;
        *root = yaml_document_get_root_node(&w->doc);
        if (*root) { /* one document, and only one */
                if (!yaml_parser_load(&parser, &extra)) {
                        e = parse_failed(w, &parser);
                } else {
                        if (yaml_document_get_root_node(&extra))
                                e = cfg_walk__fail(w, (int)extra.start_mark.line + 1, NULL,
                                                   "a second YAML document: the configuration is "
                                                   "one document");
                        yaml_document_delete(&extra);
                }
        }
        yaml_parser_delete(&parser);
        return e;
}

void cfg_walk__done(struct cfg_walk *w)
{
        if (w->loaded)
                yaml_document_delete(&w->doc);
        w->loaded = false;
}
