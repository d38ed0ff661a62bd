/*
 * akm-nmmd's status page (web.h): the listening socket and connections in
 * the service's epoll loop, authentication, and the three pages over one
 * gathering of status.c's figures.
 */
#define _POSIX_C_SOURCE 200809L
#include "station/web.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include "lib/hex.h"
#include "lib/http.h"
#include "shared/net.h"

typedef struct web_conn {
	int fd;
	bool used;
	char in[AKM_HTTP_HEAD_MAX];
	size_t in_len;
	char *out;                 /* the whole answer, malloc'd */
	size_t out_len, out_off;
	uint64_t deadline;
} web_conn;

/* What is kept of the token: its keyed hash (compared in constant time,
 * whatever the length given) and the cookie's value, in locked memory. */
typedef struct web_secrets {
	uint8_t key[crypto_generichash_KEYBYTES];
	uint8_t token_hash[32];
	char session[65];          /* hex of BLAKE2b(key, "session" || token) */
} web_secrets;

struct nmm_web {
	nmm_station *s;
	int ep, lfd;
	struct sockaddr_storage addr;
	web_conn conns[NMM_WEB_CONNS];
	web_secrets *sec;
	uint64_t stale_after;
	/* the figures, gathered at most every NMM_WEB_CACHE_MS */
	nmm_status st;
	bool have_st;
	uint64_t st_at;            /* gathered when */
	nmm_status_run *run;       /* the next gathering, in steps (nmm_web_sweep) */
	nmm_status_totals totals;
};

/* ---- options and start ---- */

static bool token_chars(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
		      c == '.' || c == '_' || c == '~'))
			return false;
	}
	return true;
}

int nmm_web_check(const nmm_web_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char why[512];
	if (akm_net_resolve(o->listen, true, &ss, &sl, why, sizeof why) != 0) {
		snprintf(err, errlen, "--status-listen %s", why);
		return -1;
	}
	if (!akm_net_is_local(&ss) && !o->allow_remote) {
		snprintf(err, errlen,
		         "--status-listen %s: not a loopback address; the page is for this machine (an SSH tunnel "
		         "reaches it from another) unless --status-allow-remote is given",
		         o->listen);
		return -1;
	}
	if (o->token == NULL || o->token->data == NULL) {
		snprintf(err, errlen, "--status-listen needs --status-token-file (the page's token)");
		return -1;
	}
	if (o->token->len < NMM_WEB_TOKEN_MIN || o->token->len > AKM_HTTP_TOKEN_MAX ||
	    !token_chars(o->token->data, o->token->len)) {
		snprintf(err, errlen,
		         "--status-token-file: the token must be %d-%d characters of A-Z a-z 0-9 - . _ ~ "
		         "(e.g. from: head -c 32 /dev/urandom | base64 | tr -dc A-Za-z0-9)",
		         NMM_WEB_TOKEN_MIN, AKM_HTTP_TOKEN_MAX);
		return -1;
	}
	return 0;
}

static void token_hash(const web_secrets *sec, const char *t, size_t n, uint8_t out[32])
{
	crypto_generichash(out, 32, (const uint8_t *)t, n, sec->key, sizeof sec->key);
}

nmm_web *nmm_web_new(nmm_station *s, int ep, const nmm_web_opts *o, char *err, size_t errlen)
{
	if (nmm_web_check(o, err, errlen) != 0)
		return NULL;
	nmm_web *w = calloc(1, sizeof *w);
	if (w == NULL) {
		snprintf(err, errlen, "the status page: out of memory");
		return NULL;
	}
	w->s = s;
	w->ep = ep;
	w->lfd = -1;
	w->stale_after = o->stale_after;
	w->sec = sodium_malloc(sizeof *w->sec);
	if (w->sec == NULL) {
		free(w);
		snprintf(err, errlen, "the status page: no locked memory for its token");
		return NULL;
	}
	randombytes_buf(w->sec->key, sizeof w->sec->key);
	token_hash(w->sec, o->token->data, o->token->len, w->sec->token_hash);
	uint8_t sess[32];
	crypto_generichash_state h;
	crypto_generichash_init(&h, w->sec->key, sizeof w->sec->key, sizeof sess);
	crypto_generichash_update(&h, (const uint8_t *)"session", 7);
	crypto_generichash_update(&h, (const uint8_t *)o->token->data, o->token->len);
	crypto_generichash_final(&h, sess, sizeof sess);
	akm_hex_encode(sess, sizeof sess, w->sec->session);
	sodium_memzero(sess, sizeof sess);
	w->lfd = akm_net_listen(o->listen, 64, err, errlen);
	if (w->lfd < 0) {
		nmm_web_free(w);
		return NULL;
	}
	socklen_t sl = sizeof w->addr;
	getsockname(w->lfd, (struct sockaddr *)&w->addr, &sl);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, w->lfd, &ev);
	return w;
}

void nmm_web_set_stale_after(nmm_web *w, uint64_t seconds)
{
	w->stale_after = seconds;
	w->have_st = false;
}

void nmm_web_url(const nmm_web *w, char *out, size_t cap)
{
	char host[64];
	akm_net_peer(&w->addr, host);
	if (w->addr.ss_family == AF_INET)
		snprintf(out, cap, "http://%s:%u/", host, ntohs(((const struct sockaddr_in *)&w->addr)->sin_port));
	else if (w->addr.ss_family == AF_INET6)
		snprintf(out, cap, "http://[%s]:%u/", host, ntohs(((const struct sockaddr_in6 *)&w->addr)->sin6_port));
	else
		snprintf(out, cap, "unix:%s", ((const struct sockaddr_un *)&w->addr)->sun_path);
}

static void conn_close(nmm_web *w, web_conn *c)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->used = false;
}

void nmm_web_free(nmm_web *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < NMM_WEB_CONNS; i++)
		if (w->conns[i].used)
			conn_close(w, &w->conns[i]);
	if (w->lfd >= 0) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, w->lfd, NULL);
		close(w->lfd);
		if (w->addr.ss_family == AF_UNIX)
			unlink(((struct sockaddr_un *)&w->addr)->sun_path);
	}
	if (w->have_st)
		nmm_status_free(&w->st);
	nmm_status_abort(w->run);
	sodium_free(w->sec);
	free(w);
}

/* ---- answers ---- */

static const char security_headers[] =
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"X-Frame-Options: DENY\r\n"
	"Referrer-Policy: no-referrer\r\n"
	"Cache-Control: no-store\r\n";

/* The whole answer: status line, headers, and the body unless HEAD. */
static void respond(char **out, size_t *out_len, int code, const char *reason, const char *ctype, const char *extra,
                    const char *body, size_t body_len, bool head)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	FILE *f = open_memstream(out, out_len);
	if (f == NULL) {
		*out = NULL;
		*out_len = 0;
		return;
	}
	fprintf(f,
	        "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: akm-nmmd\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	        "Connection: close\r\n%s%s\r\n",
	        code, reason, date, ctype, body_len, security_headers, extra ? extra : "");
	if (!head && body_len > 0)
		fwrite(body, 1, body_len, f);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
}

static void plain(char **out, size_t *out_len, int code, const char *reason, const char *extra, const char *text,
                  bool head)
{
	respond(out, out_len, code, reason, "text/plain; charset=utf-8", extra, text, strlen(text), head);
}

static bool token_ok(const nmm_web *w, const char *t)
{
	uint8_t h[32];
	token_hash(w->sec, t, strlen(t), h);
	bool ok = sodium_memcmp(h, w->sec->token_hash, 32) == 0;
	sodium_memzero(h, sizeof h);
	return ok;
}

static bool cookie_ok(const nmm_web *w, const char *c)
{
	return strlen(c) == 64 && sodium_memcmp(c, w->sec->session, 64) == 0;
}

/* A finished gathering replaces the figures. */
static void install(nmm_web *w, uint64_t now_ms)
{
	nmm_status st;
	int code = nmm_status_finish(w->run, &st);
	w->run = NULL;
	if (code != AKM_RC_OK)
		return; /* reported; the previous figures stay */
	if (w->have_st)
		nmm_status_free(&w->st);
	w->st = st;
	w->have_st = true;
	w->st_at = now_ms;
}

/* The figures for a request.  Fresh ones (younger than NMM_WEB_CACHE_MS)
 * as they are; older ones while the next gathering runs in steps of
 * NMM_WEB_STEP_NODES PRs, one every sweep (100 ms), so that a station of
 * any size never stops the service for long; the very first one at once.
 * NULL when there are none. */
static const nmm_status *figures(nmm_web *w, uint64_t now_ms)
{
	if (w->have_st && now_ms - w->st_at < NMM_WEB_CACHE_MS)
		return &w->st;
	if (w->run == NULL) {
		nmm_status_opts o = {.stale_after = w->stale_after, .totals = &w->totals};
		if (nmm_status_begin(w->s, &o, "status page", &w->run) != AKM_RC_OK)
			return w->have_st ? &w->st : NULL;
	}
	if (!w->have_st)
		install(w, now_ms);
	return w->have_st ? &w->st : NULL;
}

static void gather_step(nmm_web *w)
{
	if (w->run == NULL)
		return;
	int done = nmm_status_step(w->run, NMM_WEB_STEP_NODES);
	if (done < 0) {
		nmm_status_abort(w->run);
		w->run = NULL;
	} else if (done == 1) {
		install(w, akm_net_now_ms());
	}
}

void nmm_web_station_reopened(nmm_web *w)
{
	if (w != NULL && w->run != NULL) {
		nmm_status_abort(w->run);
		w->run = NULL;
	}
}

/* ---- the HTML page ---- */

static void h(FILE *f, const char *text)
{
	char esc[6 * 256 + 1];
	if (akm_html_escape(text, esc, sizeof esc))
		fputs(esc, f);
	else
		fputs("&#x2026;", f);
}

static void when(uint64_t t, char out[32], bool with_date)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm) == 0)
		snprintf(out, 32, "never");
}

static const char page_css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f6f8;"
	"color:#1d2733}"
	"header{background:#1d2733;color:#fff;padding:14px 28px}"
	"header h1{font-size:19px;margin:0;font-weight:600}header p{margin:2px 0 0;color:#b8c4d0;font-size:13px}"
	"main{padding:18px 28px;max-width:1200px}"
	".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(108px,1fr));gap:12px;margin-bottom:18px}"
	".card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002}"
	".card b{display:block;font-size:24px;font-weight:600}.card span{color:#5b6b7b;font-size:12px;"
	"text-transform:uppercase;letter-spacing:.04em}"
	".card.bad{border-left:4px solid #c62828}.card.warn{border-left:4px solid #ef8f00}"
	".card.ok{border-left:4px solid #2e7d32}"
	"section{background:#fff;border-radius:8px;padding:12px 18px 16px;margin-bottom:18px;"
	"box-shadow:0 1px 2px #0002}"
	"h2{font-size:15px;margin:4px 0 10px}h2 small{font-weight:400;color:#5b6b7b}"
	"table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 10px 5px 0;"
	"border-bottom:1px solid #e6eaee;vertical-align:top}"
	"th{font-size:12px;color:#5b6b7b;font-weight:600;text-transform:uppercase;letter-spacing:.03em}"
	"td.num,th.num{text-align:right}td.nowrap{white-space:nowrap}"
	"td.detail{color:#46525e;font-size:12.5px;overflow-wrap:anywhere;font-family:ui-monospace,monospace}"
	".tag{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600}"
	".t-quarantined{background:#fde0e0;color:#a31515}.t-stale{background:#fff0d6;color:#9a5b00}"
	".t-pending{background:#e3ecfb;color:#1f4fa3}.t-revoked{background:#eceff1;color:#455a64}"
	".t-unheard{background:#f1f3f5;color:#5b6b7b}.t-ok{background:#e3f4e5;color:#1e6b26}"
	".bar{background:#e6eaee;border-radius:4px;height:8px;width:120px;display:inline-block;"
	"vertical-align:middle;margin-right:8px}.bar i{display:block;height:8px;border-radius:4px;"
	"background:#2e7d32}"
	"p.note{color:#5b6b7b;font-size:12.5px;margin:8px 0 0}footer{color:#5b6b7b;font-size:12px;"
	"padding:0 28px 24px}";

static const char *rank_tag(nmm_status_rank r, const char **cls)
{
	switch (r) {
	case NMM_STATUS_QUARANTINED: *cls = "t-quarantined"; return "quarantined";
	case NMM_STATUS_STALE: *cls = "t-stale"; return "stale";
	case NMM_STATUS_PENDING: *cls = "t-pending"; return "pending approval";
	case NMM_STATUS_REVOKED: *cls = "t-revoked"; return "revoked";
	case NMM_STATUS_UNHEARD: *cls = "t-unheard"; return "not checked in";
	case NMM_STATUS_OK: break;
	}
	*cls = "t-ok";
	return "ok";
}

static void card(FILE *f, const char *cls, uint64_t v, const char *label)
{
	fprintf(f, "<div class=\"card %s\"><b>%llu</b><span>%s</span></div>", cls, (unsigned long long)v, label);
}

static void chart(FILE *f, const nmm_status *st)
{
	const int W = 1140, H = 160, top = 12, left = 34, bottom = 22;
	uint32_t max = 1;
	for (size_t i = 0; i < NMM_STATUS_BUCKETS; i++)
		if (st->chart[i] > max)
			max = st->chart[i];
	double bw = (double)(W - left) / NMM_STATUS_BUCKETS, ph = H - top - bottom;
	fprintf(f, "<svg role=\"img\" aria-label=\"breach signals per %llu s\" width=\"%d\" height=\"%d\" "
	           "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\" "
	           "font-family=\"system-ui,sans-serif\">",
	        (unsigned long long)st->bucket_seconds, W, H, W, H);
	/* grid lines at 0, the middle (when a whole number) and the top */
	for (int g = 0; g <= 2; g++) {
		if (g == 1 && (max < 2 || max % 2 != 0))
			continue;
		double y = top + ph - ph * g / 2.0;
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6eaee\"/>", left, W, y, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#5b6b7b\">%u</text>", left - 6, y + 4,
		        g == 0 ? 0 : g == 1 ? max / 2 : max);
	}
	for (size_t i = 0; i < NMM_STATUS_BUCKETS; i++) {
		double bh = ph * st->chart[i] / max;
		char t[32];
		when(st->chart_start + i * st->bucket_seconds, t, false);
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"1.5\">"
		           "<title>%s UTC: %u</title></rect>",
		        left + i * bw + 1, top + ph - bh, bw - 2, bh, st->chart[i] ? "#c62828" : "#c9d1d9", t, st->chart[i]);
	}
	uint64_t span = st->bucket_seconds * NMM_STATUS_BUCKETS;
	fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#5b6b7b\">&#x2212;%llu min</text>", left, H - 5,
	        (unsigned long long)(span / 60));
	fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#5b6b7b\">&#x2212;%llu min</text>",
	        left + (W - left) / 2.0, H - 5, (unsigned long long)(span / 120));
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#5b6b7b\">now</text></svg>", W, H - 5);
}

static void records(FILE *f, const char *title, const nmm_status_record *r, size_t n, const char *none)
{
	fprintf(f, "<section><h2>%s <small>(newest first)</small></h2>", title);
	if (n == 0) {
		fprintf(f, "<p class=\"note\">%s</p></section>", none);
		return;
	}
	fputs("<table><thead><tr><th>Time (UTC)</th><th>#</th><th>Kind</th><th>Node</th><th>Detail</th></tr>"
	      "</thead><tbody>",
	      f);
	for (size_t i = 0; i < n; i++) {
		char t[32];
		when(r[i].time, t, true);
		fprintf(f, "<tr><td class=\"nowrap\">%s</td><td class=\"num\">%llu</td><td class=\"nowrap\">", t,
		        (unsigned long long)r[i].seq);
		h(f, r[i].kind);
		fputs("</td><td>", f);
		h(f, r[i].node[0] ? r[i].node : "\xe2\x80\x94");
		fputs("</td><td class=\"detail\">", f);
		h(f, r[i].detail);
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table></section>", f);
}

static void page(FILE *f, const nmm_status *st)
{
	char t[32];
	when(st->now, t, true);
	fputs("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta http-equiv=\"refresh\" content=\"30\"><title>AKM station status</title><style>",
	      f);
	fputs(page_css, f);
	fputs("</style></head><body><header><h1>AKM station ", f);
	h(f, st->station_id);
	fputs("</h1><p>", f);
	h(f, st->site);
	fprintf(f, " &#xb7; %s UTC &#xb7; refreshes every 30 s</p></header><main><div class=\"cards\">", t);
	card(f, "", st->nodes_total, "nodes");
	card(f, "ok", st->by_state[1], "active");
	card(f, st->by_state[2] ? "bad" : "", st->by_state[2], "quarantined");
	card(f, st->stale ? "warn" : "", st->stale, "stale");
	card(f, st->by_state[0] ? "warn" : "", st->by_state[0], "pending");
	card(f, "", st->by_state[3], "revoked");
	card(f, "", st->by_status[4], "verified");
	card(f, st->events_total ? "bad" : "", st->events_total, "signals, 1 h");
	card(f, st->actions_total ? "warn" : "", st->actions_total, "actions, 1 h");
	fputs("</div>", f);

	fprintf(f, "<section><h2>Breach signals over time <small>(per %llu s, last %llu min",
	        (unsigned long long)st->bucket_seconds, (unsigned long long)(st->bucket_seconds * NMM_STATUS_BUCKETS / 60));
	if (st->tail_truncated)
		fprintf(f, "; the last %zu audit records only", st->records_read);
	fputs(")</small></h2>", f);
	chart(f, st);
	if (st->nevents > 0) {
		fputs("<p class=\"note\">", f);
		for (size_t i = 0; i < st->nevents; i++) {
			fputs(i ? ", " : "By kind: ", f);
			h(f, st->events[i].name);
			fprintf(f, " %llu", (unsigned long long)st->events[i].n);
		}
		fputs("</p>", f);
	}
	fputs("</section>", f);

	size_t shown = st->nnodes < NMM_WEB_NODES_SHOWN ? st->nnodes : NMM_WEB_NODES_SHOWN;
	fprintf(f, "<section><h2>Nodes <small>(%zu of %llu shown: quarantined, stale and pending first; "
	           "akm-nmm list shows all)</small></h2>",
	        shown, (unsigned long long)st->nodes_total);
	if (shown == 0) {
		fputs("<p class=\"note\">No nodes provisioned.</p>", f);
	} else {
		fputs("<table id=\"nodes\"><thead><tr><th>Node</th><th>Condition</th><th>State</th><th>Status</th>"
		      "<th>Last check-in (UTC)</th></tr></thead><tbody>",
		      f);
		for (size_t i = 0; i < shown; i++) {
			const nmm_status_node *n = &st->nodes[i];
			const char *cls, *tag = rank_tag(n->rank, &cls);
			when(n->checkin, t, true);
			fputs("<tr><td>", f);
			h(f, n->name);
			fprintf(f, "</td><td><span class=\"tag %s\">%s</span></td><td>%s</td><td>%s</td><td>%s</td></tr>", cls,
			        tag, nmm_state_name(n->state), nmm_status_name(n->status), t);
		}
		fputs("</tbody></table>", f);
	}
	fputs("</section>", f);

	fprintf(f, "<section><h2>ASRs <small>(%zu)</small></h2>", st->nasrs);
	if (st->nasrs == 0) {
		fputs("<p class=\"note\">No operational ASRs.</p>", f);
	} else {
		fputs("<table id=\"asrs\"><thead><tr><th>ASR</th><th>State</th><th class=\"num\">Generation</th>"
		      "<th class=\"num\">Step</th><th class=\"num\">Members</th><th>Delivery (members current)</th>"
		      "</tr></thead><tbody>",
		      f);
		for (size_t i = 0; i < st->nasrs; i++) {
			const nmm_status_asr *a = &st->asrs[i];
			fputs("<tr><td>", f);
			h(f, a->name);
			fprintf(f, "</td><td>%s</td><td class=\"num\">%u</td><td class=\"num\">%u</td><td class=\"num\">%lu</td><td>",
			        nmm_state_name(a->state), a->generation, a->step, (unsigned long)a->members);
			if (a->delivery_known) {
				unsigned pct = a->members ? (unsigned)(100 * a->current / a->members) : 100;
				fprintf(f, "<span class=\"bar\"><i style=\"width:%u%%\"></i></span>%zu of %lu", pct > 100 ? 100 : pct,
				        a->current, (unsigned long)a->members);
			} else {
				fputs("not read (akm-nmm asr show)", f);
			}
			fputs("</td></tr>", f);
		}
		fputs("</tbody></table>", f);
	}
	fputs("</section>", f);
	records(f, "Recent breach signals", st->recent_events, st->nrecent_events < 15 ? st->nrecent_events : 15,
	        "None in the records read.");
	records(f, "Automatic actions", st->recent_actions, st->nrecent_actions < 15 ? st->nrecent_actions : 15,
	        "None in the records read.");
	fprintf(f, "</main><footer>Audit trail: last record #%llu; %zu records read back to #%llu. "
	           "Figures gathered at most once a second, in steps. The same figures: /metrics (Prometheus), "
	           "/status.json, akm-nmm status.</footer></body></html>\n",
	        (unsigned long long)st->audit_last, st->records_read, (unsigned long long)st->from_seq);
}

/* ---- routing ---- */

typedef enum { PAGE_HTML, PAGE_METRICS, PAGE_JSON } page_kind;

static void render(char **out, size_t *out_len, const nmm_status *st, page_kind k, bool head)
{
	char *body = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&body, &blen);
	if (f == NULL) {
		plain(out, out_len, 500, "Internal Server Error", NULL, "out of memory\n", head);
		return;
	}
	const char *ctype = "text/html; charset=utf-8";
	if (k == PAGE_HTML) {
		page(f, st);
	} else if (k == PAGE_METRICS) {
		nmm_status_metrics(st, f);
		ctype = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		(void)nmm_status_json(st, f);
		ctype = "application/json";
	}
	if (fclose(f) != 0 || body == NULL)
		plain(out, out_len, 500, "Internal Server Error", NULL, "out of memory\n", head);
	else
		respond(out, out_len, 200, "OK", ctype, NULL, body, blen, head);
	free(body);
}

void nmm_web_answer(nmm_web *w, const char *buf, size_t len, uint64_t now_ms, char **out, size_t *out_len)
{
	akm_http_request r;
	akm_http_rc rc = akm_http_parse(buf, len, &r);
	bool head = rc == AKM_HTTP_OK && r.head;
	switch (rc) {
	case AKM_HTTP_OK: break;
	case AKM_HTTP_INCOMPLETE:
	case AKM_HTTP_BAD: plain(out, out_len, 400, "Bad Request", NULL, "bad request\n", false); return;
	case AKM_HTTP_TOO_LARGE:
		plain(out, out_len, 431, "Request Header Fields Too Large", NULL, "request head too large\n", false);
		return;
	case AKM_HTTP_METHOD:
		plain(out, out_len, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "GET or HEAD only\n", false);
		return;
	case AKM_HTTP_VERSION:
		plain(out, out_len, 505, "HTTP Version Not Supported", NULL, "HTTP/1.1 only\n", false);
		return;
	}
	static const char unauthorized[] = "WWW-Authenticate: Bearer realm=\"akm-nmmd status\"\r\n";
	char qtoken[AKM_HTTP_TOKEN_MAX + 1];
	if (akm_http_query_param(r.query, "token", qtoken, sizeof qtoken)) {
		/* A browser's first visit: the token in the address once, a
		 * cookie from then on, and the address without it. */
		bool ok = token_ok(w, qtoken);
		sodium_memzero(qtoken, sizeof qtoken);
		if (!ok) {
			plain(out, out_len, 401, "Unauthorized", unauthorized, "unauthorized\n", head);
			return;
		}
		char extra[512];
		snprintf(extra, sizeof extra,
		         "Location: %s\r\nSet-Cookie: " AKM_HTTP_COOKIE_NAME
		         "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200\r\n",
		         r.path, w->sec->session);
		plain(out, out_len, 303, "See Other", extra, "see other\n", head);
		sodium_memzero(extra, sizeof extra);
		return;
	}
	bool authorized = (r.has_bearer && token_ok(w, r.bearer)) || (r.has_cookie && cookie_ok(w, r.cookie));
	sodium_memzero(r.bearer, sizeof r.bearer);
	if (!authorized) {
		plain(out, out_len, 401, "Unauthorized", unauthorized, "unauthorized\n", head);
		return;
	}
	page_kind k;
	if (strcmp(r.path, "/") == 0)
		k = PAGE_HTML;
	else if (strcmp(r.path, "/metrics") == 0)
		k = PAGE_METRICS;
	else if (strcmp(r.path, "/status.json") == 0)
		k = PAGE_JSON;
	else {
		plain(out, out_len, 404, "Not Found", NULL, "not found: /, /metrics, /status.json\n", head);
		return;
	}
	const nmm_status *st = figures(w, now_ms);
	if (st == NULL) {
		plain(out, out_len, 503, "Service Unavailable", "Retry-After: 5\r\n",
		      "the station's figures cannot be read now (akm-nmmd's log says why)\n", head);
		return;
	}
	render(out, out_len, st, k, head);
}

/* ---- connections ---- */

static void conn_arm(nmm_web *w, web_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(nmm_web *w, web_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_arm(w, c, EPOLLOUT);
			return;
		}
		break;
	}
	/* Answered (or the peer went): one request per connection. */
	shutdown(c->fd, SHUT_WR);
	conn_close(w, c);
}

static void conn_read(nmm_web *w, web_conn *c)
{
	for (;;) {
		if (c->in_len == sizeof c->in)
			break; /* full: the parser says too large */
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n == 0) {
			conn_close(w, c);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(w, c);
			return;
		}
		c->in_len += (size_t)n;
	}
	akm_http_request r;
	if (akm_http_parse(c->in, c->in_len, &r) == AKM_HTTP_INCOMPLETE)
		return; /* more to come, until the deadline */
	nmm_web_answer(w, c->in, c->in_len, akm_net_now_ms(), &c->out, &c->out_len);
	sodium_memzero(c->in, sizeof c->in);
	if (c->out == NULL) {
		conn_close(w, c);
		return;
	}
	c->out_off = 0;
	conn_flush(w, c);
}

static void on_accept(nmm_web *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		web_conn *c = NULL;
		for (size_t i = 0; i < NMM_WEB_CONNS && c == NULL; i++)
			if (!w->conns[i].used)
				c = &w->conns[i];
		if (c == NULL) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
			                           "Retry-After: 1\r\nConnection: close\r\n\r\n";
			(void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->used = true;
		c->deadline = akm_net_now_ms() + NMM_WEB_TIMEOUT_MS;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

bool nmm_web_event(nmm_web *w, void *ptr, uint32_t events)
{
	if (w == NULL)
		return false;
	if (ptr == &w->lfd) {
		on_accept(w);
		return true;
	}
	if ((char *)ptr < (char *)w->conns || (char *)ptr >= (char *)(w->conns + NMM_WEB_CONNS))
		return false;
	web_conn *c = ptr;
	if (!c->used)
		return true;
	if (c->out != NULL)
		conn_flush(w, c);
	else if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		conn_close(w, c);
	else
		conn_read(w, c);
	return true;
}

void nmm_web_sweep(nmm_web *w)
{
	if (w == NULL)
		return;
	gather_step(w);
	uint64_t now = akm_net_now_ms();
	for (size_t i = 0; i < NMM_WEB_CONNS; i++) {
		web_conn *c = &w->conns[i];
		if (!c->used || now < c->deadline)
			continue;
		if (c->out == NULL) {
			/* A slow or silent client: told, then closed. */
			static const char late[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
			                           "Connection: close\r\n\r\n";
			(void)!send(c->fd, late, sizeof late - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		conn_close(w, c);
	}
}
