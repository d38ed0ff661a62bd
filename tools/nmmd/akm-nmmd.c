/*
 * akm-nmmd: the station service nodes talk to (docs/akm-nmmd.md,
 * docs/protocol.md).  One thread, one epoll loop: listening sockets,
 * connections with bounded buffers (one frame each way) and deadlines,
 * a signalfd for SIGTERM/SIGINT (stop accepting, finish what was accepted,
 * exit) and SIGHUP (reload the configuration file).  Every frame goes to
 * the station library (station/act.c), which reaches keys only through
 * the station token's module, akm-pkcs11.so.
 *
 * Exit status: 0 after a clean stop; 1 usage or configuration; 4 the
 * token or module; 5 a socket could not be opened.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "akm-config.h"
#include "lib/hex.h"
#include "shared/net.h"
#include "shared/secret.h"
#include "station/station.h"
#include "station/web.h"

#define VERSION_TEXT "akm-nmmd (akm-pkcs11) " AKM_VERSION
#define LISTEN_MAX 4

/* ---- settings ---- */

typedef struct settings {
	const char *module, *token, *pin_file, *config;
	const char *policy_file;     /* the breach-response policy (docs/akm-nmmd.md) */
	const char *listen[LISTEN_MAX];
	size_t nlisten;
	const char *port_file;
	unsigned max_conns;
	uint64_t idle_ms, exchange_ms;
	nmm_act_policy policy;
	uint64_t token_refresh;      /* re-open the station after this many ephemeral keys (0: never) */
	bool syslog;
	/* the status page (web.h) */
	const char *status_listen, *status_token_file;
	bool status_allow_remote;
	uint64_t stale_after;        /* seconds */
} settings;

static settings S = {
	.max_conns = 1024, .idle_ms = 10000, .exchange_ms = 30000, .token_refresh = 20000,
	.stale_after = NMM_STATUS_STALE_AFTER,
	.policy = {.fail_limit = 5, .fail_window_ms = 60000, .lockout_ms = 300000, .clone_window_ms = 60000},
};

/* ---- logging: stderr, or syslog with --syslog ---- */

static bool use_syslog;

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "akm-nmmd: %s", prio <= LOG_ERR ? "error: " : prio == LOG_WARNING ? "warning: " : "");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void report_sink(void *ctx, const char *what, const char *message)
{
	(void)ctx;
	if (message)
		logmsg(LOG_ERR, "%s: %s", what, message);
	else
		logmsg(LOG_ERR, "%s", what);
}

static void watch_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	logmsg(level, "%s", line);
}

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof un.sun_path)
		return;
	memcpy(un.sun_path, path, n);
	if (un.sun_path[0] == '@')
		un.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&un,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

/* ---- the configuration file: "name = value" lines, # comments ---- */

/* Sets one numeric setting; false when the name is unknown or the value bad. */
static bool set_number(settings *s, const char *name, const char *value, char *why, size_t whylen)
{
	struct {
		const char *name;
		unsigned long long min, max, scale;
		void *field;
		bool is_uint;
	} t[] = {
		{"max-connections", 1, 100000, 1, &s->max_conns, true},
		{"idle-timeout", 1, 3600, 1000, &s->idle_ms, false},
		{"exchange-timeout", 1, 3600, 1000, &s->exchange_ms, false},
		{"fail-limit", 1, 1000000, 1, &s->policy.fail_limit, true},
		{"fail-window", 1, 86400, 1000, &s->policy.fail_window_ms, false},
		{"lockout", 0, 86400 * 30, 1000, &s->policy.lockout_ms, false},
		{"clone-window", 0, 86400, 1000, &s->policy.clone_window_ms, false},
		{"token-refresh", 0, 100000000, 1, &s->token_refresh, false},
		{"stale-after", 1, 86400ULL * 3650, 1, &s->stale_after, false},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (strcmp(name, t[i].name) != 0)
			continue;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || value[0] == '-') {
			snprintf(why, whylen, "%s: not a number: %s", name, value);
			return false;
		}
		if (v < t[i].min || v > t[i].max) {
			snprintf(why, whylen, "%s: %llu is out of range (%llu-%llu)", name, v, t[i].min, t[i].max);
			return false;
		}
		if (t[i].is_uint)
			*(unsigned *)t[i].field = (unsigned)v;
		else
			*(uint64_t *)t[i].field = v * t[i].scale;
		return true;
	}
	snprintf(why, whylen, "unknown setting: %s", name);
	return false;
}

/* Reads the file into *out (a copy of *base): 0, or -1 with the line named. */
static int read_config(const char *path, const settings *base, settings *out, char *why, size_t whylen)
{
	*out = *base;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[512];
	unsigned ln = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		ln++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(why, whylen, "%s:%u: line too long", path, ln);
			rc = -1;
			break;
		}
		char *p = line + strspn(line, " \t");
		p[strcspn(p, "\r\n")] = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		char *eq = strchr(p, '=');
		if (eq == NULL) {
			snprintf(why, whylen, "%s:%u: not \"name = value\"", path, ln);
			rc = -1;
			break;
		}
		char *name = p, *value = eq + 1;
		*eq = '\0';
		for (char *e = eq - 1; e >= name && (*e == ' ' || *e == '\t'); e--)
			*e = '\0';
		value += strspn(value, " \t");
		for (char *e = value + strlen(value) - 1; e >= value && (*e == ' ' || *e == '\t'); e--)
			*e = '\0';
		char w[200];
		if (strcmp(name, "policy") == 0) {
			/* a path, kept for the life of the process (a reload reads a
			 * new copy; the old ones are a few bytes each) */
			if (*value == '\0' || (out->policy_file = strdup(value)) == NULL) {
				snprintf(why, whylen, "%s:%u: policy: a file name is needed", path, ln);
				rc = -1;
			}
			continue;
		}
		if (!set_number(out, name, value, w, sizeof w)) {
			snprintf(why, whylen, "%s:%u: %s", path, ln, w);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

/* ---- connections ---- */

typedef struct conn {
	int fd;
	bool used, close_after, reading;
	nmm_act_conn act;
	uint8_t in[AKM_PROTO_FRAME_MAX];
	size_t in_len, in_need;       /* need: 6 until the header is read, then the frame */
	uint8_t out[AKM_PROTO_FRAME_MAX];
	size_t out_len, out_off;
	uint64_t idle_deadline, end_deadline;
} conn;

typedef struct service {
	int ep, sigfd;
	int lfd[LISTEN_MAX];
	size_t nl;
	conn *conns;
	size_t nconns, cap, open;
	nmm_station station;
	nmm_act *act;
	nmm_watch *watch;         /* the breach monitor and its policy */
	bool stopping;
	uint64_t stop_deadline;
	akm_secret pin;          /* kept (locked) for re-opening the station */
	const char *module, *token;
	bool refreshing;         /* new work waits until the station is re-opened */
	nmm_web *web;            /* the status page, when --status-listen is given */
	int exit_code;           /* of main, once the loop ends */
} service;

static void conn_close(service *sv, conn *c)
{
	epoll_ctl(sv->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	nmm_act_conn_end(sv->act, &c->act);
	c->used = false;
	sv->open--;
}

static void conn_arm(service *sv, conn *c)
{
	uint32_t events = c->out_len > c->out_off ? EPOLLOUT : EPOLLIN;
	if (events == EPOLLIN && sv->refreshing && c->act.hs == NULL)
		events = 0; /* parked: its next message needs the token */
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(sv->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is pending; closes when done and asked to. */
static void conn_flush(service *sv, conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_arm(sv, c);
			return;
		}
		conn_close(sv, c);
		return;
	}
	c->out_len = c->out_off = 0;
	if (c->close_after) {
		conn_close(sv, c);
		return;
	}
	c->in_len = 0;
	c->in_need = AKM_PROTO_HDR_LEN;
	c->idle_deadline = akm_net_now_ms() + S.idle_ms;
	conn_arm(sv, c);
}

static void conn_answer(service *sv, conn *c, nmm_act_next next)
{
	if (next == NMM_ACT_CLOSE) {
		conn_close(sv, c);
		return;
	}
	c->close_after = next == NMM_ACT_REPLY_CLOSE;
	c->out_off = 0;
	conn_flush(sv, c);
}

static void conn_read(service *sv, conn *c)
{
	while (c->out_len == 0) {
		ssize_t r = recv(c->fd, c->in + c->in_len, c->in_need - c->in_len, 0);
		if (r == 0) {
			conn_close(sv, c);
			return;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_close(sv, c);
			return;
		}
		c->in_len += (size_t)r;
		c->idle_deadline = akm_net_now_ms() + S.idle_ms;
		if (c->in_len < c->in_need)
			continue;
		if (c->in_need == AKM_PROTO_HDR_LEN) {
			uint8_t type;
			size_t body;
			akm_fmt_rc rc = akm_proto_header(c->in, &type, &body);
			if (rc != AKM_FMT_OK) {
				conn_answer(sv, c, nmm_act_malformed(sv->act, &c->act, rc, c->out, &c->out_len));
				return;
			}
			c->in_need = AKM_PROTO_HDR_LEN + body;
			continue;
		}
		conn_answer(sv, c, nmm_act_frame(sv->act, &c->act, c->in, c->in_len, c->out, &c->out_len));
		return;
	}
}

static conn *conn_slot(service *sv)
{
	for (size_t i = 0; i < sv->cap; i++)
		if (!sv->conns[i].used)
			return &sv->conns[i];
	return NULL;
}

static void on_accept(service *sv, int lfd)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		uint8_t err[AKM_PROTO_HDR_LEN + 1];
		size_t el;
		conn *c = sv->open < S.max_conns ? conn_slot(sv) : NULL;
		if (c == NULL) {
			uint8_t code = AKM_PERR_BUSY;
			akm_proto_frame(AKM_PROTO_ERROR, &code, 1, err, sizeof err, &el);
			(void)!send(fd, err, el, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->used = true;
		sv->open++;
		akm_net_peer(&ss, c->act.peer);
		uint64_t now = akm_net_now_ms();
		c->in_need = AKM_PROTO_HDR_LEN;
		c->idle_deadline = now + S.idle_ms;
		c->end_deadline = now + S.exchange_ms;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(sv->ep, EPOLL_CTL_ADD, fd, &ev);
		if (!nmm_act_admit(sv->act, &c->act)) {
			uint8_t code = AKM_PERR_LOCKED;
			akm_proto_frame(AKM_PROTO_ERROR, &code, 1, c->out, sizeof c->out, &c->out_len);
			conn_answer(sv, c, NMM_ACT_REPLY_CLOSE);
		}
	}
}

static void sweep(service *sv)
{
	uint64_t now = akm_net_now_ms();
	for (size_t i = 0; i < sv->cap; i++) {
		conn *c = &sv->conns[i];
		if (!c->used)
			continue;
		if (now < c->idle_deadline && now < c->end_deadline)
			continue;
		if (c->out_len > c->out_off) { /* a peer that does not read its answer */
			conn_close(sv, c);
			continue;
		}
		conn_answer(sv, c, nmm_act_timeout(sv->act, &c->act, c->out, &c->out_len));
	}
}

/* ---- start, loop, stop ---- */

static int open_station(service *sv)
{
	akm_secret *pin = &sv->pin;
	char err[256];
	nmm_station *s = &sv->station;
	const char *module = sv->module = S.module ? S.module : getenv("AKM_MODULE");
	const char *token = S.token ? S.token : getenv("AKM_TOKEN");
	sv->token = token && *token ? token : NULL;
	if (module == NULL || *module == '\0') {
		logmsg(LOG_ERR, "no PKCS#11 module: give --module or set AKM_MODULE");
		return AKM_RC_USAGE;
	}
	int read = akm_secret_read(pin, S.pin_file, "AKM_PIN", "Station token PIN: ", "PIN", err, sizeof err);
	unsetenv("AKM_PIN"); /* read once, kept in locked memory: not left for children or /proc */
	if (read != 0) {
		logmsg(LOG_ERR, "%s", err);
		return AKM_RC_USAGE;
	}
	int rc = AKM_RC_OK;
	if (akm_p11_open(&s->p, module, token && *token ? token : NULL) != 0) {
		logmsg(LOG_ERR, "%s", s->p.err);
		rc = AKM_RC_TOKEN;
	} else if ((rc = nmm_station_check_module(&s->p, "module", module)) != AKM_RC_OK) {
		/* reported: the relationships live only behind akm-pkcs11.so */
	} else if (akm_p11_login(&s->p, pin->data, pin->len) != 0) {
		logmsg(LOG_ERR, "%s", s->p.err);
		rc = AKM_RC_TOKEN;
	}
	if (rc != AKM_RC_OK)
		return rc;
	s->open = true;
	if ((rc = nmm_station_read(s)) == AKM_RC_NOT_FOUND)
		logmsg(LOG_ERR, "no station in this token: run akm-nmm init first");
	return rc;
}

/* The address listening socket fd is bound to, as --listen takes it. */
static void bound_address(int fd, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[64];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(out, cap, "?");
		return;
	}
	akm_net_peer(&ss, host);
	if (ss.ss_family == AF_INET)
		snprintf(out, cap, "%s:%u", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	else if (ss.ss_family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", host, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	else
		snprintf(out, cap, "unix:%s", ((struct sockaddr_un *)&ss)->sun_path);
}

static int write_port_file(service *sv)
{
	if (S.port_file == NULL)
		return 0;
	FILE *f = fopen(S.port_file, "we");
	if (f == NULL) {
		logmsg(LOG_ERR, "%s: %s", S.port_file, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sv->nl; i++) {
		char addr[160];
		bound_address(sv->lfd[i], addr, sizeof addr);
		fprintf(f, "%s\n", addr);
	}
	if (sv->web != NULL) { /* the status page's URL last */
		char url[200];
		nmm_web_url(sv->web, url, sizeof url);
		fprintf(f, "%s\n", url);
	}
	if (fclose(f) != 0) {
		logmsg(LOG_ERR, "%s: %s", S.port_file, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- re-opening the station (--token-refresh) ---- */

static void park_all(service *sv, bool on)
{
	sv->refreshing = on;
	for (size_t i = 0; i < sv->cap; i++)
		if (sv->conns[i].used)
			conn_arm(sv, &sv->conns[i]);
	for (size_t i = 0; i < sv->nl; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sv->lfd[i]};
		epoll_ctl(sv->ep, on ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, sv->lfd[i], &ev);
	}
}

static bool any_proven(const service *sv)
{
	for (size_t i = 0; i < sv->cap; i++)
		if (sv->conns[i].used && sv->conns[i].act.hs != NULL)
			return true;
	return false;
}

/* Finalises and re-opens the station's module once no exchange holds its
 * handles: what the token kept of the ephemeral keys goes with it.  A
 * station that does not come back stops the service. */
static void refresh_station(service *sv)
{
	if (!sv->refreshing) {
		if (S.token_refresh == 0 || nmm_act_token_uses(sv->act) < S.token_refresh)
			return;
		park_all(sv, true);
	}
	if (any_proven(sv))
		return;
	uint64_t t0 = akm_net_now_ms();
	nmm_station *s = &sv->station;
	nmm_act_token_reset(sv->act);
	akm_p11_end(&s->p, false);
	if (akm_p11_open(&s->p, sv->module, sv->token) != 0 || akm_p11_login(&s->p, sv->pin.data, sv->pin.len) != 0 ||
	    nmm_station_read(s) != AKM_RC_OK) {
		logmsg(LOG_ERR, "re-opening the station failed, stopping: %s", s->p.err);
		notify("STOPPING=1");
		sv->stopping = true;
		sv->stop_deadline = 0;
		sv->exit_code = AKM_RC_TOKEN;
		return;
	}
	park_all(sv, false);
	nmm_web_station_reopened(sv->web);
	logmsg(LOG_INFO, "station re-opened after %llu ephemeral keys (%llu ms)",
	       (unsigned long long)S.token_refresh, (unsigned long long)(akm_net_now_ms() - t0));
}

/* The numbers given on the command line: they win over the file, at the
 * start and at every reload. */
typedef struct cli_number {
	const char *name, *value;
} cli_number;
static cli_number cli_numbers[32];
static size_t ncli_numbers;
static settings base; /* the defaults and the command line's other options */

/* base, then the file (if any), then the command line's numbers. */
static int build_settings(settings *out, char *why, size_t whylen)
{
	if (base.config != NULL) {
		if (read_config(base.config, &base, out, why, whylen) != 0)
			return -1;
	} else {
		*out = base;
	}
	for (size_t i = 0; i < ncli_numbers; i++)
		if (!set_number(out, cli_numbers[i].name, cli_numbers[i].value, why, whylen))
			return -1;
	return 0;
}

static void reload(service *sv)
{
	notify("RELOADING=1");
	settings n;
	char why[512];
	if (build_settings(&n, why, sizeof why) != 0) {
		logmsg(LOG_ERR, "reload refused, the previous settings stay: %s", why);
	} else {
		if (n.max_conns > sv->cap) {
			logmsg(LOG_WARNING, "max-connections %u is more than the %zu set at the start: %zu kept", n.max_conns,
			       sv->cap, sv->cap);
			n.max_conns = (unsigned)sv->cap;
		}
		S = n;
		nmm_act_set_policy(sv->act, &S.policy);
		if (sv->web != NULL)
			nmm_web_set_stale_after(sv->web, S.stale_after);
		logmsg(LOG_NOTICE, "configuration reloaded from %s", S.config);
	}
	notify("READY=1");
}

/* The policy file: --policy, the configuration's "policy", else the
 * installed one when it exists (NULL: none). */
static const char *policy_path(void)
{
	if (S.policy_file != NULL)
		return S.policy_file;
	return access(AKM_DEFAULT_POLICY, R_OK) == 0 ? AKM_DEFAULT_POLICY : NULL;
}

/* SIGHUP, after the settings: the policy read again; a refused one leaves
 * the previous in force (nmm_watch_load logs and records it). */
static void reload_policy(service *sv)
{
	const char *path = policy_path();
	if (path != NULL)
		nmm_watch_load(sv->watch, path);
}

static void on_signal(service *sv)
{
	struct signalfd_siginfo si;
	while (read(sv->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			if (S.config != NULL)
				reload(sv);
			else if (policy_path() == NULL)
				logmsg(LOG_NOTICE, "SIGHUP: no configuration file or policy to reload");
			reload_policy(sv);
		} else if (!sv->stopping) {
			sv->stopping = true;
			sv->stop_deadline = akm_net_now_ms() + S.exchange_ms;
			notify("STOPPING=1");
			for (size_t i = 0; i < sv->nl; i++) {
				epoll_ctl(sv->ep, EPOLL_CTL_DEL, sv->lfd[i], NULL);
				close(sv->lfd[i]);
			}
			sv->nl = 0;
			nmm_web_free(sv->web); /* the page closes at once: it holds no exchange */
			sv->web = NULL;
			logmsg(LOG_NOTICE, "stopping: %zu exchange(s) to finish", sv->open);
		}
	}
}

static int run(service *sv)
{
	struct epoll_event evs[64];
	uint64_t last_sweep = akm_net_now_ms();
	while (!sv->stopping || (sv->open > 0 && akm_net_now_ms() < sv->stop_deadline)) {
		int n = epoll_wait(sv->ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			if (ptr == &sv->sigfd) {
				on_signal(sv);
				continue;
			}
			bool listener = false;
			for (size_t k = 0; k < sv->nl; k++)
				if (ptr == &sv->lfd[k]) {
					on_accept(sv, sv->lfd[k]);
					listener = true;
				}
			if (listener || nmm_web_event(sv->web, ptr, evs[i].events))
				continue;
			conn *c = ptr;
			if (!c->used)
				continue;
			if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
				conn_close(sv, c);
			else if (c->out_len > c->out_off)
				conn_flush(sv, c);
			else
				conn_read(sv, c);
		}
		if (!sv->stopping)
			refresh_station(sv);
		uint64_t now = akm_net_now_ms();
		if (now - last_sweep >= 100) {
			sweep(sv);
			nmm_web_sweep(sv->web);
			if (!sv->refreshing)
				nmm_watch_poll(sv->watch);
			last_sweep = now;
		}
	}
	return 0;
}

static const char usage_text[] =
	"usage: akm-nmmd [options]\n"
	"The station service: nodes activate, check in and report over the AKM-ACT-1\n"
	"protocol (docs/protocol.md).  Keys are used only through the station token.\n"
	"Options:\n"
	"  --module PATH          akm-pkcs11.so (else $AKM_MODULE)\n"
	"  --token URI|LABEL      the station token (else $AKM_TOKEN, else the only one)\n"
	"  --pin-file FILE        the station token's user PIN (else $AKM_PIN)\n"
	"  --listen ADDR          HOST:PORT, [IPv6]:PORT or unix:PATH; up to 4 (default\n"
	"                         127.0.0.1:" AKM_NET_DEFAULT_PORT ")\n"
	"  --port-file FILE       writes the addresses listened on, one a line (port 0: the\n"
	"                         one the system chose)\n"
	"  --config FILE          settings as \"name = value\" lines, reloaded on SIGHUP:\n"
	"                         max-connections, idle-timeout, exchange-timeout,\n"
	"                         fail-limit, fail-window, lockout, clone-window,\n"
	"                         token-refresh, policy, stale-after\n"
	"                         (times in seconds)\n"
	"  --policy FILE          the breach-response policy (docs/policy.md), reloaded\n"
	"                         on SIGHUP (else " AKM_DEFAULT_POLICY "\n"
	"                         when it exists)\n"
	"  --max-connections N    open connections at most (1024)\n"
	"  --idle-timeout S       a silent peer is dropped after S seconds (10)\n"
	"  --exchange-timeout S   a whole exchange may take S seconds (30)\n"
	"  --fail-limit N         failures that lock an address or a PR out (5) ...\n"
	"  --fail-window S        ... within S seconds (60)\n"
	"  --lockout S            for S seconds (300)\n"
	"  --clone-window S       one PR from two addresses within S seconds is a clone\n"
	"                         signal (60)\n"
	"  --token-refresh N      re-open the station token after N ephemeral keys, for\n"
	"                         tokens that keep destroyed objects until finalised\n"
	"                         (SoftHSM2); 0: never (20000)\n"
	"  --status-listen ADDR   serve the status page (/, /metrics, /status.json) on\n"
	"                         ADDR: a loopback HOST:PORT or unix:PATH\n"
	"  --status-token-file FILE  the page's token (16-128 of A-Z a-z 0-9 - . _ ~),\n"
	"                         needed with --status-listen\n"
	"  --status-allow-remote  let --status-listen take a non-loopback address\n"
	"  --stale-after S        an active node silent for S seconds is stale (86400)\n"
	"  --syslog               log to syslog (else stderr, which systemd keeps)\n"
	"  --version              print the version\n"
	"  -h, --help             this help\n"
	"Signals: SIGTERM/SIGINT stop accepting and finish the exchanges in hand;\n"
	"SIGHUP reloads --config and the policy.\n";

int main(int argc, char **argv)
{
	akm_secret_init();
	akm_report_program("akm-nmmd");
	enum { O_MODULE = 256, O_TOKEN, O_PIN, O_LISTEN, O_PORTFILE, O_CONFIG, O_POLICY, O_STATUS_LISTEN, O_STATUS_TOKEN,
	       O_NUM, O_SYSLOG, O_VERSION, O_STATUS_REMOTE };
	struct option opts[] = {
		{"module", required_argument, NULL, O_MODULE},
		{"token", required_argument, NULL, O_TOKEN},
		{"pin-file", required_argument, NULL, O_PIN},
		{"listen", required_argument, NULL, O_LISTEN},
		{"port-file", required_argument, NULL, O_PORTFILE},
		{"config", required_argument, NULL, O_CONFIG},
		{"policy", required_argument, NULL, O_POLICY},
		{"max-connections", required_argument, NULL, O_NUM},
		{"idle-timeout", required_argument, NULL, O_NUM},
		{"exchange-timeout", required_argument, NULL, O_NUM},
		{"fail-limit", required_argument, NULL, O_NUM},
		{"fail-window", required_argument, NULL, O_NUM},
		{"lockout", required_argument, NULL, O_NUM},
		{"clone-window", required_argument, NULL, O_NUM},
		{"token-refresh", required_argument, NULL, O_NUM},
		{"stale-after", required_argument, NULL, O_NUM},
		{"status-listen", required_argument, NULL, O_STATUS_LISTEN},
		{"status-token-file", required_argument, NULL, O_STATUS_TOKEN},
		{"status-allow-remote", no_argument, NULL, O_STATUS_REMOTE},
		{"syslog", no_argument, NULL, O_SYSLOG},
		{"version", no_argument, NULL, O_VERSION},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char **single[] = {&S.module, &S.token, &S.pin_file, NULL, &S.port_file, &S.config, &S.policy_file,
	                         &S.status_listen, &S.status_token_file};
	int o, idx;
	char why[512];
	bool version = false; /* printed once the settings (and --config) are checked */
	while ((o = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (o) {
		case O_MODULE: case O_TOKEN: case O_PIN: case O_PORTFILE: case O_CONFIG: case O_POLICY: case O_STATUS_LISTEN:
		case O_STATUS_TOKEN: {
			const char **slot = single[o - O_MODULE];
			if (*slot != NULL) {
				fprintf(stderr, "akm-nmmd: --%s given twice\n", opts[idx].name);
				return AKM_RC_USAGE;
			}
			*slot = optarg;
			break;
		}
		case O_LISTEN:
			if (S.nlisten == LISTEN_MAX) {
				fprintf(stderr, "akm-nmmd: at most %d --listen\n", LISTEN_MAX);
				return AKM_RC_USAGE;
			}
			S.listen[S.nlisten++] = optarg;
			break;
		case O_NUM: {
			settings probe = S;
			if (!set_number(&probe, opts[idx].name, optarg, why, sizeof why)) {
				fprintf(stderr, "akm-nmmd: --%s\n", why);
				return AKM_RC_USAGE;
			}
			if (ncli_numbers == sizeof cli_numbers / sizeof cli_numbers[0]) {
				fprintf(stderr, "akm-nmmd: too many options\n");
				return AKM_RC_USAGE;
			}
			cli_numbers[ncli_numbers++] = (cli_number){opts[idx].name, optarg};
			break;
		}
		case O_SYSLOG: S.syslog = true; break;
		case O_STATUS_REMOTE: S.status_allow_remote = true; break;
		case O_VERSION: version = true; break;
		case 'h': fputs(usage_text, stdout); return fflush(stdout) == 0 && !ferror(stdout) ? 0 : AKM_RC_FILES;
		default: fputs(usage_text, stderr); return AKM_RC_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "akm-nmmd: unexpected argument: %s\n", argv[optind]);
		return AKM_RC_USAGE;
	}
	if (S.nlisten == 0)
		S.listen[S.nlisten++] = "127.0.0.1:" AKM_NET_DEFAULT_PORT;
	base = S;
	if (build_settings(&S, why, sizeof why) != 0) {
		fprintf(stderr, "akm-nmmd: %s\n", why);
		return AKM_RC_USAGE;
	}
	/* Addresses are checked before the token is opened. */
	for (size_t i = 0; i < S.nlisten; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		char err[512];
		if (akm_net_resolve(S.listen[i], true, &ss, &sl, err, sizeof err) != 0) {
			fprintf(stderr, "akm-nmmd: --listen %s\n", err);
			return AKM_RC_USAGE;
		}
	}
	/* The status page: its address and token checked, the token read
	 * once (into locked memory), before the station is opened. */
	static akm_secret status_token;
	if ((S.status_token_file != NULL || S.status_allow_remote) && S.status_listen == NULL) {
		fprintf(stderr, "akm-nmmd: --status-token-file and --status-allow-remote go with --status-listen\n");
		return AKM_RC_USAGE;
	}
	if (S.status_listen != NULL) {
		char err[512];
		if (S.status_token_file != NULL &&
		    akm_secret_read(&status_token, S.status_token_file, NULL, NULL, "status token", err, sizeof err) != 0) {
			fprintf(stderr, "akm-nmmd: %s\n", err);
			return AKM_RC_USAGE;
		}
		nmm_web_opts wo = {S.status_listen, S.status_allow_remote, &status_token, S.stale_after};
		if (nmm_web_check(&wo, err, sizeof err) != 0) {
			fprintf(stderr, "akm-nmmd: %s\n", err);
			akm_secret_free(&status_token);
			return AKM_RC_USAGE;
		}
	}
	if (version) {
		akm_secret_free(&status_token);
		puts(VERSION_TEXT);
		return fflush(stdout) == 0 && !ferror(stdout) ? 0 : AKM_RC_FILES;
	}
	use_syslog = S.syslog;
	if (use_syslog)
		openlog("akm-nmmd", LOG_PID, LOG_DAEMON);
	akm_report_to(report_sink, NULL);

	static service sv;
	sv.cap = S.max_conns;
	sv.conns = calloc(sv.cap, sizeof *sv.conns);
	if (sv.conns == NULL) {
		logmsg(LOG_ERR, "no memory for %zu connections", sv.cap);
		return AKM_RC_TOKEN;
	}
	int rc = open_station(&sv);
	if (rc != AKM_RC_OK) {
		nmm_station_close(&sv.station);
		akm_secret_free(&sv.pin);
		return rc;
	}
	sv.act = nmm_act_new(&sv.station, &S.policy);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sv.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	sv.ep = epoll_create1(EPOLL_CLOEXEC);
	if (sv.act == NULL || sv.sigfd < 0 || sv.ep < 0) {
		logmsg(LOG_ERR, "cannot start: %s", sv.act == NULL ? "no locked memory" : strerror(errno));
		nmm_station_close(&sv.station);
		return AKM_RC_TOKEN;
	}
	/* The breach monitor: the policy (a refused one at the start stops
	 * the service: it would run without the response it was given), then
	 * the trail replayed and followed. */
	sv.watch = nmm_watch_new(&sv.station, sv.act, watch_log, NULL);
	const char *policy = policy_path();
	if (sv.watch == NULL || (policy != NULL && nmm_watch_load(sv.watch, policy) != AKM_RC_OK) ||
	    nmm_watch_start(sv.watch) != AKM_RC_OK) {
		if (sv.watch == NULL)
			logmsg(LOG_ERR, "cannot start: no memory for the monitor");
		nmm_watch_free(sv.watch);
		nmm_act_free(sv.act);
		nmm_station_close(&sv.station);
		akm_secret_free(&sv.pin);
		return sv.watch == NULL ? AKM_RC_TOKEN : AKM_RC_USAGE;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sv.sigfd};
	epoll_ctl(sv.ep, EPOLL_CTL_ADD, sv.sigfd, &ev);
	for (size_t i = 0; i < S.nlisten; i++) {
		char err[512];
		int fd = akm_net_listen(S.listen[i], 512, err, sizeof err);
		if (fd < 0) {
			logmsg(LOG_ERR, "%s", err);
			nmm_station_close(&sv.station);
			return AKM_RC_FILES;
		}
		sv.lfd[sv.nl] = fd;
		ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &sv.lfd[sv.nl]};
		epoll_ctl(sv.ep, EPOLL_CTL_ADD, fd, &ev);
		sv.nl++;
	}
	if (S.status_listen != NULL) {
		char err[512];
		nmm_web_opts wo = {S.status_listen, S.status_allow_remote, &status_token, S.stale_after};
		sv.web = nmm_web_new(&sv.station, sv.ep, &wo, err, sizeof err);
		akm_secret_free(&status_token); /* the page keeps only a keyed hash of it */
		if (sv.web == NULL) {
			logmsg(LOG_ERR, "%s", err);
			nmm_station_close(&sv.station);
			return AKM_RC_FILES;
		}
		char url[200];
		nmm_web_url(sv.web, url, sizeof url);
		logmsg(LOG_NOTICE, "status page on %s", url);
	}
	if (write_port_file(&sv) != 0) {
		nmm_station_close(&sv.station);
		return AKM_RC_FILES;
	}
	char sid[2 * AKM_FMT_ID_MAX + 1], addr[160];
	akm_hex_encode(sv.station.id, sv.station.id_len, sid);
	bound_address(sv.lfd[0], addr, sizeof addr);
	logmsg(LOG_NOTICE, "station %s ready on %s%s", sid, addr, sv.nl > 1 ? " (and more)" : "");
	notify("READY=1");
	run(&sv);
	rc = sv.exit_code;
	for (size_t i = 0; i < sv.cap; i++)
		if (sv.conns[i].used)
			conn_close(&sv, &sv.conns[i]);
	const nmm_act_stats *st = nmm_act_stats_of(sv.act);
	logmsg(LOG_NOTICE, "stopped: %llu exchanges completed, %llu refused, %llu bad proofs, %llu replays",
	       (unsigned long long)st->completed, (unsigned long long)st->refused, (unsigned long long)st->bad_proofs,
	       (unsigned long long)st->replays);
	nmm_web_free(sv.web);
	nmm_watch_free(sv.watch);
	nmm_act_free(sv.act);
	nmm_station_close(&sv.station);
	akm_secret_free(&sv.pin);
	free(sv.conns);
	return rc;
}
