/*
 * Operator logs: one line per event that matters (start, stop, broker up or
 * down, reload, errors), never per packet. Text ("mqttlb: message") or JSON
 * lines ({"ts":…,"level":…,"event":…,"msg":…}) on stderr, chosen once at
 * start. Each event name is rate-limited (a burst of LOG_BURST lines, then
 * one per LOG_PERIOD_S); the next line that passes says how many were
 * suppressed. Thread-safe; allocation-free; never on the worker path.
 */
#ifndef MQTTLB_CORE_LOG_H
#define MQTTLB_CORE_LOG_H

#include <stdbool.h>

enum log_format { LOG_TEXT, LOG_JSON };
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO };

#define LOG_BURST    10
#define LOG_PERIOD_S 10

void log__set_format(enum log_format f);
/* "text" or "json"; -1 for anything else. */
int log__parse_format(const char *s, enum log_format *out);

/* event: a short stable name scripts can match ("broker_down", "reload"). */
void log__msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log__info(ev, ...)  log__msg(LOG_INFO, ev, __VA_ARGS__)
#define log__warn(ev, ...)  log__msg(LOG_WARN, ev, __VA_ARGS__)
#define log__error(ev, ...) log__msg(LOG_ERROR, ev, __VA_ARGS__)

#endif
