/*
 * Operational ASRs end to end (issue 12, "Must show"), with the real
 * akm-nmm and akm-node, the station token through akm-pkcs11.so and every
 * node its own SoftHSM2 token, reached by akm-node through akm-pkcs11.so
 * configured over it (a configuration and a registry per node):
 *
 *   - five nodes A-E provisioned by USB; ASR "asr1" created among them, one
 *     package each; every member opens every other member's message;
 *   - D removed: the others apply the rekey message and still talk, D can
 *     open nothing new, and the rekey message makes D forget the ASR;
 *   - F added (a join rekeys): F opens the others' messages and they F's;
 *   - steps: a member steps on its own, the others follow from its
 *     messages, and after the grace period no older step's key is left in
 *     any member's token;
 *   - delivery at check-in through a real akm-nmmd on 127.0.0.1: members
 *     that never saw the drive check in and are enrolled, talk, and after
 *     a removal the remaining ones catch up at their next check-in while
 *     the removed one gets nothing;
 *   - refused with a clear error and nothing changed: any byte of a package
 *     or a rekey message changed (signature included), a package for
 *     another node, a package not newer than the held generation, a
 *     replayed message, a message of a sender that is no member, a changed
 *     message, a message of a destroyed step, a message for an ASR the node
 *     is not in.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asr-test.h"
#include "bench/act-fleet.h"

static void enroll(int i, int want)
{
	char *out = NULL, pkg[PATH_MAX + 64], name[128];
	snprintf(name, sizeof name, "asr1.%s.akma", nodes[i]);
	file_in(pkg, sizeof pkg, name);
	EXPECT_RC(member(&out, i, "enroll", pkg, NULL), want, out, "enroll");
	free(out);
}

static void rekey(int i, unsigned gen, int want, const char *why)
{
	char *out = NULL, file[PATH_MAX + 64], name[64];
	snprintf(name, sizeof name, "asr1.g%u.akmr", gen);
	file_in(file, sizeof file, name);
	int rc = member(&out, i, "rekey", file, NULL);
	ck_assert_msg(rc == want && (why == NULL || strstr(out, why) != NULL), "%s rekey g%u: exit %d, want %d (%s):\n%s",
	              nodes[i], gen, rc, want, why ? why : "", out);
	free(out);
}

/* Changes byte `at` of file `path` into `copy`. */
static void flipped_copy(const char *path, size_t at, const char *copy)
{
	size_t len;
	char *buf = read_all(path, &len);
	ck_assert_uint_lt(at, len);
	buf[at] ^= 0x5a;
	write_file(copy, buf, len);
	free(buf);
}

START_TEST(five_nodes_remove_add_steps)
{
	provision(0, 5);
	char *out = NULL;
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "node-A,node-B,node-C,node-D,node-E", "--out", usb,
	              "--grace", "2", NULL),
	          0, out, "asr create");
	free(out);
	for (int i = 0; i < 5; i++)
		enroll(i, 0);
	long step = 0;
	ck_assert_int_eq(member_epoch(0, &step), 1);
	ck_assert_int_eq(step, 0);
	int all5[] = {0, 1, 2, 3, 4};
	all_talk(all5, 5, "g1");

	/* D leaves: generation 2. */
	EXPECT_RC(nmm(&out, "asr", "remove-member", "asr1", "--node", "node-D", "--out", usb, NULL), 0, out, "remove D");
	ck_assert_msg(strstr(out, "generation 1 -> 2") != NULL, "%s", out);
	free(out);
	int rest[] = {0, 1, 2, 4};
	for (int k = 0; k < 4; k++)
		rekey(rest[k], 2, 0, NULL);
	seal(0, "g2: after D left", "g2-0.msg");
	for (int k = 1; k < 4; k++)
		expect_open(rest[k], "g2-0.msg", "g2: after D left");
	expect_refused(3, "g2-0.msg", 2, "newer than this member's");
	rekey(3, 2, 2, "removes this node");
	ck_assert_int_eq(member_epoch(3, &step), -1);
	expect_refused(3, "g2-0.msg", 3, "not a member");
	all_talk(rest, 4, "g2");

	/* F joins: generation 3 (joins rekey by default). */
	provision(5, 1);
	EXPECT_RC(nmm(&out, "asr", "add-member", "asr1", "--node", "node-F", "--out", usb, NULL), 0, out, "add F");
	ck_assert_msg(strstr(out, "generation 2 -> 3") != NULL, "%s", out);
	free(out);
	for (int k = 0; k < 4; k++)
		rekey(rest[k], 3, 0, NULL);
	enroll(5, 0);
	int with_f[] = {0, 1, 2, 4, 5};
	all_talk(with_f, 5, "g3");
	EXPECT_RC(nmm(&out, "asr", "show", "asr1", NULL), 0, out, "asr show");
	ck_assert_msg(strstr(out, "generation 3") && strstr(out, "node-F") && !strstr(out, "node-D"), "%s", out);
	/* Every member's delivery is written up to generation 3: A, B, C, E
	 * by the creation's packages and the rekey messages, F by its own. */
	int current = 0;
	for (const char *p = out; (p = strstr(p, " current ")) != NULL; p++)
		current++;
	ck_assert_msg(current == 5 && strstr(out, "behind") == NULL, "%s", out);
	free(out);

	/* Steps: A moves on by itself; the others follow from its messages. */
	seal(0, "g3 step 0", "s0.msg");
	for (int s = 1; s <= 3; s++) {
		EXPECT_RC(member(&out, 0, "refresh", "--asr", "asr1", NULL), 0, out, "refresh");
		free(out);
		char text[32], name[32];
		snprintf(text, sizeof text, "g3 step %d", s);
		snprintf(name, sizeof name, "s%d.msg", s);
		seal(0, text, name);
		for (int k = 1; k < 5; k++)
			expect_open(with_f[k], name, text);
	}
	for (int k = 0; k < 5; k++) {
		ck_assert_int_eq(member_epoch(with_f[k], &step), 3);
		ck_assert_int_eq(step, 3);
	}
	/* Step 0's key is gone everywhere (three steps back). */
	expect_refused(1, "s0.msg", 2, "older than this member's");
	/* The previous step's key goes after the grace period (2 s). */
	sleep(3);
	EXPECT_RC(member(&out, 0, "refresh", "--asr", "asr1", NULL), 0, out, "refresh");
	free(out);
	seal(0, "g3 step 4", "s4.msg");
	expect_open(1, "s4.msg", "g3 step 4");
	expect_refused(1, "s2.msg", 2, "older than this member's");
	all_talk(with_f, 5, "g3s4");
}
END_TEST

START_TEST(refusals_change_nothing)
{
	provision(0, 3);
	char *out = NULL, pkg[PATH_MAX + 64], bad[PATH_MAX + 64];
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "node-A,node-B,node-C", "--out", usb, NULL), 0, out,
	          "asr create");
	free(out);
	file_in(pkg, sizeof pkg, "asr1.node-A.akma");
	snprintf(bad, sizeof bad, "%s/bad.akma", env.dir);
	/* Every byte of A's package changed, one at a time: refused, A still in
	 * no ASR. */
	size_t len;
	free(read_all(pkg, &len));
	for (size_t at = 0; at < len; at++) {
		flipped_copy(pkg, at, bad);
		int rc = member(&out, 0, "enroll", bad, NULL);
		ck_assert_msg(rc == 2, "byte %zu changed: exit %d:\n%s", at, rc, out);
		free(out);
	}
	long step;
	ck_assert_int_eq(member_epoch(0, &step), -1);
	/* B's package is not A's. */
	file_in(pkg, sizeof pkg, "asr1.node-B.akma");
	EXPECT_RC(member(&out, 0, "enroll", pkg, NULL), 2, out, "another node's package");
	ck_assert_msg(strstr(out, "another node"), "%s", out);
	free(out);
	for (int i = 0; i < 3; i++)
		enroll(i, 0);
	/* The same package again: not newer. */
	enroll(0, 2);

	/* Messages: a replay, a changed byte anywhere, a sender that is no
	 * member, our own message. */
	seal(0, "once", "once.msg");
	expect_open(1, "once.msg", "once");
	expect_refused(1, "once.msg", 2, "replay");
	seal(0, "twice", "twice.msg");
	char msg[PATH_MAX + 64];
	file_in(msg, sizeof msg, "twice.msg");
	size_t mlen;
	free(read_all(msg, &mlen));
	for (size_t at = 0; at < mlen; at++) {
		char name[32];
		snprintf(name, sizeof name, "flip-%zu.msg", at);
		file_in(bad, sizeof bad, name);
		flipped_copy(msg, at, bad);
		char *o = NULL;
		int rc = open_msg(1, name, "", &o);
		ck_assert_msg(rc == 2 || rc == 3, "message byte %zu changed: exit %d:\n%s", at, rc, o);
		free(o);
	}
	expect_open(1, "twice.msg", "twice"); /* none of that spent its number */
	expect_refused(0, "twice.msg", 2, "not another member");

	/* A rekey message with any byte changed (its signature included). */
	EXPECT_RC(nmm(&out, "asr", "rekey", "asr1", "--out", usb, NULL), 0, out, "asr rekey");
	free(out);
	char rk[PATH_MAX + 64];
	file_in(rk, sizeof rk, "asr1.g2.akmr");
	size_t rlen;
	free(read_all(rk, &rlen));
	snprintf(bad, sizeof bad, "%s/bad.akmr", env.dir);
	for (size_t at = 0; at < rlen; at += (at < 64 || at + 80 > rlen) ? 1 : 7) {
		flipped_copy(rk, at, bad);
		int rc = member(&out, 2, "rekey", bad, NULL);
		ck_assert_msg(rc == 2 || rc == 3, "rekey byte %zu changed: exit %d:\n%s", at, rc, out);
		free(out);
	}
	ck_assert_int_eq(member_epoch(2, &step), 1);
	rekey(2, 2, 0, NULL);
	rekey(2, 2, 2, "older");
	ck_assert_int_eq(member_epoch(2, &step), 2);
}
END_TEST

START_TEST(delivered_at_checkin)
{
	const char *nmmd = getenv("AKM_TEST_NMMD");
	ck_assert_msg(nmmd != NULL, "AKM_TEST_NMMD names no akm-nmmd");
	provision(0, 3);
	char *out = NULL, err[512];
	EXPECT_RC(nmm(&out, "asr", "create", "asr1", "--members", "node-A,node-B,node-C", "--out", usb, NULL), 0, out,
	          "asr create");
	free(out);
	act_service sv = {0};
	snprintf(sv.dir, sizeof sv.dir, "%s", env.dir);
	ck_assert_msg(act_service_start(&sv, nmmd, env.module_path, STATION, pin_file, NULL, err, sizeof err) == 0, "%s",
	              err);
	/* Nobody enrolled from the drive: each gets its package at check-in. */
	for (int i = 0; i < 3; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "pending", "1");
		expect_json(out, "asr_enrolled", "1");
		free(out);
	}
	long step;
	ck_assert_int_eq(member_epoch(2, &step), 1);
	int abc[] = {0, 1, 2};
	all_talk(abc, 3, "ci1");
	/* Nothing more to deliver. */
	out = checkin(0, sv.addr, 0);
	expect_json(out, "pending", "0");
	free(out);

	/* C leaves; A and B catch up at their next check-in, C gets nothing. */
	EXPECT_RC(nmm(&out, "asr", "remove-member", "asr1", "--node", "node-C", "--out", usb, NULL), 0, out, "remove C");
	free(out);
	for (int i = 0; i < 2; i++) {
		out = checkin(i, sv.addr, 0);
		expect_json(out, "pending", "1");
		expect_json(out, "asr_enrolled", "1");
		free(out);
		ck_assert_int_eq(member_epoch(i, &step), 2);
	}
	out = checkin(2, sv.addr, 0);
	expect_json(out, "pending", "0");
	free(out);
	seal(0, "ci2: C is out", "ci2.msg");
	expect_open(1, "ci2.msg", "ci2: C is out");
	expect_refused(2, "ci2.msg", 2, "newer than this member's");
	EXPECT_RC(nmm(&out, "audit", NULL), 0, out, "audit");
	ck_assert_msg(strstr(out, "via=checkin") != NULL, "no check-in delivery in the trail:\n%s", out);
	free(out);
	/* An ASR made while the service runs reaches its members at their
	 * very next check-in (the service follows the trail's asr-create). */
	EXPECT_RC(nmm(&out, "asr", "create", "asr2", "--members", "node-A,node-B", "--out", usb, NULL), 0, out,
	          "asr create asr2");
	free(out);
	out = checkin(1, sv.addr, 0);
	expect_json(out, "pending", "1");
	expect_json(out, "asr_enrolled", "1");
	free(out);
	act_service_stop(&sv, SIGTERM);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, delivered_at_checkin);
	tcase_add_test(tc, five_nodes_remove_add_steps);
	tcase_add_test(tc, refusals_change_nothing);
}

int main(void)
{
	return nmm_test_main("test-asr", "asr", 900, true, add_tests);
}
