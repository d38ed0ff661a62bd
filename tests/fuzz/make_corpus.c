/*
 * Writes the fuzz targets' seed corpus (tests/fuzz/corpus/<target>/) with the
 * real encoders: valid files of each kind with fields at their shortest,
 * typical and longest, both bundle protections, and a few refused edge cases
 * (truncated, trailing byte, other version, other kind).  Deterministic: a
 * rerun writes the same bytes.  Run from the source root:
 *
 *   ninja -C build tests/fuzz/fuzz-make-corpus
 *   build/tests/fuzz/fuzz-make-corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fmt-anchor.h"
#include "lib/fmt-bundle.h"
#include "lib/fmt-login.h"
#include "lib/fmt-node-state.h"
#include "lib/fmt-request.h"

static const char *root;

static void fill(uint8_t *p, size_t n, unsigned start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + 7 * i);
}

static void put_file(const char *target, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void check(akm_fmt_rc rc, const char *what)
{
	if (rc != AKM_FMT_OK) {
		fprintf(stderr, "make-corpus: %s: %s\n", what, akm_fmt_strerror(rc));
		exit(1);
	}
}

/* The valid file plus its edge cases: first half, one byte short, a
 * trailing byte, version 2. */
static void put_with_edges(const char *target, const char *name, const uint8_t *buf, size_t len)
{
	char edge[256];
	uint8_t tmp[AKM_FMT_BUNDLE_MAX + 2];
	put_file(target, name, buf, len);
	if (strstr(name, "typical") == NULL)
		return;
	snprintf(edge, sizeof edge, "edge-half-%s", name);
	put_file(target, edge, buf, len / 2);
	snprintf(edge, sizeof edge, "edge-short-%s", name);
	put_file(target, edge, buf, len - 1);
	memcpy(tmp, buf, len);
	tmp[len] = 0;
	snprintf(edge, sizeof edge, "edge-trailing-%s", name);
	put_file(target, edge, tmp, len + 1);
	tmp[4] = 2;
	snprintf(edge, sizeof edge, "edge-version2-%s", name);
	put_file(target, edge, tmp, len);
}

/* size 0 = shortest fields, 1 = typical, 2 = longest */
static size_t id_len(int size) { return size == 0 ? 1 : size == 1 ? 16 : AKM_FMT_ID_MAX; }
static size_t hw_len(int size) { return size == 0 ? 1 : size == 1 ? 12 : AKM_FMT_HW_MAX; }
static void set_name(char *name, int size)
{
	static const char longest[] = "node.0123456789_abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTU";
	strcpy(name, size == 0 ? "n" : size == 1 ? "node-000042" : longest);
}
static const char *size_name(int size) { return size == 0 ? "shortest" : size == 1 ? "typical" : "longest"; }

static void bundles(void)
{
	for (int protection = 1; protection <= 2; protection++) {
		for (int size = 0; size <= 2; size++) {
			akm_bundle b;
			uint8_t buf[AKM_FMT_BUNDLE_MAX];
			size_t len;
			char name[64];
			memset(&b, 0, sizeof b);
			b.protection = (uint8_t)protection;
			b.station_id_len = b.node_id_len = b.pr_id_len = id_len(size);
			fill(b.station_id, b.station_id_len, 1);
			fill(b.node_id, b.node_id_len, 2);
			fill(b.pr_id, b.pr_id_len, 3);
			b.hw_len = hw_len(size);
			fill(b.hw, b.hw_len, 'a');
			set_name(b.name, size);
			b.seq = size == 2 ? UINT64_MAX : (uint64_t)size + 1;
			b.created = 1700000000 + (uint64_t)size;
			fill(b.node_key_hash, 32, 4);
			fill(b.eph_point, 65, 5);
			b.eph_point[0] = 0x04;
			b.opslimit = size == 2 ? UINT32_MAX : 3;
			b.memlimit_kib = size == 0 ? 8 : 262144;
			fill(b.salt, 16, 6);
			fill(b.nonce, 24, 7);
			size_t wrapped = size == 0 ? 16 : size == 1 ? 40 : AKM_FMT_WRAPPED_MAX;
			b.enc_wrapped_len = b.mac_wrapped_len = wrapped;
			fill(b.enc_wrapped, wrapped, 8);
			fill(b.mac_wrapped, wrapped, 9);
			b.sealed_len = 2 + 2 * wrapped + AKM_FMT_TAG_LEN;
			fill(b.sealed, b.sealed_len, 10);
			fill(b.sig, 64, 11);
			check(akm_bundle_finish(&b, buf, sizeof buf, &len), "bundle");
			snprintf(name, sizeof name, "p%d-%s.akmb", protection, size_name(size));
			put_with_edges("bundle", name, buf, len);
			if (protection == 2 && size == 1) {
				/* the inner plaintext too (the target parses it as well) */
				check(akm_bundle_inner_encode(&b, buf, sizeof buf, &len), "inner");
				put_file("bundle", "inner-typical.bin", buf, len);
			}
		}
	}
}

static void requests(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_request r;
		uint8_t buf[512];
		size_t len;
		char name[64];
		memset(&r, 0, sizeof r);
		set_name(r.name, size);
		r.hw_len = hw_len(size);
		fill(r.hw, r.hw_len, 'a');
		fill(r.node_point, 65, 12);
		r.node_point[0] = 0x04;
		fill(r.nonce, 16, 13);
		r.created = size == 2 ? UINT64_MAX : 1700000000;
		fill(r.sig, 64, 14);
		check(akm_request_finish(&r, buf, sizeof buf, &len), "request");
		snprintf(name, sizeof name, "%s.akmr", size_name(size));
		put_with_edges("request", name, buf, len);
		if (size == 1) {
			put_file("anchor", "edge-kind-request.akmr", buf, len);
			put_file("node_state", "edge-kind-request.akmr", buf, len);
		}
	}
}

static void anchors(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_anchor a;
		uint8_t buf[256];
		size_t len;
		char name[64];
		memset(&a, 0, sizeof a);
		a.station_id_len = id_len(size);
		fill(a.station_id, a.station_id_len, 15);
		fill(a.point, 65, 16);
		a.point[0] = 0x04;
		check(akm_anchor_encode(&a, buf, sizeof buf, &len), "anchor");
		snprintf(name, sizeof name, "%s.akmp", size_name(size));
		put_with_edges("anchor", name, buf, len);
		if (size == 1) { /* another kind of file */
			put_file("bundle", "edge-kind-anchor.akmp", buf, len);
			put_file("request", "edge-kind-anchor.akmp", buf, len);
		}
	}
}

static void node_states(void)
{
	for (int size = 0; size <= 2; size++) {
		akm_node_state s;
		uint8_t buf[512];
		size_t len;
		char name[64];
		memset(&s, 0, sizeof s);
		s.station_id_len = s.node_id_len = s.pr_id_len = id_len(size);
		fill(s.station_id, s.station_id_len, 1);
		fill(s.node_id, s.node_id_len, 2);
		fill(s.pr_id, s.pr_id_len, 3);
		s.hw_len = hw_len(size);
		fill(s.hw, s.hw_len, 'a');
		set_name(s.name, size);
		s.seq = size == 2 ? UINT64_MAX : (uint64_t)size + 1;
		s.imported = 1700000000;
		fill(s.bundle_hash, 32, 17);
		check(akm_node_state_encode(&s, buf, sizeof buf, &len), "node state");
		snprintf(name, sizeof name, "%s.akmn", size_name(size));
		put_with_edges("node_state", name, buf, len);
	}
}

static void login_states(void)
{
	/* Fresh (a count of one), typical (back-off running, refusal audited),
	 * longest values (locked out, counts at their maximum). */
	for (int size = 0; size <= 2; size++) {
		akm_login_state st;
		uint8_t buf[AKM_LOGIN_STATE_LEN];
		size_t len;
		char name[64];
		memset(&st, 0, sizeof st);
		st.who[AKM_LOGIN_USER].failures = size == 0 ? 1 : size == 1 ? 5 : UINT32_MAX;
		st.who[AKM_LOGIN_USER].flags = size == 0 ? 0 : size == 1 ? AKM_LOGIN_AUDITED : AKM_LOGIN_LOCKED | AKM_LOGIN_AUDITED;
		st.who[AKM_LOGIN_USER].not_before = size == 0 ? 0 : size == 1 ? 1700000004000ULL : UINT64_MAX;
		st.who[AKM_LOGIN_SO].failures = size == 2 ? UINT32_MAX : (uint32_t)size;
		st.who[AKM_LOGIN_SO].flags = size == 2 ? AKM_LOGIN_AUDITED : 0;
		st.who[AKM_LOGIN_SO].not_before = size == 2 ? UINT64_MAX : 0;
		check(akm_login_state_encode(&st, buf, sizeof buf, &len), "login state");
		snprintf(name, sizeof name, "%s.akml", size_name(size));
		put_with_edges("login", name, buf, len);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR (tests/fuzz/corpus)\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make-corpus: %s: %s\n", root, strerror(errno));
		return 1;
	}
	bundles();
	requests();
	anchors();
	node_states();
	login_states();
	/* every target also gets an empty input */
	static const char *const targets[] = { "bundle", "request", "anchor", "node_state", "login" };
	for (size_t i = 0; i < 5; i++)
		put_file(targets[i], "edge-empty", (const uint8_t *)"", 0);
	return 0;
}
