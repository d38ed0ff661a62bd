/*
 * Status for people (issue 13, item 4), end to end: a real akm-nmmd on
 * 127.0.0.1 with its status page on, five nodes with their own SoftHSM2
 * tokens (act-fleet) that activated and checked in, one of them revoked,
 * one quarantined by hand (suspended through C_SetAttributeValue, with a
 * policy-quarantine record as the policy engine writes one), one caught by
 * the service's own policy as a clone (its PR proven with another hardware
 * value: quarantined and evicted from the ASR by akm-nmmd, --policy), an
 * ASR, and breach signals (malformed frames, a revoked node's attempt):
 *
 *   - without the token (none, a wrong one, a wrong cookie) every page is
 *     401 and shows no figure; ?token= sets an HttpOnly SameSite=Strict
 *     cookie and redirects; with the token / shows the quarantined node
 *     first, /metrics parses as Prometheus text format 0.0.4 (strict
 *     checker, prom-check.h) with the expected figures, /status.json
 *     is akm-nmm status --json's;
 *   - the server is strict: POST 405, malformed 400, oversized 431, a
 *     silent client 408 after the deadline, pipelined requests answered
 *     once, security headers on every answer;
 *   - akm-nmm status (text and --json) on the same station, --stale-after;
 *   - akm-nmmd refuses a non-loopback address, a bad token, a token file
 *     without the listener;
 *   - (test status-page, with --page) the page rendered by headless
 *     Chromium: the quarantined node in the rendered DOM, the node and ASR
 *     tables' rows counted through ChromeDriver's WebDriver API, and a
 *     screenshot kept in the build folder (status-page.png).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nmm-test.h"
#include "prom-check.h"
#include "bench/act-fleet.h"

#define TOKEN "status-test-token-0123456789abcdef"

static act_service sv;
static act_fleet fleet;
static bool have_fleet;
static char status_host[64];     /* 127.0.0.1 */
static unsigned status_port;
static char token_file[PATH_MAX + 16];

/* ---- a raw HTTP client ---- */

static int connect_status(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)status_port)};
	inet_pton(AF_INET, status_host, &a.sin_addr);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
	return fd;
}

/* Reads until the server closes (at most `seconds`): the bytes, malloc'd. */
static char *read_all_fd(int fd, int seconds, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, seconds * 1000) <= 0)
			break;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Sends `request` as it is; the whole answer (malloc'd); the status code. */
static int exchange(const char *request, size_t len, char **answer)
{
	int fd = connect_status();
	ck_assert_int_eq(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
	*answer = read_all_fd(fd, 10, NULL);
	close(fd);
	int code = 0;
	sscanf(*answer, "HTTP/1.1 %d", &code);
	return code;
}

/* GET path with extra header lines ("" or "Name: value\r\n..."). */
static int get(const char *path, const char *headers, char **answer)
{
	char req[2048];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n%s\r\n", path, status_host, status_port,
	                 headers);
	return exchange(req, (size_t)n, answer);
}

static const char *body_of(const char *answer)
{
	const char *b = strstr(answer, "\r\n\r\n");
	return b ? b + 4 : "";
}

/* A header's value (up to the line end) into out; false when absent. */
static bool header(const char *answer, const char *name, char *out, size_t cap)
{
	const char *end = strstr(answer, "\r\n\r\n");
	size_t nl = strlen(name);
	for (const char *p = strstr(answer, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r");
			snprintf(out, cap, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

static void expect_security_headers(const char *answer)
{
	char v[512];
	ck_assert_msg(header(answer, "Content-Security-Policy", v, sizeof v) && strstr(v, "default-src 'none'") &&
	                  strstr(v, "style-src 'unsafe-inline'") && strstr(v, "frame-ancestors 'none'"),
	              "no or a weak CSP:\n%s", answer);
	ck_assert(header(answer, "X-Content-Type-Options", v, sizeof v) && strcmp(v, "nosniff") == 0);
	ck_assert(header(answer, "Cache-Control", v, sizeof v) && strcmp(v, "no-store") == 0);
	ck_assert(header(answer, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
}

/* GET path with headers: 401, and not a figure of the station in it. */
static void expect_refused(const char *path, const char *headers, const char *what)
{
	char *answer = NULL;
	int code = get(path, headers, &answer);
	ck_assert_msg(code == 401, "%s: %d, expected 401:\n%s", what, code, answer);
	char v[128];
	ck_assert(header(answer, "WWW-Authenticate", v, sizeof v) && strncmp(v, "Bearer", 6) == 0);
	const char *body = body_of(answer);
	ck_assert_msg(strstr(body, "st-1") == NULL && strstr(body, "akm_") == NULL && strstr(body, "asr1") == NULL &&
	                  strlen(body) < 64,
	              "%s: the refusal shows figures:\n%s", what, answer);
	expect_security_headers(answer);
	free(answer);
}

/* ---- the station ---- */

/* The station, opened in this process through the library. */
static void open_station(nmm_station *s)
{
	memset(s, 0, sizeof *s);
	ck_assert_int_eq(akm_p11_open(&s->p, env.module_path, STATION), 0);
	ck_assert_int_eq(akm_p11_login(&s->p, AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)), 0);
	s->open = true;
	ck_assert_int_eq(nmm_station_read(s), AKM_RC_OK);
}

static char *status_json(const nmm_status *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_int_eq(nmm_status_json(st, f), AKM_RC_OK);
	fclose(f);
	return text;
}

static void station_with_trouble(void)
{
	char err[512], *out = NULL;
	const char *nmmd = getenv("AKM_TEST_NMMD");
	ck_assert_msg(nmmd != NULL, "AKM_TEST_NMMD names no akm-nmmd");
	ck_assert_msg(act_fleet_create(&fleet, env.module_path, STATION, env.softhsm_path, "st", AKM_TEST_USER_PIN, 5,
	                               err, sizeof err) == 0,
	              "%s", err);
	have_fleet = true;
	char usb[PATH_MAX + 16];
	path_in(usb, sizeof usb, "usb");
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "st-0,st-1,st-2", "--out", usb, NULL), 0, out,
	          "asr create");
	free(out);
	EXPECT_RC(nmm(&out, "revoke", "st-4", "--reason", "lost", NULL), 0, out, "revoke st-4");
	free(out);
	path_in(token_file, sizeof token_file, "status.token");
	write_file(token_file, TOKEN "\n", strlen(TOKEN) + 1);
	/* The service's policy: a clone is quarantined and evicted. */
	char policy[PATH_MAX + 16];
	static const char clone_rule[] = "rule clone\n    scope node\n    metric clone\n    threshold >= 1\n"
	                                 "    window 1h\n    actions alert, quarantine, evict\n    cool-down 1h\n";
	path_in(policy, sizeof policy, "policy.conf");
	write_file(policy, clone_rule, strlen(clone_rule));
	const char *extra[] = {"--status-listen", "127.0.0.1:0", "--status-token-file", token_file, "--policy", policy,
	                       NULL};
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	ck_assert_msg(act_service_start(&sv, nmmd, env.module_path, STATION, pin_file, extra, err, sizeof err) == 0, "%s",
	              err);
	/* The page's URL: the port file's last line. */
	char port_file[PATH_MAX + 32], line[256] = "", last[256] = "";
	snprintf(port_file, sizeof port_file, "%s/nmmd.port", env.dir);
	FILE *pf = fopen(port_file, "r");
	ck_assert(pf != NULL);
	while (fgets(line, sizeof line, pf))
		snprintf(last, sizeof last, "%s", line);
	fclose(pf);
	ck_assert_msg(sscanf(last, "http://%63[0-9.]:%u/", status_host, &status_port) == 2, "port file: %s", last);
	/* Every node checks in once (st-4, revoked, is refused: a breach signal). */
	act_run r;
	ck_assert_msg(act_fleet_run(&fleet, sv.addr, 1, AKM_OP_ACTIVATE, 5, 0, &r, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(r.ok == 4 && r.failed == 1, "activations: %zu ok, %zu failed (%s)", r.ok, r.failed,
	              r.first_error);
	act_run_free(&r);
	/* st-1 quarantined as the policy engine does it: its PR suspended,
	 * and the record naming the rule. */
	nmm_station s;
	open_station(&s);
	nmm_node n;
	ck_assert_int_eq(nmm_node_find(&s, "st-1", &n), AKM_RC_OK);
	ck_assert_int_eq(nmm_node_set(&s, &n, CKA_AKM_STATE, CKV_AKM_STATE_SUSPENDED), CKR_OK);
	ck_assert_int_eq(nmm_audit_first(&s, &n, "policy-quarantine", NULL, 0, CKR_OK,
	                                 "rule=forged-messages metric=forged value=5 threshold=>=3 events=9,10,11"),
	                 CKR_OK);
	nmm_station_close(&s);
	/* Three malformed frames at the protocol port. */
	const char *colon = strrchr(sv.addr, ':');
	unsigned act_port = (unsigned)atoi(colon + 1);
	for (int i = 0; i < 3; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)act_port)};
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
		ck_assert_int_eq(send(fd, "GARBAGE!", 8, MSG_NOSIGNAL), 8);
		free(read_all_fd(fd, 5, NULL));
		close(fd);
	}
	/* st-2's PR proven with another hardware value: a clone, which the
	 * service's policy quarantines and evicts from asr1 by itself. */
	char *out2 = NULL;
	EXPECT_RC(node(&out2, "st-2", "checkin", "--nmm", sv.addr, "--hw-id", "cloned-hardware", NULL), 2, out2,
	          "the clone's check-in");
	free(out2);
	bool evicted = false;
	for (int i = 0; i < 100 && !evicted; i++) {
		EXPECT_RC(nmm(&out2, "audit", "--node", "st-2", NULL), 0, out2, "audit --node st-2");
		evicted = strstr(out2, "policy-evict") != NULL;
		free(out2);
		if (!evicted)
			usleep(100 * 1000);
	}
	ck_assert_msg(evicted, "akm-nmmd did not evict the clone st-2 within 10 s");
	usleep(1100 * 1000); /* past the page's one-second cache */
}

static void teardown(void)
{
	if (sv.pid > 0)
		act_service_stop(&sv, SIGKILL);
	if (have_fleet)
		act_fleet_free(&fleet);
	have_fleet = false;
	nmm_test_teardown();
}

/* ---- the page over HTTP, and the command line ---- */

START_TEST(page_metrics_and_cli)
{
	station_with_trouble();
	char *a = NULL;
	/* No token, a wrong one, a wrong cookie, another scheme: 401, no figures. */
	expect_refused("/", "", "/ without a token");
	expect_refused("/metrics", "", "/metrics without a token");
	expect_refused("/status.json", "", "/status.json without a token");
	expect_refused("/nowhere", "", "an unknown page without a token");
	expect_refused("/metrics", "Authorization: Bearer status-test-token-0123456789abcdeX\r\n",
	               "a wrong bearer");
	expect_refused("/metrics", "Authorization: Bearer " TOKEN "0\r\n", "a longer bearer");
	expect_refused("/metrics", "Authorization: Basic c3RhdHVzOg==\r\n", "basic");
	expect_refused("/", "Cookie: akm_status=" TOKEN "\r\n", "the token as the cookie");
	expect_refused("/?token=wrong-token-wrong-token", "", "a wrong ?token=");

	/* ?token= once: a cookie and a redirect; the cookie then opens the page. */
	int code = get("/?token=" TOKEN, "", &a);
	char cookie[256], v[256];
	ck_assert_msg(code == 303, "?token=: %d\n%s", code, a);
	ck_assert(header(a, "Location", v, sizeof v) && strcmp(v, "/") == 0);
	ck_assert(header(a, "Set-Cookie", cookie, sizeof cookie));
	ck_assert_msg(strstr(cookie, "HttpOnly") && strstr(cookie, "SameSite=Strict") && strstr(cookie, "Path=/") &&
	                  strstr(cookie, TOKEN) == NULL,
	              "cookie: %s", cookie);
	free(a);
	char cookie_header[300];
	snprintf(cookie_header, sizeof cookie_header, "Cookie: other=1; %.*s\r\n", (int)strcspn(cookie, ";"), cookie);
	code = get("/", cookie_header, &a);
	ck_assert_msg(code == 200, "/ with the cookie: %d\n%s", code, a);
	expect_security_headers(a);
	ck_assert(header(a, "Content-Type", v, sizeof v) && strcmp(v, "text/html; charset=utf-8") == 0);
	const char *html = body_of(a);
	/* The quarantined node is the first row of the nodes table. */
	const char *table = strstr(html, "<table id=\"nodes\">");
	ck_assert_msg(table != NULL, "%s", html);
	const char *row = strstr(table, "<tbody><tr><td>");
	ck_assert_msg(row && strncmp(row + 15, "st-1</td>", 9) == 0 && strstr(row, "quarantined") &&
	                  strstr(row, "quarantined") < strstr(row, "</tr>"),
	              "st-1 is not the first row, quarantined:\n%s", table);
	ck_assert(strstr(html, "<svg") && strstr(html, "asr1") && strstr(html, "policy-quarantine") &&
	          strstr(html, "act-malformed") && strstr(html, "<script") == NULL && strstr(html, "src=") == NULL &&
	          strstr(html, "href=") == NULL);
	free(a);

	/* /metrics: strict Prometheus text format, and the figures. */
	code = get("/metrics", "Authorization: Bearer " TOKEN "\r\n", &a);
	ck_assert_msg(code == 200, "/metrics: %d\n%s", code, a);
	ck_assert(header(a, "Content-Type", v, sizeof v) && strcmp(v, "text/plain; version=0.0.4; charset=utf-8") == 0);
	const char *m = body_of(a);
	char why[256];
	ck_assert_msg(prom_check(m, why, sizeof why) == 0, "/metrics: %s\n%s", why, m);
	double x;
	ck_assert(prom_value(m, "akm_nodes{state=\"active\"}", &x) && x == 2);
	ck_assert(prom_value(m, "akm_nodes{state=\"suspended\"}", &x) && x == 2);
	ck_assert(prom_value(m, "akm_nodes{state=\"revoked\"}", &x) && x == 1);
	ck_assert(prom_value(m, "akm_nodes_status{status=\"verified\"}", &x) && x == 4);
	ck_assert(prom_value(m, "akm_nodes_stale", &x) && x == 0);
	ck_assert(prom_value(m, "akm_asrs", &x) && x == 1);
	ck_assert(prom_value(m, "akm_asr_generation{asr=\"asr1\"}", &x) && x == 2); /* st-2 evicted */
	ck_assert(prom_value(m, "akm_asr_members{asr=\"asr1\"}", &x) && x == 2);
	/* The new generation reaches the members at their next check-in: none yet. */
	ck_assert_msg(prom_value(m, "akm_asr_members_current{asr=\"asr1\"}", &x) && x == 0, "%s", m);
	ck_assert_msg(prom_value(m, "akm_events_total{kind=\"malformed\"}", &x) && x == 3, "%s", m);
	ck_assert_msg(prom_value(m, "akm_events_total{kind=\"refused-state\"}", &x) && x == 1, "%s", m);
	ck_assert_msg(prom_value(m, "akm_events_total{kind=\"clone\"}", &x) && x == 1, "%s", m);
	ck_assert(prom_value(m, "akm_policy_actions_total{action=\"policy-quarantine\"}", &x) && x == 2);
	ck_assert(prom_value(m, "akm_policy_actions_total{action=\"policy-evict\"}", &x) && x == 1);
	ck_assert(prom_value(m, "akm_policy_actions_total{action=\"policy-alert\"}", &x) && x == 1);
	ck_assert_msg(strstr(m, "policy-load") == NULL, "the policy's loading counted as an action:\n%s", m);
	free(a);
	/* HEAD: the headers, no body. */
	char req[512];
	int n = snprintf(req, sizeof req, "HEAD /metrics HTTP/1.0\r\nAuthorization: Bearer " TOKEN "\r\n\r\n");
	ck_assert_int_eq(exchange(req, (size_t)n, &a), 200);
	ck_assert(header(a, "Content-Length", v, sizeof v) && atoi(v) > 100);
	ck_assert_str_eq(body_of(a), "");
	free(a);
	/* /status.json */
	code = get("/status.json", "Authorization: Bearer " TOKEN "\r\n", &a);
	ck_assert_int_eq(code, 200);
	ck_assert(strstr(body_of(a), "\"suspended\":2") && strstr(body_of(a), "\"name\":\"st-1\""));
	free(a);
	code = get("/other", "Authorization: Bearer " TOKEN "\r\n", &a);
	ck_assert_int_eq(code, 404);
	free(a);

	/* Strict: other methods, malformed, oversized, pipelined, silent. */
	n = snprintf(req, sizeof req, "POST /metrics HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " TOKEN "\r\n\r\n");
	ck_assert_int_eq(exchange(req, (size_t)n, &a), 405);
	ck_assert(header(a, "Allow", v, sizeof v) && strcmp(v, "GET, HEAD") == 0);
	ck_assert(strstr(a, "akm_nodes") == NULL);
	free(a);
	n = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\nHost: h\nAuthorization: Bearer " TOKEN "\n\n");
	ck_assert_int_eq(exchange(req, (size_t)n, &a), 400);
	ck_assert(strstr(a, "akm_nodes") == NULL);
	free(a);
	char *big = malloc(8192);
	n = snprintf(big, 8192, "GET / HTTP/1.1\r\nHost: h\r\nX-Filler: %06000d\r\n\r\n", 0);
	ck_assert_int_eq(exchange(big, (size_t)n, &a), 431);
	free(a);
	free(big);
	n = snprintf(req, sizeof req,
	             "GET /metrics HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " TOKEN "\r\n\r\n"
	             "GET /status.json HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " TOKEN "\r\n\r\n");
	ck_assert_int_eq(exchange(req, (size_t)n, &a), 200);
	ck_assert_msg(strstr(a + 1, "HTTP/1.1 ") == NULL && strstr(a, "\"station_id\"") == NULL,
	              "a pipelined request was answered too:\n%.300s", a);
	free(a);
	/* A silent client (slowloris): 408 once the 5-second deadline passes,
	 * while the page still answers others meanwhile. */
	double t0 = now_s();
	int slow = connect_status();
	ck_assert_int_eq(send(slow, "GET / HTTP/1.1\r\nHo", 18, MSG_NOSIGNAL), 18);
	code = get("/metrics", "Authorization: Bearer " TOKEN "\r\n", &a);
	ck_assert_int_eq(code, 200);
	free(a);
	char *late = read_all_fd(slow, 15, NULL);
	double waited = now_s() - t0;
	close(slow);
	ck_assert_msg(strncmp(late, "HTTP/1.1 408", 12) == 0 && waited >= 4.5 && waited < 12,
	              "the silent client: %.1f s, %s", waited, late);
	free(late);

	/* akm-nmm status on the same station. */
	char *out = NULL;
	EXPECT_RC(nmm(&out, "status", NULL), 0, out, "status");
	ck_assert_msg(strstr(out, "nodes: 5: 0 pending, 2 active, 2 suspended (quarantined), 1 revoked") &&
	                  strstr(out, "st-1") && strstr(out, "st-2") && strstr(out, "quarantined") &&
	                  strstr(out, "asr1") && strstr(out, "clone 1") && strstr(out, "malformed 3") &&
	                  strstr(out, "policy-quarantine 2") && strstr(out, "policy-evict 1"),
	              "status:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "status", "--json", NULL), 0, out, "status --json");
	/* The action's record as shown: its node apart, its own fields first,
	 * no site metadata, time or signature. */
	ck_assert_msg(strstr(out, "\"action\":\"policy-quarantine\",\"kind\":\"policy-quarantine\",\"node\":\"st-1\","
	                              "\"result\":\"CKR_OK\",\"detail\":\"rule=forged-messages metric=forged value=5 "
	                              "threshold=>=3 events=9,10,11\"}"),
	              "status --json: the action's record:\n%s", out);
	ck_assert_msg(strstr(out, "\"state\":{\"pending\":0,\"active\":2,\"suspended\":2,\"revoked\":1}") &&
	                  strstr(out, "\"attention\":[{\"name\":\"st-1\",\"state\":\"suspended\"") &&
	                  strstr(out, "{\"name\":\"st-2\",\"state\":\"suspended\"") &&
	                  strstr(out, "\"name\":\"asr1\",\"state\":\"active\",\"generation\":2,\"step\":0,\"members\":2,"
	                              "\"current\":0") &&
	                  strstr(out, "\"malformed\":3") && strstr(out, "\"refused-state\":1") &&
	                  strstr(out, "\"clone\":1") && strstr(out, "\"policy-quarantine\":2") &&
	                  strstr(out, "\"policy-evict\":1"),
	              "status --json:\n%s", out);
	free(out);
	/* The two active nodes checked in a second ago or more: stale after 1 s. */
	sleep(2);
	EXPECT_RC(nmm(&out, "status", "--stale-after", "1", "--json", NULL), 0, out, "status --stale-after 1");
	ck_assert_msg(strstr(out, "\"stale\":2") != NULL, "%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "status", "--stale-after", "0", NULL), 1, out, "--stale-after 0");
	ck_assert(strstr(out, "--stale-after") != NULL);
	free(out);
	EXPECT_RC(nmm(&out, "status", "--stale-after", "soon", NULL), 1, out, "--stale-after soon");
	free(out);

	/* The gathering in steps (as akm-nmmd runs it) gives what one
	 * gathering gives, one PR a step. */
	nmm_station s;
	open_station(&s);
	nmm_status_opts o = {.now = (uint64_t)time(NULL)};
	nmm_status whole, stepped;
	ck_assert_int_eq(nmm_status_gather(&s, &o, "test", &whole), AKM_RC_OK);
	nmm_status_run *run = NULL;
	ck_assert_int_eq(nmm_status_begin(&s, &o, "test", &run), AKM_RC_OK);
	int steps = 0, done;
	while ((done = nmm_status_step(run, 1)) == 0)
		steps++;
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(steps, 4); /* five PRs */
	ck_assert_int_eq(nmm_status_finish(run, &stepped), AKM_RC_OK);
	char *a1 = status_json(&whole), *a2 = status_json(&stepped);
	ck_assert_str_eq(a1, a2);
	free(a1);
	free(a2);
	nmm_status_free(&whole);
	nmm_status_free(&stepped);
	/* One begun and dropped leaves nothing behind (ASan/LSan builds). */
	ck_assert_int_eq(nmm_status_begin(&s, &o, "test", &run), AKM_RC_OK);
	ck_assert_int_eq(nmm_status_step(run, 2), 0);
	nmm_status_abort(run);
	nmm_station_close(&s);
}
END_TEST

/* akm-nmmd's refusals of the page's options: before anything starts. */
START_TEST(service_refuses_bad_status_options)
{
	const char *nmmd = getenv("AKM_TEST_NMMD");
	char tok[PATH_MAX + 16], short_tok[PATH_MAX + 16], *out = NULL;
	path_in(tok, sizeof tok, "good.token");
	write_file(tok, TOKEN "\n", strlen(TOKEN) + 1);
	path_in(short_tok, sizeof short_tok, "short.token");
	write_file(short_tok, "short\n", 6);
	struct {
		const char *const argv[12];
		const char *says;
	} cases[] = {
		{{nmmd, "--status-listen", "0.0.0.0:0", "--status-token-file", tok, NULL}, "not a loopback address"},
		{{nmmd, "--status-listen", "127.0.0.1:0", NULL}, "--status-token-file"},
		{{nmmd, "--status-listen", "127.0.0.1:0", "--status-token-file", short_tok, NULL}, "16-128 characters"},
		{{nmmd, "--status-token-file", tok, NULL}, "go with --status-listen"},
		{{nmmd, "--status-listen", "127.0.0.1:0", "--status-token-file", "/nonexistent/token", NULL},
		 "/nonexistent/token"},
		{{nmmd, "--status-listen", "127.0.0.1:99999", "--status-token-file", tok, NULL}, "port"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = run_argv(cases[i].argv, &out);
		ck_assert_msg(rc == 1 && strstr(out, cases[i].says) != NULL, "case %zu: exit %d, wanted 1 and \"%s\":\n%s", i,
		              rc, cases[i].says, out);
		free(out);
	}
}
END_TEST

/* ---- the page in headless Chromium ---- */

static const char *chromium_path(void)
{
	static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (access(names[i], X_OK) == 0)
			return names[i];
	return NULL;
}

/* Runs a shell command line (paths from mkdtemp: no quoting needed),
 * stdout into `out_file`; its exit status. */
static int shell(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	char *buf = malloc(1 << 22);
	size_t n = fread(buf, 1, (1 << 22) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

/* One WebDriver command to chromedriver at port: the answer's body. */
static char *webdriver(unsigned port, const char *method, const char *path, const char *json)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "chromedriver: %s", strerror(errno));
	char req[4096];
	int n = snprintf(req, sizeof req,
	                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                 method, path, port, json ? strlen(json) : 0, json ? json : "");
	ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	/* Up to the end of the body its Content-Length gives (the driver may
	 * keep the connection open). */
	size_t cap = 1 << 16, got = 0;
	char *ans = malloc(cap + 1);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 60000) <= 0)
			break;
		ssize_t r = recv(fd, ans + got, cap - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		ans[got] = '\0';
		const char *end = strstr(ans, "\r\n\r\n");
		char v[32];
		if (end && header(ans, "Content-Length", v, sizeof v) && got >= (size_t)(end + 4 - ans) + (size_t)atol(v))
			break;
		if (got == cap)
			break;
	}
	ans[got] = '\0';
	close(fd);
	return ans;
}

static int count_of(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

START_TEST(page_in_headless_chromium)
{
	const char *chromium = chromium_path();
	station_with_trouble();
	char cmd[16384], dom[PATH_MAX + 32], profile[PATH_MAX + 32], url[256];
	path_in(dom, sizeof dom, "dom.html");
	path_in(profile, sizeof profile, "chromium-profile");
	const char *flags = "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
	                    "--hide-scrollbars";
	/* Without the token: the 401 text, no figures. */
	snprintf(url, sizeof url, "http://%s:%u/", status_host, status_port);
	snprintf(cmd, sizeof cmd, "timeout 90 %s %s --user-data-dir=%s-0 --dump-dom %s >%s 2>/dev/null", chromium, flags,
	         profile, url, dom);
	ck_assert_int_eq(shell(cmd), 0);
	char *text = slurp(dom, NULL);
	ck_assert_msg(strstr(text, "unauthorized") && !strstr(text, "st-1") && !strstr(text, "asr1"), "%s", text);
	free(text);
	/* With it: the browser follows the redirect with its cookie and
	 * renders the page. */
	snprintf(url, sizeof url, "http://%s:%u/?token=%s", status_host, status_port, TOKEN);
	snprintf(cmd, sizeof cmd, "timeout 90 %s %s --user-data-dir=%s-1 --dump-dom '%s' >%s 2>/dev/null", chromium, flags,
	         profile, url, dom);
	ck_assert_int_eq(shell(cmd), 0);
	text = slurp(dom, NULL);
	const char *table = strstr(text, "id=\"nodes\"");
	ck_assert_msg(table != NULL, "no nodes table in the rendered page:\n%s", text);
	const char *q = strstr(table, "st-1</td>");
	ck_assert_msg(q && strstr(q, "quarantined") && strstr(q, "quarantined") < strstr(q, "</tr>"),
	              "st-1 is not shown quarantined:\n%s", table);
	ck_assert(strstr(text, "<svg") && strstr(text, "asr1"));
	free(text);
	/* A screenshot, kept in the build folder (docs/testing.md). */
	const char *keep = getenv("AKM_TEST_ARTEFACTS");
	char shot[PATH_MAX + 32];
	if (keep && *keep)
		snprintf(shot, sizeof shot, "%s/status-page.png", keep);
	else
		path_in(shot, sizeof shot, "status-page.png");
	unlink(shot);
	snprintf(cmd, sizeof cmd,
	         "timeout 90 %s %s --user-data-dir=%s-2 --window-size=1280,1500 --screenshot=%s '%s' >/dev/null 2>&1",
	         chromium, flags, profile, shot, url);
	ck_assert_int_eq(shell(cmd), 0);
	size_t len = 0;
	char *png = slurp(shot, &len);
	ck_assert_msg(len > 20000 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "%s: %zu bytes, not a PNG", shot, len);
	free(png);
	fprintf(stderr, "screenshot: %s\n", shot);

	/* ChromeDriver (WebDriver): the rows of the tables, as rendered. */
	if (access("/usr/bin/chromedriver", X_OK) != 0) {
		fprintf(stderr, "chromedriver not installed: the WebDriver check is left out\n");
		return;
	}
	unsigned port = 9515 + (unsigned)(getpid() % 1000);
	char drv_log[PATH_MAX + 32];
	path_in(drv_log, sizeof drv_log, "chromedriver.log");
	pid_t drv = fork();
	ck_assert_int_ge(drv, 0);
	if (drv == 0) {
		char portopt[32];
		snprintf(portopt, sizeof portopt, "--port=%u", port);
		freopen(drv_log, "w", stdout);
		freopen(drv_log, "a", stderr);
		execl("/usr/bin/chromedriver", "chromedriver", portopt, (char *)NULL);
		_exit(127);
	}
	char *ans = NULL;
	for (int i = 0; i < 100; i++) { /* until it listens */
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
		if (ok == 0)
			break;
		usleep(100000);
	}
	char caps[8192];
	snprintf(caps, sizeof caps,
	         "{\"capabilities\":{\"alwaysMatch\":{\"goog:chromeOptions\":{\"binary\":\"%s\",\"args\":["
	         "\"--headless\",\"--no-sandbox\",\"--disable-gpu\",\"--disable-dev-shm-usage\","
	         "\"--user-data-dir=%s-3\"]}}}}",
	         chromium, profile);
	ans = webdriver(port, "POST", "/session", caps);
	char session[128] = "";
	const char *sid = strstr(ans, "\"sessionId\":\"");
	ck_assert_msg(sid != NULL, "no WebDriver session:\n%s", ans);
	sscanf(sid + 13, "%127[^\"]", session);
	free(ans);
	char path[256], body[512];
	snprintf(path, sizeof path, "/session/%s/url", session);
	snprintf(body, sizeof body, "{\"url\":\"%s\"}", url);
	free(webdriver(port, "POST", path, body));
	snprintf(path, sizeof path, "/session/%s/elements", session);
	ans = webdriver(port, "POST", path, "{\"using\":\"css selector\",\"value\":\"#nodes tbody tr\"}");
	int rows = count_of(ans, "element-6066-11e4-a52e-4f735466cecf");
	free(ans);
	ans = webdriver(port, "POST", path, "{\"using\":\"css selector\",\"value\":\"#asrs tbody tr\"}");
	int asr_rows = count_of(ans, "element-6066-11e4-a52e-4f735466cecf");
	free(ans);
	ans = webdriver(port, "POST", path, "{\"using\":\"css selector\",\"value\":\"#nodes tbody tr:first-child .tag\"}");
	char elem[128] = "";
	const char *e = strstr(ans, "element-6066-11e4-a52e-4f735466cecf\":\"");
	if (e)
		sscanf(e + 38, "%127[^\"]", elem);
	free(ans);
	snprintf(path, sizeof path, "/session/%s/element/%s/text", session, elem);
	ans = webdriver(port, "GET", path, NULL);
	bool first_quarantined = strstr(ans, "\"value\":\"quarantined\"") != NULL;
	free(ans);
	snprintf(path, sizeof path, "/session/%s", session);
	free(webdriver(port, "DELETE", path, NULL));
	kill(drv, SIGTERM);
	waitpid(drv, NULL, 0);
	ck_assert_msg(rows == 5 && asr_rows == 1, "WebDriver: %d node rows (5 expected), %d ASR rows (1)", rows, asr_rows);
	ck_assert_msg(first_quarantined, "WebDriver: the first node row's tag is not \"quarantined\"");
}
END_TEST

static bool page_mode;

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, NULL, teardown);
	if (page_mode) {
		tcase_add_test(tc, page_in_headless_chromium);
	} else {
		tcase_add_test(tc, page_metrics_and_cli);
		tcase_add_test(tc, service_refuses_bad_status_options);
	}
}

int main(int argc, char **argv)
{
	page_mode = argc > 1 && strcmp(argv[1], "--page") == 0;
	if (page_mode && chromium_path() == NULL) {
		fprintf(stderr, "SKIP: chromium is not installed (apt-get install chromium chromium-driver)\n");
		return AKM_TEST_SKIP;
	}
	if (getenv("AKM_TEST_NMMD") == NULL) {
		fprintf(stderr, "SKIP: AKM_TEST_NMMD is not set\n");
		return AKM_TEST_SKIP;
	}
	return nmm_test_main(page_mode ? "test-status-page" : "test-status", "status", 600, false, add_tests);
}
