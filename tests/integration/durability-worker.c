/*
 * Helper of test_durability.c (not a test itself): one process that loads
 * the real module with dlopen, logs in, and either creates relationships or
 * checks them.  Run as
 *
 *   durability-worker MODULE TOKEN-LABEL MODE PREFIX COUNT
 *
 * The environment (SOFTHSM2_CONF, AKM_PKCS11_CONF) comes from the test.
 *
 *   create  creates COUNT relationships with IDs PREFIX0, PREFIX1, ...
 *           (even: provisioning, odd: operational).  Prints "#ready" once
 *           logged in, then each ID on its own line, written with one
 *           write() only after C_GenerateKey returned CKR_OK: a line in the
 *           output is a promise that the relationship exists.
 *   create-on-go  the same, but after "#ready" waits for a line on stdin
 *           before creating (the test starts two creators at one moment).
 *   check   finds PREFIX0 .. PREFIX<COUNT-1> by CKA_AKM_RELATIONSHIP_ID
 *           (exactly its two keys) and uses them (AES-GCM round trip,
 *           HMAC-SHA256 sign and verify).
 *   scan    reads IDs from stdin, one per line, and checks each as `check`
 *           does; then lists every relationship key by CKA_AKM_KIND and
 *           checks that each relationship seen has both keys (find by its ID
 *           returns exactly two: one encryption, one MAC key); relationships
 *           whose ID starts with PREFIX are also used.  Prints every
 *           relationship ID found, one per line.  COUNT is ignored.
 *
 * Exits 0 when everything held, 1 with the reason on stderr otherwise.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testenv.h"
#include "akm/pkcs11-akm.h"

#define RID_MAX 32

static CK_FUNCTION_LIST *f;
static CK_SESSION_HANDLE session;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "durability-worker[%ld]: ", (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* One line, one write(): a reader never sees half of it, and a process
 * killed after the write still has its line in the pipe. */
static void say(const char *line, size_t len)
{
	char buf[RID_MAX + 16];
	if (len + 1 > sizeof buf)
		die("line too long");
	memcpy(buf, line, len);
	buf[len] = '\n';
	size_t off = 0;
	while (off < len + 1) {
		ssize_t n = write(STDOUT_FILENO, buf + off, len + 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write: %s", strerror(errno));
		off += (size_t)n;
	}
}

static void open_module(const char *module, const char *label)
{
	void *dl;
	f = akm_test_load_module(module, &dl);
	if (f == NULL)
		die("cannot load %s", module);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = f->C_Initialize(&args);
	if (rv != CKR_OK)
		die("C_Initialize: 0x%lx", rv);
	CK_SLOT_ID slot;
	if ((rv = akm_test_find_slot(f, label, &slot)) != CKR_OK)
		die("no token labelled %s: 0x%lx", label, rv);
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session)) != CKR_OK)
		die("C_OpenSession: 0x%lx", rv);
	if ((rv = f->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)AKM_TEST_USER_PIN, strlen(AKM_TEST_USER_PIN))) != CKR_OK)
		die("C_Login: 0x%lx", rv);
}

static CK_RV create(const char *rid, unsigned long i)
{
	static CK_MECHANISM gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_ULONG kind_pr = CKV_AKM_KIND_PROVISIONING, kind_op = CKV_AKM_KIND_OPERATIONAL;
	char node[24], hw[RID_MAX + 8];
	int node_len = snprintf(node, sizeof node, "node-%lu", i);
	int hw_len = snprintf(hw, sizeof hw, "hw-%s", rid);
	/* Members: this relationship's node and a fixed second one. */
	CK_BYTE members[2 + sizeof node + 3];
	size_t m = 0;
	members[m++] = (CK_BYTE)node_len;
	memcpy(members + m, node, (size_t)node_len);
	m += (size_t)node_len;
	members[m++] = 3;
	memcpy(members + m, "nmm", 3);
	m += 3;
	CK_OBJECT_HANDLE h = 0;
	if (i % 2 == 0) {
		CK_ATTRIBUTE tmpl[] = {
			{CKA_AKM_KIND, &kind_pr, sizeof kind_pr},
			{CKA_AKM_RELATIONSHIP_ID, (void *)rid, strlen(rid)},
			{CKA_AKM_PEER_NODE, node, (CK_ULONG)node_len},
			{CKA_AKM_HW_BINDING, hw, (CK_ULONG)hw_len},
			{CKA_LABEL, (void *)rid, strlen(rid)},
		};
		return f->C_GenerateKey(session, &gen, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
	}
	CK_ATTRIBUTE tmpl[] = {
		{CKA_AKM_KIND, &kind_op, sizeof kind_op},
		{CKA_AKM_RELATIONSHIP_ID, (void *)rid, strlen(rid)},
		{CKA_AKM_MEMBERS, members, (CK_ULONG)m},
		{CKA_LABEL, (void *)rid, strlen(rid)},
	};
	return f->C_GenerateKey(session, &gen, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
}

/* All handles matching `tmpl`, malloc'd. */
static CK_OBJECT_HANDLE *find_all(CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ULONG *count)
{
	CK_ULONG cap = 256, total = 0, got = 0;
	CK_OBJECT_HANDLE *out = malloc(cap * sizeof *out);
	if (out == NULL)
		die("out of memory");
	CK_RV rv = f->C_FindObjectsInit(session, tmpl, n);
	if (rv != CKR_OK)
		die("C_FindObjectsInit: 0x%lx", rv);
	do {
		if (total == cap && (out = realloc(out, (cap *= 2) * sizeof *out)) == NULL)
			die("out of memory");
		if ((rv = f->C_FindObjects(session, out + total, cap - total, &got)) != CKR_OK)
			die("C_FindObjects: 0x%lx", rv);
		total += got;
	} while (got > 0);
	if ((rv = f->C_FindObjectsFinal(session)) != CKR_OK)
		die("C_FindObjectsFinal: 0x%lx", rv);
	*count = total;
	return out;
}

/* Finds the relationship by ID: exactly one encryption and one MAC key;
 * with `use`, both keys work. */
static void check_relationship(const CK_BYTE *rid, CK_ULONG rid_len, int use)
{
	CK_ATTRIBUTE by_rid = {CKA_AKM_RELATIONSHIP_ID, (void *)rid, rid_len};
	CK_ULONG n;
	CK_OBJECT_HANDLE *keys = find_all(&by_rid, 1, &n);
	if (n != 2)
		die("relationship %.*s: find by ID returned %lu keys, not 2 (half-written or lost)",
		    (int)rid_len, rid, n);
	CK_OBJECT_HANDLE enc = 0, mac = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG purpose = 0;
		CK_BYTE got[RID_MAX];
		CK_ATTRIBUTE a[] = {{CKA_AKM_KEY_PURPOSE, &purpose, sizeof purpose},
		                    {CKA_AKM_RELATIONSHIP_ID, got, sizeof got}};
		CK_RV rv = f->C_GetAttributeValue(session, keys[i], a, 2);
		if (rv != CKR_OK)
			die("relationship %.*s: C_GetAttributeValue: 0x%lx", (int)rid_len, rid, rv);
		if (a[1].ulValueLen != rid_len || memcmp(got, rid, rid_len) != 0)
			die("relationship %.*s: a key carries another ID", (int)rid_len, rid);
		if (purpose == CKV_AKM_PURPOSE_ENCRYPT)
			enc = keys[i];
		else if (purpose == CKV_AKM_PURPOSE_MAC)
			mac = keys[i];
	}
	free(keys);
	if (enc == 0 || mac == 0)
		die("relationship %.*s: not one encryption and one MAC key", (int)rid_len, rid);
	if (!use)
		return;

	CK_BYTE msg[64], ct[128], pt[128], iv[12] = {0}, tag[32];
	int msg_len = snprintf((char *)msg, sizeof msg, "durability %.*s", (int)rid_len, rid);
	memcpy(iv, rid, rid_len < sizeof iv ? rid_len : sizeof iv);
	CK_GCM_PARAMS gp = {iv, sizeof iv, 96, (CK_BYTE_PTR) "aad", 3, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
	CK_ULONG ct_len = sizeof ct, pt_len = sizeof pt, tag_len = sizeof tag;
	CK_RV rv;
	if ((rv = f->C_EncryptInit(session, &gcm, enc)) != CKR_OK ||
	    (rv = f->C_Encrypt(session, msg, (CK_ULONG)msg_len, ct, &ct_len)) != CKR_OK)
		die("relationship %.*s: encrypt: 0x%lx", (int)rid_len, rid, rv);
	if ((rv = f->C_DecryptInit(session, &gcm, enc)) != CKR_OK ||
	    (rv = f->C_Decrypt(session, ct, ct_len, pt, &pt_len)) != CKR_OK)
		die("relationship %.*s: decrypt: 0x%lx", (int)rid_len, rid, rv);
	if (pt_len != (CK_ULONG)msg_len || memcmp(pt, msg, pt_len) != 0)
		die("relationship %.*s: decryption gave other bytes", (int)rid_len, rid);
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	if ((rv = f->C_SignInit(session, &hmac, mac)) != CKR_OK ||
	    (rv = f->C_Sign(session, msg, (CK_ULONG)msg_len, tag, &tag_len)) != CKR_OK)
		die("relationship %.*s: sign: 0x%lx", (int)rid_len, rid, rv);
	if ((rv = f->C_VerifyInit(session, &hmac, mac)) != CKR_OK ||
	    (rv = f->C_Verify(session, msg, (CK_ULONG)msg_len, tag, tag_len)) != CKR_OK)
		die("relationship %.*s: verify: 0x%lx", (int)rid_len, rid, rv);
}

typedef struct rid_entry {
	CK_BYTE id[RID_MAX];
	CK_ULONG len;
} rid_entry;

static int rid_cmp(const void *a, const void *b)
{
	const rid_entry *x = a, *y = b;
	CK_ULONG n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->id, y->id, n);
	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void scan(const char *prefix)
{
	/* The IDs promised by the caller first. */
	char line[256];
	while (fgets(line, sizeof line, stdin) != NULL) {
		size_t len = strcspn(line, "\n");
		if (len == 0 || len > RID_MAX)
			die("bad ID line on stdin");
		check_relationship((CK_BYTE *)line, len, 1);
	}

	/* Then every relationship key in the registry. */
	rid_entry *all = NULL;
	size_t total = 0;
	CK_ULONG kinds[] = {CKV_AKM_KIND_PROVISIONING, CKV_AKM_KIND_OPERATIONAL};
	for (size_t k = 0; k < 2; k++) {
		CK_ATTRIBUTE by_kind = {CKA_AKM_KIND, &kinds[k], sizeof kinds[k]};
		CK_ULONG n;
		CK_OBJECT_HANDLE *keys = find_all(&by_kind, 1, &n);
		if ((all = realloc(all, (total + n + 1) * sizeof *all)) == NULL)
			die("out of memory");
		for (CK_ULONG i = 0; i < n; i++) {
			rid_entry *e = &all[total++];
			CK_ATTRIBUTE a = {CKA_AKM_RELATIONSHIP_ID, e->id, sizeof e->id};
			CK_RV rv = f->C_GetAttributeValue(session, keys[i], &a, 1);
			if (rv != CKR_OK)
				die("key 0x%lx listed by kind: C_GetAttributeValue: 0x%lx", keys[i], rv);
			e->len = a.ulValueLen;
		}
		free(keys);
	}
	qsort(all, total, sizeof *all, rid_cmp);
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < total;) {
		size_t j = i;
		while (j < total && rid_cmp(&all[i], &all[j]) == 0)
			j++;
		if (j - i != 2)
			die("relationship %.*s: %zu keys listed by kind, not 2", (int)all[i].len, all[i].id, j - i);
		int use = plen > 0 && all[i].len >= plen && memcmp(all[i].id, prefix, plen) == 0;
		check_relationship(all[i].id, all[i].len, use);
		say((const char *)all[i].id, all[i].len);
		i = j;
	}
	free(all);
}

int main(int argc, char **argv)
{
	if (argc != 6)
		die("usage: durability-worker MODULE TOKEN-LABEL create|create-on-go|check|scan PREFIX COUNT");
	const char *mode = argv[3], *prefix = argv[4];
	unsigned long count = strtoul(argv[5], NULL, 10);
	open_module(argv[1], argv[2]);

	char rid[RID_MAX + 1];
	bool on_go = strcmp(mode, "create-on-go") == 0;
	if (on_go || strcmp(mode, "create") == 0) {
		say("#ready", 6);
		char go[16];
		if (on_go && fgets(go, sizeof go, stdin) == NULL)
			die("no go on stdin");
		for (unsigned long i = 0; i < count; i++) {
			int len = snprintf(rid, sizeof rid, "%s%lu", prefix, i);
			if (len < 0 || (size_t)len >= sizeof rid)
				die("ID %s%lu is longer than %d bytes", prefix, i, RID_MAX);
			CK_RV rv = create(rid, i);
			if (rv != CKR_OK)
				die("creating %s: 0x%lx", rid, rv);
			say(rid, (size_t)len);
		}
	} else if (strcmp(mode, "check") == 0) {
		for (unsigned long i = 0; i < count; i++) {
			int len = snprintf(rid, sizeof rid, "%s%lu", prefix, i);
			if (len < 0 || (size_t)len >= sizeof rid)
				die("ID too long");
			check_relationship((CK_BYTE *)rid, (CK_ULONG)len, 1);
		}
	} else if (strcmp(mode, "scan") == 0) {
		scan(prefix);
	} else {
		die("unknown mode %s", mode);
	}
	CK_RV rv = f->C_Finalize(NULL);
	if (rv != CKR_OK)
		die("C_Finalize: 0x%lx", rv);
	return 0;
}
