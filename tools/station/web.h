/*
 * akm-nmmd's status page (docs/akm-nmmd.md, "Status page"): a small,
 * strict, read-only HTTP/1.1 server inside the service's epoll loop.  One
 * request per connection (answered with "Connection: close"), GET and HEAD
 * only, the head parsed by lib/http.h, bounded buffers and a deadline per
 * connection, at most NMM_WEB_CONNS connections.  Every page needs the
 * token: "Authorization: Bearer <token>", or the cookie set by visiting
 * /?token=<token> once.  The figures are gathered by status.c at most once
 * a second, however often the pages are asked for, in steps between which
 * the service goes on serving the nodes.
 *
 *   /             the HTML page (inline CSS and SVG, no script, no external resource)
 *   /metrics      Prometheus text format 0.0.4
 *   /status.json  akm-nmm status --json
 */
#ifndef AKM_TOOLS_STATION_WEB_H
#define AKM_TOOLS_STATION_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include "station/station.h"

#define NMM_WEB_CONNS 32          /* open connections at most */
#define NMM_WEB_TIMEOUT_MS 5000   /* a connection's whole life: request read, answer sent */
#define NMM_WEB_CACHE_MS 1000     /* figures answered as they are for this long */
#define NMM_WEB_STEP_NODES 1000   /* PRs read per sweep (100 ms) while gathering again */
#define NMM_WEB_TOKEN_MIN 16      /* the token: 16-128 characters of A-Z a-z 0-9 - . _ ~ */
#define NMM_WEB_NODES_SHOWN 100   /* node rows on the page */

typedef struct nmm_web nmm_web;

typedef struct nmm_web_opts {
	const char *listen;        /* HOST:PORT, [IPv6]:PORT or unix:PATH */
	bool allow_remote;         /* a non-loopback address is refused unless this is set */
	const akm_secret *token;   /* copied into locked memory */
	uint64_t stale_after;      /* seconds (0: the default) */
} nmm_web_opts;

/* Checks the options before anything starts: 0, or -1 with a sentence in
 * err (a non-loopback address without allow_remote, a token of the wrong
 * form). */
int nmm_web_check(const nmm_web_opts *o, char *err, size_t errlen);
/* Listens and registers with the epoll set `ep` (its events' data.ptr are
 * the web's own: nmm_web_owns).  NULL with err. */
nmm_web *nmm_web_new(nmm_station *s, int ep, const nmm_web_opts *o, char *err, size_t errlen);
/* The stale-after setting (reloaded with the configuration). */
void nmm_web_set_stale_after(nmm_web *w, uint64_t seconds);
/* The URL the page is at ("http://127.0.0.1:PORT/", "unix:PATH"). */
void nmm_web_url(const nmm_web *w, char *out, size_t cap);
/* Whether an epoll event's data.ptr is the web's; if so, handles it. */
bool nmm_web_event(nmm_web *w, void *ptr, uint32_t events);
/* Every 100 ms: the next step of a gathering in progress; closes the
 * connections past their deadline. */
void nmm_web_sweep(nmm_web *w);
/* The station was opened again (--token-refresh): a gathering in
 * progress, holding object handles of before, is dropped. */
void nmm_web_station_reopened(nmm_web *w);
/* Stops listening (the service is stopping); the connections are closed. */
void nmm_web_free(nmm_web *w);

/* The responses, without a socket (tests/unit, the fuzz of the page):
 * the whole answer to the request head in buf[0..len), malloc'd into
 * *out (*out_len bytes).  `now_ms` is the monotonic clock. */
void nmm_web_answer(nmm_web *w, const char *buf, size_t len, uint64_t now_ms, char **out, size_t *out_len);

#endif
