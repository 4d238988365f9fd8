/* log.h: one-line log records on stderr, prefixed with time, level and core.
 *
 * Owns only a thread-local core id (set once when a worker starts) so records say which
 * core wrote them. Log once, at the layer that decides what an error means.
 */
#ifndef RINGROOM_LOG_H
#define RINGROOM_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_core(int core);                  /* -1 = main thread */
void log_set_level(enum log_level min);       /* call before threads start */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
