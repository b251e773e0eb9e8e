/*
 * log.h: formatting, JSON escaping and the per-event rate limit. A small
 * fixed table of event names (the call sites are few); an event beyond it
 * shares the last slot.
 */
#include "core/util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_EVENTS 64

struct log_bucket {
        const char *event;
        time_t window; /* start of the current period */
        unsigned lines, suppressed;
};

static enum log_format format = LOG_TEXT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_bucket buckets[LOG_EVENTS];

void log__set_format(enum log_format f)
{
        format = f;
}

int log__parse_format(const char *s, enum log_format *out)
{
        if (!strcmp(s, "text"))
                *out = LOG_TEXT;
        else if (!strcmp(s, "json"))
                *out = LOG_JSON;
        else
                return -1;
        return 0;
}

static struct log_bucket *bucket(const char *event)
{
        for (int i = 0; i < LOG_EVENTS; i++) {
                if (!buckets[i].event) {
                        buckets[i].event = event;
                        return &buckets[i];
                }
                if (!strcmp(buckets[i].event, event))
                        return &buckets[i];
        }
        return &buckets[LOG_EVENTS - 1];
}

/* Whether a line of event may go out now; *suppressed: lines dropped before. */
static bool admit(const char *event, time_t now, unsigned *suppressed)
{
        struct log_bucket *b = bucket(event);

        if (now - b->window >= LOG_PERIOD_S) {
                b->window = now;
                b->lines = 0;
        }
        if (b->lines >= LOG_BURST) {
                b->suppressed++;
                return false;
        }
        b->lines++;
        *suppressed = b->suppressed;
        b->suppressed = 0;
        return true;
}

static void json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;

                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch == '\n')
                        fputs("\\n", f);
                else if (ch < 0x20)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

void log__msg(enum log_level level, const char *event, const char *fmt, ...)
{
        static const char *const names[] = {"error", "warn", "info"};
        char msg[2048], ts[40];
        struct timespec now;
        struct tm tm;
        unsigned suppressed = 0;
        va_list ap;

        clock_gettime(CLOCK_REALTIME, &now);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&lock);
        if (!admit(event, now.tv_sec, &suppressed)) {
                pthread_mutex_unlock(&lock);
                return;
        }
        if (format == LOG_JSON) {
                gmtime_r(&now.tv_sec, &tm);
                strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
                fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":", ts,
                        now.tv_nsec / 1000000, names[level]);
                json_string(stderr, event);
                fputs(",\"msg\":", stderr);
                json_string(stderr, msg);
                if (suppressed)
                        fprintf(stderr, ",\"suppressed\":%u", suppressed);
                fputs("}\n", stderr);
        } else {
                fprintf(stderr, "mqttlb: %s%s", level == LOG_ERROR ? "error: " : "", msg);
                if (suppressed)
                        fprintf(stderr, " (%u similar line(s) suppressed)", suppressed);
                fputc('\n', stderr);
        }
        fflush(stderr);
        pthread_mutex_unlock(&lock);
}
