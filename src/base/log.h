/* log.h - log lines on standard error in Istio's layout:
 *
 *   2026-12-01T06:54:27.123456Z\tinfo\tmessage
 *
 * Standard output stays clean for data (dry-run listings, manifests). The
 * level threshold is the one piece of process-wide state: it is set once by
 * main() (from --log_output_level style flags) before any work starts. */
#ifndef SKIFF_BASE_LOG_H
#define SKIFF_BASE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_NONE };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
