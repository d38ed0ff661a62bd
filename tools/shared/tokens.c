/* The `tokens` command (tokens.h). */
#include "shared/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "shared/json.h"
#include "shared/p11.h"
#include "shared/report.h"

static const struct {
	CK_FLAGS flag;
	const char *name;
} token_flags[] = {
	{CKF_TOKEN_INITIALIZED, "initialized"},
	{CKF_LOGIN_REQUIRED, "login-required"},
	{CKF_USER_PIN_INITIALIZED, "user-pin-initialized"},
	{CKF_WRITE_PROTECTED, "write-protected"},
	{CKF_RNG, "rng"},
	{CKF_PROTECTED_AUTHENTICATION_PATH, "protected-authentication-path"},
	{CKF_USER_PIN_COUNT_LOW, "user-pin-count-low"},
	{CKF_USER_PIN_FINAL_TRY, "user-pin-final-try"},
	{CKF_USER_PIN_LOCKED, "user-pin-locked"},
	{CKF_USER_PIN_TO_BE_CHANGED, "user-pin-to-be-changed"},
	{CKF_SO_PIN_LOCKED, "so-pin-locked"},
};
enum { NFLAGS = sizeof token_flags / sizeof token_flags[0] };

/* Padded CK_TOKEN_INFO text, unescaped (for JSON, which escapes). */
static void raw_text(const CK_UTF8CHAR *field, size_t size, char *out)
{
	while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
		size--;
	memcpy(out, field, size);
	out[size] = '\0';
}

/* "pkcs11:model=...;manufacturer=...;serial=...;token=..." (p11-kit's
 * encoding); NULL on failure (the caller frees). */
static char *token_uri(const CK_TOKEN_INFO *info)
{
	P11KitUri *uri = p11_kit_uri_new();
	if (uri == NULL)
		return NULL;
	*p11_kit_uri_get_token_info(uri) = *info;
	char *text = NULL;
	if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &text) != P11_KIT_URI_OK)
		text = NULL;
	p11_kit_uri_free(uri);
	return text;
}

int akm_tokens_print(const char *what, const char *module, bool json)
{
	if (module == NULL || module[0] == '\0')
		return akm_report(AKM_RC_USAGE, what, "no PKCS#11 module: give --module PATH or set AKM_MODULE");
	akm_p11 p;
	if (akm_p11_load(&p, module) != 0 || akm_p11_initialize(&p) != 0) {
		int code = akm_report(AKM_RC_TOKEN, what, "%s", p.err);
		akm_p11_close(&p);
		return code;
	}
	CK_INFO mi;
	memset(&mi, 0, sizeof mi);
	CK_RV rv = p.f->C_GetInfo(&mi);
	CK_SLOT_ID *slots = NULL;
	CK_TOKEN_INFO *infos = NULL;
	size_t n = 0;
	if (rv != CKR_OK || akm_p11_tokens(&p, &slots, &infos, &n) != 0) {
		if (rv != CKR_OK)
			akm_p11_fail(&p, "C_GetInfo", rv, NULL);
		int code = akm_report(AKM_RC_TOKEN, what, "%s", p.err);
		akm_p11_close(&p);
		return code;
	}
	int code = AKM_RC_OK;
	char man[33], desc[33], label[33], serial[17], manuf[33], model[17];
	raw_text(mi.manufacturerID, sizeof mi.manufacturerID, man);
	raw_text(mi.libraryDescription, sizeof mi.libraryDescription, desc);
	if (json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_key(&j, "module");
		akm_json_object_begin(&j);
		akm_json_kv_string(&j, "path", module);
		akm_json_kv_string(&j, "manufacturer", man);
		akm_json_kv_string(&j, "description", desc);
		akm_json_object_end(&j);
		akm_json_key(&j, "tokens");
		akm_json_array_begin(&j);
		for (size_t i = 0; i < n; i++) {
			const CK_TOKEN_INFO *t = &infos[i];
			raw_text(t->label, sizeof t->label, label);
			raw_text(t->serialNumber, sizeof t->serialNumber, serial);
			raw_text(t->manufacturerID, sizeof t->manufacturerID, manuf);
			raw_text(t->model, sizeof t->model, model);
			akm_json_object_begin(&j);
			akm_json_kv_uint(&j, "slot", slots[i]);
			akm_json_kv_string(&j, "label", label);
			akm_json_kv_string(&j, "serial", serial);
			akm_json_kv_string(&j, "manufacturer", manuf);
			akm_json_kv_string(&j, "model", model);
			akm_json_key(&j, "flags");
			akm_json_array_begin(&j);
			for (size_t k = 0; k < NFLAGS; k++)
				if (t->flags & token_flags[k].flag)
					akm_json_string(&j, token_flags[k].name);
			akm_json_array_end(&j);
			char *uri = token_uri(t);
			akm_json_kv_string(&j, "uri", uri);
			free(uri);
			akm_json_object_end(&j);
		}
		akm_json_array_end(&j);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else {
		char e1[AKM_ESCAPED(32)], e2[AKM_ESCAPED(32)], e3[AKM_ESCAPED(32)], e4[AKM_ESCAPED(16)];
		printf("module %s: %s (%s), %zu token%s\n", module,
		       akm_p11_text(mi.manufacturerID, sizeof mi.manufacturerID, e1, sizeof e1),
		       akm_p11_text(mi.libraryDescription, sizeof mi.libraryDescription, e2, sizeof e2), n,
		       n == 1 ? "" : "s");
		for (size_t i = 0; i < n; i++) {
			const CK_TOKEN_INFO *t = &infos[i];
			printf("slot %lu: label \"%s\", serial %s\n", (unsigned long)slots[i],
			       akm_p11_text(t->label, sizeof t->label, e1, sizeof e1),
			       akm_p11_text(t->serialNumber, sizeof t->serialNumber, e4, sizeof e4));
			printf("  manufacturer %s, model %s\n  flags:",
			       akm_p11_text(t->manufacturerID, sizeof t->manufacturerID, e2, sizeof e2),
			       akm_p11_text(t->model, sizeof t->model, e3, sizeof e3));
			for (size_t k = 0; k < NFLAGS; k++)
				if (t->flags & token_flags[k].flag)
					printf(" %s", token_flags[k].name);
			char *uri = token_uri(t);
			char euri[AKM_ESCAPED(400)];
			printf("\n  uri: %s\n", uri ? akm_escape(euri, sizeof euri, uri, strnlen(uri, 400)) : "-");
			free(uri);
		}
	}
	free(slots);
	free(infos);
	akm_p11_close(&p);
	return code;
}
