/*
 * akm-mkrel: creates one AKM security relationship in an akm-pkcs11 token,
 * through nothing but the PKCS#11 interface and include/akm/pkcs11-akm.h.
 *
 *   akm-mkrel --module PATH --token LABEL [--pin-file FILE]
 *             (--pr NODE --hw HWVALUE | --asr MEMBER,MEMBER[,...])
 *             [--id HEX] [--label LABEL] [--station ID] [--pending]
 *
 * --pr makes a provisioning relationship with node NODE, bound to the
 * node's hardware value HWVALUE; --asr an operational relationship between
 * the members (at least two).  NODE, HWVALUE, the members and the station
 * ID are taken as the bytes of the text given; --id is the relationship ID
 * in hex (1-32 bytes; without it the module picks 16 random bytes).
 *
 * Prints the relationship ID and the CKA_ID and CKA_LABEL of its two keys:
 *
 *   relationship id: 00112233
 *   encryption key:  id 0011223301 label pr-1/enc
 *   mac key:         id 0011223302 label pr-1/mac
 *
 * The user PIN is read as the other tools read it (tools/shared/secret.h):
 * from --pin-file FILE (its first line), else from $AKM_PIN, else from a
 * prompt without echo when stdin is a terminal; never from the command
 * line, where every user of the host could read it.
 *
 * Exit status: 0 created; 1 bad command line; 2 the module could not be
 * loaded, the token was not found, or a C_* call failed (its CKR_* name is
 * printed).
 *
 * It is also the worked example of docs/object-model.md: each step after
 * loading is the plain PKCS#11 call an application makes; loading the
 * module and finding the token by label are the tools' one loader's
 * (tools/shared/p11.c).
 */
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "akm/pkcs11-akm.h"
#include "shared/p11.h"
#include "shared/secret.h"
#include "lib/hex.h"
#include "lib/rv.h"

#define EXIT_USAGE 1
#define EXIT_PKCS11 2
#define ID_MAX 32       /* relationship, node and station IDs (pkcs11-akm.h) */
#define MEMBERS_MAX 1024

/* Prints "akm-mkrel: <what>: CKR_NAME" and says whether rv is an error. */
static bool failed(const char *what, CK_RV rv)
{
	if (rv == CKR_OK)
		return false;
	const char *name = akm_rv_name(rv);
	if (name != NULL)
		fprintf(stderr, "akm-mkrel: %s: %s\n", what, name);
	else
		fprintf(stderr, "akm-mkrel: %s: CKR 0x%08lx\n", what, (unsigned long)rv);
	return true;
}

static void usage(FILE *to)
{
	fputs("usage: akm-mkrel --module PATH --token LABEL [--pin-file FILE]\n"
	      "                 (--pr NODE --hw HWVALUE | --asr MEMBER,MEMBER[,...])\n"
	      "                 [--id HEX] [--label LABEL] [--station ID] [--pending]\n"
	      "Creates one AKM relationship (CKM_AKM_RELATIONSHIP_GEN) and prints its ID and its keys.\n"
	      "The PIN: --pin-file FILE (first line), else $AKM_PIN, else a prompt.\n"
	      "Exit status: 0 created, 1 bad command line, 2 PKCS#11 error.\n",
	      to);
}

/* Bytes as lower-case hex on stdout. */
static void print_hex(const CK_BYTE *p, CK_ULONG n)
{
	char hex[2 * 256 + 1];
	akm_hex_encode(p, n < 256 ? n : 256, hex);
	fputs(hex, stdout);
}

/* "A,B,C" -> CKA_AKM_MEMBERS: each member as one length byte and its bytes.
 * The module checks the count and duplicates; here only the lengths. */
static CK_BYTE *encode_members(const char *list, CK_ULONG *len)
{
	size_t cap = strlen(list) + 1; /* one length byte per comma-separated item, at most */
	CK_BYTE *out = malloc(cap), *w = out;
	if (out == NULL)
		return NULL;
	for (const char *item = list;;) {
		size_t n = strcspn(item, ",");
		if (n < 1 || n > ID_MAX) {
			fprintf(stderr, "akm-mkrel: --asr: a member ID must have 1 to %d bytes\n", ID_MAX);
			free(out);
			return NULL;
		}
		*w++ = (CK_BYTE)n;
		memcpy(w, item, n);
		w += n;
		if (item[n] == '\0')
			break;
		item += n + 1;
	}
	*len = (CK_ULONG)(w - out);
	return out;
}

typedef struct options {
	const char *module, *token, *pin_file, *pr_node, *hw, *asr_members, *id_hex, *label, *station;
	bool pending;
} options;

static int parse_options(int argc, char **argv, options *o)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char **slot = NULL;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			exit(EXIT_SUCCESS);
		} else if (strcmp(arg, "--pending") == 0) {
			o->pending = true;
			continue;
		}
		static const struct { const char *name; size_t offset; } with_value[] = {
			{"--module", offsetof(options, module)}, {"--token", offsetof(options, token)},
			{"--pin-file", offsetof(options, pin_file)}, {"--pr", offsetof(options, pr_node)},
			{"--hw", offsetof(options, hw)}, {"--asr", offsetof(options, asr_members)},
			{"--id", offsetof(options, id_hex)}, {"--label", offsetof(options, label)},
			{"--station", offsetof(options, station)},
		};
		for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
			if (strcmp(arg, with_value[k].name) == 0)
				slot = (const char **)((char *)o + with_value[k].offset);
		if (slot == NULL) {
			fprintf(stderr, "akm-mkrel: unknown option %s\n", arg);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "akm-mkrel: %s needs a value\n", arg);
			return -1;
		}
		*slot = argv[++i];
	}
	if (!o->module || !o->token) {
		fprintf(stderr, "akm-mkrel: --module and --token are required\n");
		return -1;
	}
	if ((o->pr_node != NULL) == (o->asr_members != NULL)) {
		fprintf(stderr, "akm-mkrel: give either --pr (with --hw) or --asr\n");
		return -1;
	}
	if ((o->pr_node != NULL) != (o->hw != NULL)) {
		fprintf(stderr, "akm-mkrel: --hw goes with --pr, and --pr needs it\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	options o;
	if (parse_options(argc, argv, &o) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	CK_BYTE rid[ID_MAX];
	size_t rid_len = 0;
	if (o.id_hex && (akm_hex_decode(o.id_hex, rid, sizeof rid, &rid_len) != 0 || rid_len == 0)) {
		fprintf(stderr, "akm-mkrel: --id must be 1 to %d bytes in hex\n", ID_MAX);
		return EXIT_USAGE;
	}
	CK_ULONG members_len = 0;
	CK_BYTE *members = NULL;
	if (o.asr_members && (members = encode_members(o.asr_members, &members_len)) == NULL)
		return EXIT_USAGE;

	/* The template: the kind, what that kind requires, and the options. */
	CK_ULONG kind = o.pr_node ? CKV_AKM_KIND_PROVISIONING : CKV_AKM_KIND_OPERATIONAL;
	CK_ULONG state = o.pending ? CKV_AKM_STATE_PENDING : CKV_AKM_STATE_ACTIVE;
	CK_ATTRIBUTE tmpl[8];
	CK_ULONG n = 0;
	tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_KIND, &kind, sizeof kind};
	tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_STATE, &state, sizeof state};
	if (o.pr_node) {
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_PEER_NODE, (void *)o.pr_node, strlen(o.pr_node)};
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_HW_BINDING, (void *)o.hw, strlen(o.hw)};
	} else {
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_MEMBERS, members, members_len};
	}
	if (rid_len > 0)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_RELATIONSHIP_ID, rid, rid_len};
	if (o.label)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)o.label, strlen(o.label)};
	if (o.station)
		tmpl[n++] = (CK_ATTRIBUTE){CKA_AKM_STATION_ID, (void *)o.station, strlen(o.station)};

	/* The PIN, before anything is loaded. */
	akm_secret_init();
	akm_secret pin;
	char err[512];
	if (akm_secret_read(&pin, o.pin_file, "AKM_PIN", "User PIN: ", "PIN", err, sizeof err) != 0) {
		fprintf(stderr, "akm-mkrel: %s\n", err);
		free(members);
		return EXIT_USAGE;
	}

	/* Loading the module and finding the token by label: the tools' one
	 * loader (tools/shared/p11.c), which is plain dlopen, C_GetFunctionList,
	 * C_Initialize, C_GetSlotList and C_GetTokenInfo. */
	akm_p11 p;
	int status = EXIT_PKCS11;
	if (akm_p11_load(&p, o.module) != 0) {
		fprintf(stderr, "akm-mkrel: %s\n", p.err);
		akm_secret_free(&pin);
		free(members);
		return EXIT_PKCS11;
	}
	CK_FUNCTION_LIST *p11 = p.f;
	CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
	CK_RV rv;
	if (akm_p11_initialize(&p) != 0) {
		failed("C_Initialize", p.rv);
		goto out_unload;
	}
	if (akm_p11_select(&p, o.token) != 0) {
		if (p.rv == CKR_TOKEN_NOT_PRESENT)
			fprintf(stderr, "akm-mkrel: no token labelled \"%s\"\n", o.token);
		failed("finding the token", p.rv != CKR_OK ? p.rv : CKR_GENERAL_ERROR);
		goto out_finalize;
	}
	/* Creating a relationship needs a R/W session and the user logged in. */
	if (akm_p11_open_session(&p) != 0) {
		failed("C_OpenSession", p.rv);
		goto out_finalize;
	}
	session = p.session;
	int login = akm_p11_login(&p, pin.data, pin.len);
	akm_secret_free(&pin);
	if (login != 0) {
		failed("C_Login", p.rv);
		goto out_close;
	}

	/* One call makes the relationship and its credential set; the handle
	 * returned is the encryption key's. */
	CK_MECHANISM gen = {CKM_AKM_RELATIONSHIP_GEN, NULL, 0};
	CK_OBJECT_HANDLE enc_key;
	if (failed("C_GenerateKey(CKM_AKM_RELATIONSHIP_GEN)", p11->C_GenerateKey(session, &gen, tmpl, n, &enc_key)))
		goto out_logout;

	/* Its ID (generated when --id was not given), and the MAC key, found by
	 * the relationship ID and the purpose. */
	CK_BYTE got_rid[ID_MAX], enc_id[ID_MAX + 1], mac_id[ID_MAX + 1], enc_label[256], mac_label[256];
	CK_ATTRIBUTE enc_read[] = {
		{CKA_AKM_RELATIONSHIP_ID, got_rid, sizeof got_rid},
		{CKA_ID, enc_id, sizeof enc_id},
		{CKA_LABEL, enc_label, sizeof enc_label},
	};
	if (failed("C_GetAttributeValue", p11->C_GetAttributeValue(session, enc_key, enc_read, 3)))
		goto out_logout;
	CK_ULONG mac_purpose = CKV_AKM_PURPOSE_MAC, found = 0;
	CK_ATTRIBUTE mac_find[] = {
		{CKA_AKM_RELATIONSHIP_ID, got_rid, enc_read[0].ulValueLen},
		{CKA_AKM_KEY_PURPOSE, &mac_purpose, sizeof mac_purpose},
	};
	CK_OBJECT_HANDLE mac_key;
	if (failed("C_FindObjectsInit", p11->C_FindObjectsInit(session, mac_find, 2)))
		goto out_logout;
	rv = p11->C_FindObjects(session, &mac_key, 1, &found);
	p11->C_FindObjectsFinal(session);
	if (rv == CKR_OK && found != 1)
		rv = CKR_OBJECT_HANDLE_INVALID;
	if (failed("finding the MAC key", rv))
		goto out_logout;
	CK_ATTRIBUTE mac_read[] = {{CKA_ID, mac_id, sizeof mac_id}, {CKA_LABEL, mac_label, sizeof mac_label}};
	if (failed("C_GetAttributeValue", p11->C_GetAttributeValue(session, mac_key, mac_read, 2)))
		goto out_logout;

	printf("relationship id: ");
	print_hex(got_rid, enc_read[0].ulValueLen);
	printf("\nencryption key:  id ");
	print_hex(enc_id, enc_read[1].ulValueLen);
	printf(" label %.*s\nmac key:         id ", (int)enc_read[2].ulValueLen, (const char *)enc_label);
	print_hex(mac_id, mac_read[0].ulValueLen);
	printf(" label %.*s\n", (int)mac_read[1].ulValueLen, (const char *)mac_label);
	status = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_PKCS11;

out_logout:
	p11->C_Logout(session);
out_close:
out_finalize:
	/* The session, C_Finalize; not dlclose: a module may keep threads or
	 * atexit handlers. */
	akm_p11_end(&p, false);
out_unload:
	akm_secret_free(&pin);
	free(members);
	return status;
}
