/*
 * Activation over the network (issue 11, "Must show"), against a real
 * akm-nmmd on 127.0.0.1 and real nodes, each with a SoftHSM2 token of its
 * own:
 *
 *   - five provisioned nodes (A-C by USB bundle, D-E written into their
 *     elements) activate, check in and report with the real akm-node; the
 *     station lists them verified and the audit trail names the peer;
 *   - refused, each with an audit record and no change: a replayed capture
 *     of each message (also after a station restart), every single-byte
 *     change of every message of a real exchange (made in flight by a
 *     relay between akm-node and akm-nmmd), the wrong hardware value, a
 *     revoked PR (refused before its keys are used), a truncated frame, an
 *     oversized length, a client that sends nothing (dropped after the
 *     timeout while another node activates);
 *   - lockouts of a PR and of an address, a clone signal from a second
 *     address, the Unix socket, SIGHUP with a bad and a good file, SIGTERM
 *     finishing the exchange in hand;
 *   - a flood of replayed first messages does not grow the service's
 *     memory;
 *   - 200 nodes activating at once, the service SIGKILLed when half are
 *     done: no completed activation is lost, and after a restart the rest
 *     finish; then 200 check-ins at once all succeed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nmm-test.h"
#include "bench/act-fleet.h"
#include "shared/net.h"

#define PASSPHRASE "correct horse battery staple 4"

static const char *const nodes[5] = {"node-A", "node-B", "node-C", "node-D", "node-E"};
static char hw[5][80];
static const char *nmmd_path;
static act_service sv;

/* ---- the station and five nodes --------------------------------------- */

static void provision_five(void)
{
	char *out = NULL, anchor[PATH_MAX + 16], usb[PATH_MAX + 16], batch[PATH_MAX + 16], batch_se[PATH_MAX + 16],
	     pass[PATH_MAX + 16];
	path_in(anchor, sizeof anchor, "station.akmp");
	path_in(usb, sizeof usb, "usb");
	path_in(batch, sizeof batch, "batch.txt");
	path_in(batch_se, sizeof batch_se, "batch-se.txt");
	path_in(pass, sizeof pass, "pass");
	write_file(pass, PASSPHRASE "\n", strlen(PASSPHRASE) + 1);
	EXPECT_RC(nmm(&out, "init", "--anchor-out", anchor, NULL), 0, out, "init");
	free(out);
	char text[2][512] = {"", ""};
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(akm_testenv_add_token(&env, nodes[i]), 0);
		node_hw(nodes[i], hw[i], sizeof hw[i]);
		size_t k = i < 3 ? 0 : 1, n = strlen(text[k]);
		snprintf(text[k] + n, sizeof text[k] - n, "%s %s\n", nodes[i], hw[i]);
	}
	write_file(batch, text[0], strlen(text[0]));
	write_file(batch_se, text[1], strlen(text[1]));
	EXPECT_RC(nmm(&out, "provision", "--batch", batch, "--delivery", "passphrase", NULL), 0, out, "provision A-C");
	free(out);
	EXPECT_RC(nmm(&out, "provision", "--batch", batch_se, NULL), 0, out, "provision D-E");
	free(out);
	ck_assert_int_eq(mkdir(usb, 0700), 0);
	EXPECT_RC(nmm(&out, "export", "--nodes", "node-A,node-B,node-C", "--out", usb, "--protection", "passphrase",
	              "--passphrase-file", pass, "--argon2-ops", "1", "--argon2-mem-kib", "8192", NULL),
	          0, out, "export A-C");
	free(out);
	for (int i = 0; i < 3; i++) {
		EXPECT_RC(node(&out, nodes[i], "import", "--dir", usb, "--passphrase-file", pass, "--anchor", anchor, "--trust-on-first-use", NULL),
		          0, out, "import");
		free(out);
	}
	for (int i = 3; i < 5; i++) {
		EXPECT_RC(nmm(&out, "write-se", "--node", nodes[i], "--se-module", env.softhsm_path, "--se-token", nodes[i],
		              "--se-pin-file", pin_file, NULL),
		          0, out, "write-se");
		free(out);
	}
}

static void service_start(const char *const *extra)
{
	char err[512];
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	ck_assert_msg(act_service_start(&sv, nmmd_path, env.module_path, STATION, pin_file, extra, err, sizeof err) == 0,
	              "%s", err);
}

static void teardown(void)
{
	if (sv.pid > 0)
		act_service_stop(&sv, SIGKILL);
	nmm_test_teardown();
}

/* How many records of `action` node `name`'s trail holds. */
static int count_records(const char *name, const char *action)
{
	char *out = NULL, pat[128];
	EXPECT_RC(nmm(&out, "audit", "--node", name, "--json", NULL), 0, out, "audit --json");
	snprintf(pat, sizeof pat, "\"action\":\"%s\"", action);
	int n = 0;
	for (const char *p = out; (p = strstr(p, pat)) != NULL; p += strlen(pat))
		n++;
	free(out);
	return n;
}

static bool audit_has(const char *text)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "audit", NULL), 0, out, "audit");
	bool found = strstr(out, text) != NULL;
	free(out);
	return found;
}

static void expect_status(const char *name, const char *status)
{
	char *out = NULL, v[64];
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	const char *obj = json_find_node(out, name);
	ck_assert_msg(obj != NULL, "list --json has no %s:\n%s", name, out);
	ck_assert_msg(json_member_any(obj, status_keys, v, sizeof v) && strcmp(v, status) == 0,
	              "%s: status %s, expected %s", name, v, status);
	free(out);
}

static int activate(char **out, int i, const char *op, const char *addr)
{
	return node(out, nodes[i], op, "--nmm", addr, "--timeout", "3", NULL);
}

START_TEST(five_nodes_activate_check_in_and_report)
{
	provision_five();
	service_start(NULL);
	char *out = NULL;
	for (int i = 0; i < 5; i++)
		expect_status(nodes[i], i < 3 ? "exported" : "imported");
	for (int i = 0; i < 5; i++) {
		EXPECT_RC(activate(&out, i, "activate", sv.addr), 0, out, "activate");
		ck_assert_msg(strstr(out, "status verified"), "activate printed:\n%s", out);
		free(out);
	}
	for (int i = 0; i < 5; i++)
		expect_status(nodes[i], "verified");
	for (int i = 0; i < 5; i++) {
		EXPECT_RC(activate(&out, i, "checkin", sv.addr), 0, out, "checkin");
		ck_assert_msg(strstr(out, "0 ASR package(s) delivered, 0 enrolled"), "checkin printed:\n%s", out);
		free(out);
	}
	EXPECT_RC(node(&out, nodes[0], "report", "--nmm", sv.addr, "--event", "wrong-pin", "--count", "3", "--detail",
	               "three wrong PINs at the console", "--json", NULL),
	          0, out, "report");
	ck_assert_msg(strstr(out, "\"events_recorded\":1"), "report --json printed:\n%s", out);
	free(out);
	ck_assert_int_eq(count_records("node-A", "activate"), 1);
	ck_assert_int_eq(count_records("node-A", "checkin"), 1);
	ck_assert_int_eq(count_records("node-A", "report"), 1);
	ck_assert_int_eq(count_records("node-A", "node-report"), 1);
	ck_assert(audit_has("peer=127.0.0.1; verified; status=verified"));
	ck_assert(audit_has("event=wrong-pin; count=3"));
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);

	/* akm-nmm verify --nmm waits for the node's next exchange: a check-in
	 * while it waits verifies; no exchange within --wait is exit 7. */
	fflush(NULL);
	pid_t waiter = fork();
	ck_assert_int_ge(waiter, 0);
	if (waiter == 0) {
		char *o = NULL;
		int rc = nmm(&o, "verify", "--node", "node-C", "--nmm", sv.addr, "--wait", "20", NULL);
		if (rc != 0 || strstr(o, "node-C: verified over the network (checkin from 127.0.0.1") == NULL)
			fprintf(stderr, "verify --nmm: exit %d:\n%s", rc, o ? o : "");
		_exit(rc == 0 && strstr(o, "verified over the network") ? 0 : 1);
	}
	usleep(1500000);
	EXPECT_RC(activate(&out, 2, "checkin", sv.addr), 0, out, "checkin while verify waits");
	free(out);
	int wstatus;
	ck_assert_int_eq(waitpid(waiter, &wstatus, 0), waiter);
	ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "verify --nmm did not see the check-in");
	EXPECT_RC(nmm(&out, "verify", "--node", "node-C", "--nmm", sv.addr, "--wait", "1", NULL), 7, out,
	          "verify --nmm without an exchange");
	ck_assert_msg(strstr(out, "no exchange with the node within 1 s"), "printed:\n%s", out);
	free(out);
	EXPECT_RC(nmm(&out, "verify", "--node", "node-C", "--nmm", "127.0.0.1:1", NULL), 7, out, "verify, no service");
	free(out);

	/* No station there: exit 7. */
	EXPECT_RC(activate(&out, 0, "activate", "127.0.0.1:1"), 7, out, "no station");
	free(out);
	ck_assert_int_eq(WEXITSTATUS(act_service_stop(&sv, SIGTERM)), 0);
}
END_TEST

/* ---- a relay between akm-node and akm-nmmd ----------------------------- */

#define FRAMES 8

typedef struct relay {
	int lfd;
	char addr[64];
	const char *target;
	const char *source;        /* the address it connects from (NULL: any) */
	int flip_frame, flip_byte; /* -1: none */
	bool replay_station;       /* answer the node with the captured station frames */
	uint8_t frame[FRAMES][AKM_PROTO_FRAME_MAX];
	size_t len[FRAMES];
	int nframes;
	pthread_t th;
} relay;

static relay captured; /* a clean exchange */

/* Reads one frame (its header's length believed) within 4 s: its length, or 0. */
static size_t read_frame(int fd, uint8_t *buf)
{
	uint64_t deadline = akm_net_now_ms() + 4000;
	size_t have = 0, need = AKM_PROTO_HDR_LEN;
	while (have < need) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = akm_net_now_ms();
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return 0;
		ssize_t r = recv(fd, buf + have, need - have, 0);
		if (r <= 0)
			return 0;
		have += (size_t)r;
		if (have == AKM_PROTO_HDR_LEN && need == AKM_PROTO_HDR_LEN) {
			size_t body = (size_t)buf[4] << 8 | buf[5];
			if (body > AKM_PROTO_BODY_MAX)
				return have;
			need += body;
		}
	}
	return have;
}

/* A connection to the service from a loopback address of our choice
 * (127.0.0.0/8 all reaches lo), as a node elsewhere would have. */
static int connect_from(const char *source)
{
	struct sockaddr_storage to;
	socklen_t tl;
	char err[256];
	if (akm_net_resolve(sv.addr, false, &to, &tl, err, sizeof err) != 0)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in from = {.sin_family = AF_INET};
	inet_pton(AF_INET, source, &from.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) != 0 || connect(fd, (struct sockaddr *)&to, tl) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void *relay_main(void *arg)
{
	relay *r = arg;
	struct pollfd p = {r->lfd, POLLIN, 0};
	if (poll(&p, 1, 10000) <= 0)
		return NULL;
	int nfd = accept(r->lfd, NULL, NULL);
	if (nfd < 0)
		return NULL;
	int sfd = -1;
	if (!r->replay_station) {
		char err[256];
		sfd = r->source ? connect_from(r->source) : akm_net_connect(r->target, akm_net_now_ms() + 4000, err, sizeof err);
		if (sfd < 0) {
			close(nfd);
			return NULL;
		}
	}
	for (int k = 0; k < FRAMES; k++) {
		bool from_node = k % 2 == 0;
		uint8_t buf[AKM_PROTO_FRAME_MAX];
		size_t n;
		if (r->replay_station && !from_node) {
			if (k >= captured.nframes)
				break;
			n = captured.len[k];
			memcpy(buf, captured.frame[k], n);
		} else {
			n = read_frame(from_node ? nfd : sfd, buf);
			if (n == 0)
				break;
		}
		memcpy(r->frame[k], buf, n);
		r->len[k] = n;
		r->nframes = k + 1;
		if (k == r->flip_frame && r->flip_byte >= 0 && (size_t)r->flip_byte < n)
			buf[r->flip_byte] ^= 0x01;
		int to = from_node ? sfd : nfd;
		if (to < 0)
			continue; /* replaying the station: the node's frames go nowhere */
		if (send(to, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
			break;
	}
	close(nfd);
	if (sfd >= 0)
		close(sfd);
	return NULL;
}

static void relay_start(relay *r, const char *target)
{
	memset(r, 0, sizeof *r);
	r->flip_frame = r->flip_byte = -1;
	r->target = target;
	char err[256];
	r->lfd = akm_net_listen("127.0.0.1:0", 4, err, sizeof err);
	ck_assert_msg(r->lfd >= 0, "%s", err);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(r->lfd, (struct sockaddr *)&ss, &sl);
	snprintf(r->addr, sizeof r->addr, "127.0.0.1:%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

/* The relay's thread waits for one connection: run a node through it. */
static int relay_run(relay *r, int node_index, const char *op)
{
	pthread_create(&r->th, NULL, relay_main, r);
	char *out = NULL;
	int rc = activate(&out, node_index, op, r->addr);
	pthread_join(r->th, NULL);
	free(out);
	close(r->lfd);
	return rc;
}

/* ---- raw frames to the service ------------------------------------------ */

static int raw_connect(void)
{
	char err[256];
	int fd = akm_net_connect(sv.addr, akm_net_now_ms() + 4000, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	return fd;
}

/* Sends frames, returns the type of the answer (0: none, connection
 * closed); *code gets an ERROR's code. */
static int raw_exchange(int fd, const uint8_t *frame, size_t len, uint8_t *code)
{
	ck_assert_int_eq(send(fd, frame, len, MSG_NOSIGNAL), (ssize_t)len);
	uint8_t buf[AKM_PROTO_FRAME_MAX];
	size_t n = read_frame(fd, buf);
	if (n < AKM_PROTO_HDR_LEN)
		return 0;
	if (buf[3] == AKM_PROTO_ERROR && code)
		*code = buf[AKM_PROTO_HDR_LEN];
	return buf[3];
}

START_TEST(replays_and_changed_bytes_are_refused)
{
	provision_five();
	static const char *const quick[] = {"--idle-timeout", "1", "--fail-limit", "100000", NULL};
	service_start(quick);
	/* A clean exchange of node A, captured. */
	relay_start(&captured, sv.addr);
	ck_assert_int_eq(relay_run(&captured, 0, "activate"), 0);
	ck_assert_int_eq(captured.nframes, 6);
	ck_assert_int_eq(count_records("node-A", "activate"), 1);

	/* Message 1 replayed: answered (it cannot be told from a new one),
	 * message 3 replayed after it: refused by the counter, recorded. */
	uint8_t code = 0;
	int fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, captured.frame[0], captured.len[0], &code), AKM_PROTO_CHALLENGE);
	ck_assert_int_eq(raw_exchange(fd, captured.frame[2], captured.len[2], &code), AKM_PROTO_RESULT);
	close(fd);
	ck_assert_int_eq(count_records("node-A", "act-replay"), 1);
	/* Message 3 alone, on a connection of its own. */
	fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, captured.frame[2], captured.len[2], &code), AKM_PROTO_RESULT);
	close(fd);
	ck_assert_int_eq(count_records("node-A", "act-replay"), 2);
	/* The node's record without a handshake: malformed. */
	fd = raw_connect();
	code = 0;
	ck_assert_int_eq(raw_exchange(fd, captured.frame[4], captured.len[4], &code), AKM_PROTO_ERROR);
	ck_assert_int_eq(code, AKM_PERR_MALFORMED);
	close(fd);
	/* The station's frames replayed to the node: message 2 and 4 of the
	 * capture (the node's new ephemeral key makes them useless). */
	relay rp;
	relay_start(&rp, sv.addr);
	rp.replay_station = true;
	ck_assert_int_eq(relay_run(&rp, 0, "activate"), 2);
	ck_assert_int_eq(count_records("node-A", "activate"), 1);

	/* Every byte of every message changed in flight: the node never
	 * succeeds; only a changed DONE (after the station recorded the
	 * exchange) adds a record. */
	int done_flips = 0;
	for (int k = 0; k < 6; k++) {
		for (size_t b = 0; b < captured.len[k]; b++) {
			relay r;
			relay_start(&r, sv.addr);
			r.flip_frame = k;
			r.flip_byte = (int)b;
			int rc = relay_run(&r, 0, "activate");
			ck_assert_msg(rc != 0, "frame %d byte %zu changed: the node succeeded", k, b);
			if (k == 5 && r.nframes == 6)
				done_flips++;
		}
	}
	ck_assert_int_eq(count_records("node-A", "activate"), 1 + done_flips);
	expect_status("node-A", "verified");

	/* After a restart, the capture's message 3 no longer opens (the cookie
	 * key died with the process). */
	act_service_stop(&sv, SIGTERM);
	service_start(quick);
	fd = raw_connect();
	code = 0;
	ck_assert_int_eq(raw_exchange(fd, captured.frame[2], captured.len[2], &code), AKM_PROTO_ERROR);
	ck_assert_int_eq(code, AKM_PERR_REFUSED);
	close(fd);
	ck_assert(audit_has("reason=cookie"));
	/* And the node activates again as before. */
	char *out = NULL;
	EXPECT_RC(activate(&out, 0, "activate", sv.addr), 0, out, "activate after restart");
	free(out);
}
END_TEST

/* Replaces the MAC key of the PR in node `label`'s token by another key of
 * the same CKA_ID and label: a node that claims the PR without holding it. */
static void replace_mac_key(const char *label)
{
	CK_SLOT_ID slot;
	CK_FUNCTION_LIST *f = node_token_open(label, &slot);
	CK_SESSION_HANDLE s;
	ck_assert_int_eq(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_int_eq(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN)), CKR_OK);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	ck_assert_int_eq(f->C_FindObjectsInit(s, find, 2), CKR_OK);
	ck_assert_int_eq(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
	f->C_FindObjectsFinal(s);
	ck_assert_int_eq(n, 1);
	uint8_t id[64], name[80], value[32];
	CK_ATTRIBUTE a[] = {{CKA_ID, id, sizeof id}, {CKA_LABEL, name, sizeof name}};
	ck_assert_int_eq(f->C_GetAttributeValue(s, h, a, 2), CKR_OK);
	ck_assert_int_eq(f->C_DestroyObject(s, h), CKR_OK);
	ck_assert_int_eq(f->C_GenerateRandom(s, value, sizeof value), CKR_OK);
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &yes, sizeof yes},
		{CKA_PRIVATE, &yes, sizeof yes}, {CKA_SIGN, &yes, sizeof yes}, {CKA_VALUE, value, sizeof value},
		{CKA_ID, id, a[0].ulValueLen}, {CKA_LABEL, name, a[1].ulValueLen},
	};
	ck_assert_int_eq(f->C_CreateObject(s, t, sizeof t / sizeof t[0], &h), CKR_OK);
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
}

START_TEST(wrong_hardware_revoked_and_malformed_input)
{
	provision_five();
	/* Its refusals (seven from 127.0.0.1) must not lock the address out. */
	static const char *const quick[] = {"--idle-timeout", "1", "--fail-limit", "100", NULL};
	service_start(quick);
	char *out = NULL;
	EXPECT_RC(node(&out, nodes[1], "activate", "--nmm", sv.addr, "--hw-id", "not-my-hardware", NULL), 2, out,
	          "wrong hardware");
	ck_assert_msg(strstr(out, "wrong hardware value"), "printed:\n%s", out);
	free(out);
	ck_assert_int_eq(count_records("node-B", "clone-signal"), 1);
	expect_status("node-B", "exported");

	/* A node without the PR's key: its proof fails (ERROR 05, act-bad-proof),
	 * nothing changes, and akm-nmm verify --nmm waiting for it says so
	 * (exit 6). */
	replace_mac_key(nodes[4]);
	fflush(NULL);
	pid_t waiter = fork();
	ck_assert_int_ge(waiter, 0);
	if (waiter == 0) {
		char *o = NULL;
		int rc = nmm(&o, "verify", "--node", "node-E", "--nmm", sv.addr, "--wait", "20", NULL);
		if (rc != 6 || strstr(o, "verification failed at the node's exchange from 127.0.0.1 (act-bad-proof)") == NULL)
			fprintf(stderr, "verify --nmm: exit %d:\n%s", rc, o ? o : "");
		_exit(rc == 6 && strstr(o, "act-bad-proof") ? 0 : 1);
	}
	usleep(1500000);
	EXPECT_RC(activate(&out, 4, "activate", sv.addr), 2, out, "without the PR's key");
	ck_assert_msg(strstr(out, "the station refused: refused"), "printed:\n%s", out);
	free(out);
	int wstatus;
	ck_assert_int_eq(waitpid(waiter, &wstatus, 0), waiter);
	ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "verify --nmm did not see the failed proof");
	ck_assert_int_eq(count_records("node-E", "act-bad-proof"), 1);
	ck_assert_int_eq(count_records("node-E", "activate"), 0);
	expect_status("node-E", "imported");

	/* A revoked PR: refused (ERROR 05: its keys are not usable) and recorded. */
	EXPECT_RC(nmm(&out, "revoke", "node-C", "--reason", "lost", NULL), 0, out, "revoke");
	free(out);
	EXPECT_RC(activate(&out, 2, "activate", sv.addr), 2, out, "revoked");
	ck_assert_msg(strstr(out, "the station refused: refused"), "printed:\n%s", out);
	free(out);
	ck_assert(audit_has("reason=state; state=revoked"));

	/* An oversized length, a bad magic, a truncated frame, silence. */
	uint8_t big[] = {0x41, 0x4B, 0x01, 0x01, 0x04, 0x01};
	uint8_t code = 0;
	int fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, big, sizeof big, &code), AKM_PROTO_ERROR);
	ck_assert_int_eq(code, AKM_PERR_MALFORMED);
	close(fd);
	uint8_t magic[] = {0x41, 0x4C, 0x01, 0x01, 0x00, 0x51};
	fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, magic, sizeof magic, &code), AKM_PROTO_ERROR);
	close(fd);
	uint8_t version[] = {0x41, 0x4B, 0x02, 0x01, 0x00, 0x51};
	fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, version, sizeof version, &code), AKM_PROTO_ERROR);
	ck_assert_int_eq(code, AKM_PERR_VERSION);
	close(fd);
	/* A truncated HELLO, then nothing: dropped after the idle timeout
	 * (ERROR 06) while node D activates meanwhile. */
	uint8_t part[6 + 40] = {0x41, 0x4B, 0x01, 0x01, 0x00, 0x51};
	fd = raw_connect();
	int silent = raw_connect();
	ck_assert_int_eq(send(fd, part, sizeof part, MSG_NOSIGNAL), (ssize_t)sizeof part);
	EXPECT_RC(activate(&out, 3, "activate", sv.addr), 0, out, "activate while two peers stall");
	free(out);
	uint8_t buf[AKM_PROTO_FRAME_MAX];
	size_t n = read_frame(fd, buf);
	ck_assert_msg(n == 7 && buf[3] == AKM_PROTO_ERROR && buf[6] == AKM_PERR_TIMEOUT, "truncated: %zu bytes", n);
	n = read_frame(silent, buf);
	ck_assert_msg(n == 7 && buf[3] == AKM_PROTO_ERROR && buf[6] == AKM_PERR_TIMEOUT, "silent: %zu bytes", n);
	close(fd);
	close(silent);
	ck_assert(audit_has("act-timeout"));
	ck_assert(audit_has("act-malformed"));
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
}
END_TEST

static bool log_has(const char *text)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/nmmd.log", sv.dir);
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Waits up to 5 s for the service's log to say `text`. */
static bool log_shows(const char *text)
{
	for (int i = 0; i < 500; i++) {
		if (log_has(text))
			return true;
		usleep(10000);
	}
	return false;
}

START_TEST(lockouts_clones_unix_socket_reload_and_stop)
{
	provision_five();
	char conf[PATH_MAX + 16], sock[PATH_MAX + 16], listen_unix[PATH_MAX + 32];
	path_in(conf, sizeof conf, "nmmd.conf");
	path_in(sock, sizeof sock, "nmmd.sock");
	snprintf(listen_unix, sizeof listen_unix, "unix:%s", sock);
	const char good[] = "# test settings\nfail-limit = 3\nlockout = 60\n";
	write_file(conf, good, strlen(good));
	const char *const args[] = {"--config", conf, "--listen", listen_unix, "--idle-timeout", "1", NULL};
	service_start(args);
	char *out = NULL;

	/* Over the Unix socket. */
	EXPECT_RC(activate(&out, 4, "activate", listen_unix), 0, out, "activate over the Unix socket");
	free(out);

	/* One PR from two addresses within the clone window: a clone signal,
	 * the exchange itself succeeds. */
	EXPECT_RC(activate(&out, 3, "activate", sv.addr), 0, out, "activate D from 127.0.0.1");
	free(out);
	relay r;
	relay_start(&r, sv.addr);
	r.source = "127.0.0.2";
	ck_assert_int_eq(relay_run(&r, 3, "checkin"), 0);
	ck_assert_int_eq(count_records("node-D", "clone-signal"), 1);
	ck_assert(audit_has("reason=address; peer=127.0.0.2; earlier=127.0.0.1"));

	/* Three wrong hardware values lock node B's PR out: then even the
	 * right one is refused (ERROR 04), with one lockout record. */
	for (int i = 0; i < 3; i++) {
		EXPECT_RC(node(&out, nodes[1], "activate", "--nmm", sv.addr, "--hw-id", "cloned", NULL), 2, out,
		          "wrong hardware");
		free(out);
	}
	EXPECT_RC(activate(&out, 1, "activate", sv.addr), 2, out, "B while locked out");
	ck_assert_msg(strstr(out, "locked out"), "printed:\n%s", out);
	free(out);
	ck_assert_int_eq(count_records("node-B", "lockout"), 1);

	/* Three malformed frames from 127.0.0.3 lock that address out; 127.0.0.1
	 * goes on. */
	uint8_t bad[] = {0x41, 0x4B, 0x01, 0x09, 0x00, 0x01, 0x00};
	uint8_t buf[AKM_PROTO_FRAME_MAX];
	for (int i = 0; i < 3; i++) {
		int fd = connect_from("127.0.0.3");
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(send(fd, bad, sizeof bad, MSG_NOSIGNAL), (ssize_t)sizeof bad);
		size_t n = read_frame(fd, buf);
		ck_assert_msg(n == 7 && buf[6] == AKM_PERR_MALFORMED, "malformed %d: %zu bytes", i, n);
		close(fd);
	}
	int fd = connect_from("127.0.0.3");
	ck_assert_int_ge(fd, 0);
	size_t n = read_frame(fd, buf);
	ck_assert_msg(n == 7 && buf[6] == AKM_PERR_LOCKED, "a locked-out address: %zu bytes", n);
	close(fd);
	ck_assert(audit_has("key=addr:127.0.0.3"));
	EXPECT_RC(activate(&out, 0, "activate", sv.addr), 0, out, "A from 127.0.0.1 meanwhile");
	free(out);

	/* SIGHUP: a bad file is refused naming its line, the settings stay;
	 * a good one is taken. */
	const char broken[] = "fail-limit = 3\nlockout = forever\n";
	write_file(conf, broken, strlen(broken));
	kill(sv.pid, SIGHUP);
	ck_assert(log_shows("nmmd.conf:2: lockout: not a number: forever"));
	ck_assert(log_has("reload refused, the previous settings stay"));
	EXPECT_RC(activate(&out, 2, "activate", sv.addr), 0, out, "C after a refused reload");
	free(out);
	write_file(conf, good, strlen(good));
	kill(sv.pid, SIGHUP);
	ck_assert(log_shows("configuration reloaded"));

	/* SIGTERM with an exchange in hand: it is finished, new ones are not
	 * taken, and the service leaves with status 0. */
	relay_start(&captured, sv.addr);
	ck_assert_int_eq(relay_run(&captured, 2, "checkin"), 0);
	fd = raw_connect();
	ck_assert_int_eq(raw_exchange(fd, captured.frame[0], captured.len[0], NULL), AKM_PROTO_CHALLENGE);
	kill(sv.pid, SIGTERM);
	ck_assert(log_shows("stopping: 1 exchange(s) to finish"));
	char err[256];
	int refused = akm_net_connect(sv.addr, akm_net_now_ms() + 1000, err, sizeof err);
	ck_assert_msg(refused < 0, "a new connection was taken while stopping");
	ck_assert_int_eq(raw_exchange(fd, captured.frame[2], captured.len[2], NULL), AKM_PROTO_RESULT);
	close(fd);
	int status = act_service_stop(&sv, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}
END_TEST

START_TEST(the_connection_cap_and_the_module_checked)
{
	char *out = NULL, anchor[PATH_MAX + 16];
	path_in(anchor, sizeof anchor, "station.akmp");
	EXPECT_RC(nmm(&out, "init", "--anchor-out", anchor, NULL), 0, out, "init");
	free(out);
	/* The raw backend is refused: relationships only through akm-pkcs11. */
	const char *argv[] = {nmmd_path, "--module", env.softhsm_path, "--token", STATION, "--pin-file", pin_file,
	                      "--listen", "127.0.0.1:0", NULL};
	EXPECT_RC(run_argv(argv, &out), 4, out, "akm-nmmd on the raw backend");
	ck_assert_msg(strstr(out, "is not akm-pkcs11"), "printed:\n%s", out);
	free(out);
	/* Two connections at most: the third is told busy and closed. */
	static const char *const cap[] = {"--max-connections", "2", NULL};
	service_start(cap);
	int a = raw_connect(), b = raw_connect();
	usleep(200000);
	int c = raw_connect();
	uint8_t buf[AKM_PROTO_FRAME_MAX];
	size_t n = read_frame(c, buf);
	ck_assert_msg(n == 7 && buf[3] == AKM_PROTO_ERROR && buf[6] == AKM_PERR_BUSY, "third connection: %zu bytes", n);
	close(c);
	close(a);
	close(b);
}
END_TEST

static bool under_asan(void)
{
	char line[PATH_MAX + 256];
	bool found = false;
	FILE *maps = fopen("/proc/self/maps", "r");
	while (maps && !found && fgets(line, sizeof line, maps))
		found = strstr(line, "libasan.so") != NULL;
	if (maps)
		fclose(maps);
	return found;
}

START_TEST(a_flood_of_first_messages_keeps_no_state)
{
	provision_five();
	/* SoftHSM2 keeps destroyed session objects until it is finalised: the
	 * service re-opens the station every 500 ephemeral keys here. */
	static const char *const refresh[] = {"--token-refresh", "500", NULL};
	service_start(refresh);
	relay_start(&captured, sv.addr);
	ck_assert_int_eq(relay_run(&captured, 0, "activate"), 0);
	/* Warm up (1,000), then 4,000 replayed HELLOs over 200 connections. */
	long before = 0;
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			before = act_proc_kib(sv.pid, "VmRSS:");
		for (int c = 0; c < (round ? 200 : 50); c++) {
			int fd = raw_connect();
			for (int k = 0; k < 20; k++)
				ck_assert_int_eq(raw_exchange(fd, captured.frame[0], captured.len[0], NULL), AKM_PROTO_CHALLENGE);
			close(fd);
		}
	}
	long after = act_proc_kib(sv.pid, "VmRSS:");
	fprintf(stderr, "service VmRSS around 4000 replayed HELLOs: %ld -> %ld KiB\n", before, after);
	/* Under AddressSanitizer freed memory waits in its quarantine (up to
	 * 256 MB): the figure says nothing there. */
	if (!under_asan())
		ck_assert_msg(after - before < 1024, "the service grew by %ld KiB", after - before);
	/* None of them left a record. */
	ck_assert_int_eq(count_records("node-A", "act-refused"), 0);
}
END_TEST

/* Statuses of the fleet's nodes ("fleet-<i>") as akm-nmm list --json shows them:
 * how many are verified; verified[i] says which. */
static size_t fleet_verified(const act_fleet *f, bool *verified)
{
	char *out = NULL, v[64], name[64];
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++) {
		snprintf(name, sizeof name, "fleet-%zu", i);
		const char *obj = json_find_node(out, name);
		verified[i] = obj && json_member_any(obj, status_keys, v, sizeof v) && strcmp(v, "verified") == 0;
		n += verified[i];
	}
	free(out);
	return n;
}

START_TEST(two_hundred_at_once_and_a_kill_midway)
{
	char err[512];
	act_fleet f;
	ck_assert_msg(act_fleet_create(&f, env.module_path, STATION, env.softhsm_path, "fleet", AKM_TEST_USER_PIN, 200,
	                               err, sizeof err) == 0,
	              "%s", err);
	service_start(NULL);
	/* 200 activations at once, the service killed once 100 have succeeded. */
	act_run r;
	f.kill_pid = sv.pid;
	f.kill_at = 100;
	ck_assert_msg(act_fleet_run(&f, sv.addr, 200, AKM_OP_ACTIVATE, 200, 0, &r, err, sizeof err) == 0, "%s", err);
	f.kill_at = 0;
	waitpid(sv.pid, NULL, 0);
	sv.pid = 0;
	fprintf(stderr, "killed mid-way: %zu activations done, %zu cut off (first: %s)\n", r.ok, r.failed,
	        r.first_error);
	int *first = r.rc;
	r.rc = NULL;
	size_t done_before = r.ok;
	act_run_free(&r);
	ck_assert_msg(done_before >= 100 && done_before < 200, "the kill was not mid-way: %zu done", done_before);
	/* Every activation that completed before the kill is there. */
	bool verified[200];
	fleet_verified(&f, verified);
	for (size_t i = 0; i < f.n; i++)
		ck_assert_msg(first[i] != AKM_RC_OK || verified[i], "fleet-%zu: completed before the kill, not verified", i);
	/* Restarted, the rest finish. */
	service_start(NULL);
	size_t retried = 0;
	for (size_t i = 0; i < f.n; i++) {
		if (first[i] == AKM_RC_OK)
			continue;
		act_fleet f1 = f;
		f1.n = 1;
		f1.label = &f.label[i];
		f1.hw = &f.hw[i];
		f1.states = &f.states[i];
		ck_assert_msg(act_fleet_run(&f1, sv.addr, 1, AKM_OP_ACTIVATE, 1, 0, &r, err, sizeof err) == 0, "%s", err);
		ck_assert_msg(r.ok == 1, "node %zu: rc %d after the restart (%s)", i, r.rc[0], r.first_error);
		act_run_free(&r);
		retried++;
	}
	ck_assert_int_eq(done_before + retried, 200);
	ck_assert_int_eq(fleet_verified(&f, verified), 200);
	free(first);

	/* 200 check-ins at once, all succeed. */
	ck_assert_msg(act_fleet_run(&f, sv.addr, 200, AKM_OP_CHECKIN, 200, 0, &r, err, sizeof err) == 0, "%s", err);
	if (r.failed) {
		char cmd[PATH_MAX + 32];
		snprintf(cmd, sizeof cmd, "tail -20 %s/nmmd.log >&2", sv.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "(no service log)\n");
	}
	ck_assert_msg(r.ok == 200 && r.failed == 0, "%zu ok, %zu failed (first: %s)", r.ok, r.failed, r.first_error);
	fprintf(stderr, "200 check-ins at once: %.2f s\n", r.seconds);
	act_run_free(&r);
	char *out = NULL;
	EXPECT_RC(nmm(&out, "audit", "--json", NULL), 0, out, "audit --json");
	int checkins = 0;
	for (const char *p = out; (p = strstr(p, "\"action\":\"checkin\"")) != NULL; p++)
		checkins++;
	free(out);
	ck_assert_int_eq(checkins, 200);
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
	act_fleet_free(&f);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, five_nodes_activate_check_in_and_report);
	tcase_add_test(tc, replays_and_changed_bytes_are_refused);
	tcase_add_test(tc, wrong_hardware_revoked_and_malformed_input);
	tcase_add_test(tc, a_flood_of_first_messages_keeps_no_state);
	tcase_add_test(tc, lockouts_clones_unix_socket_reload_and_stop);
	tcase_add_test(tc, the_connection_cap_and_the_module_checked);
	tcase_add_test(tc, two_hundred_at_once_and_a_kill_midway);
}

int main(void)
{
	nmmd_path = getenv("AKM_TEST_NMMD");
	if (nmmd_path == NULL || access(nmmd_path, X_OK) != 0) {
		fprintf(stderr, "SKIP: AKM_TEST_NMMD not set\n");
		return AKM_TEST_SKIP;
	}
	return nmm_test_main("test-activation", "activation", 600, true, add_tests);
}
