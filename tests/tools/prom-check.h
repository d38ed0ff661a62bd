/*
 * A strict reader of the Prometheus text exposition format 0.0.4, for the
 * tests of akm-nmmd's /metrics (test_status.c, test_status_units.c): what
 * Prometheus's own parser refuses is refused here, and somewhat more (a
 * family's samples must follow its HELP and TYPE, together).
 *
 *   - every line ends with "\n", the last one too; no empty line;
 *   - "# HELP name text" (text escapes only \\ and \n) and "# TYPE name
 *     type" (counter, gauge, histogram, summary, untyped): each at most
 *     once per name, before the name's samples; other "# " lines are
 *     comments;
 *   - a sample: name [ "{" label="value" { "," label="value" } "}" ]
 *     SP value [ SP timestamp ]; names [a-zA-Z_:][a-zA-Z0-9_:]*, labels
 *     [a-zA-Z_][a-zA-Z0-9_]* not starting "__", no label twice; a value
 *     escapes only \\, \" and \n; the value a Go float (or NaN, +Inf,
 *     -Inf), the timestamp an integer;
 *   - a counter's or gauge's samples carry its TYPE's name; a family's
 *     samples are together; no series twice.
 */
#ifndef AKM_TEST_PROM_CHECK_H
#define AKM_TEST_PROM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* 0 when text is valid, else -1 with "line N: why" in why. */
int prom_check(const char *text, char *why, size_t whylen);

/* The value of the series written exactly as `series` (e.g.
 * "akm_nodes{state=\"suspended\"}"): true with *v, false when absent. */
bool prom_value(const char *text, const char *series, double *v);

#endif
