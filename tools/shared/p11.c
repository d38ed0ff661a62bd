/*
 * The tools' PKCS#11 loader and object helpers (p11.h).  Tokens are found
 * by PKCS#11 URI (RFC 7512, parsed and matched by p11-kit) or by label,
 * never by slot number.  Every failure leaves one sentence in p->err.
 */
#include "shared/p11.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "lib/rv.h"
#include "shared/report.h"

int akm_p11_fail(akm_p11 *p, const char *call, CK_RV rv, const char *context)
{
	const char *name = akm_rv_name(rv);
	p->rv = rv;
	if (context != NULL && context[0] != '\0')
		snprintf(p->err, sizeof p->err, "%s (%s): %s", call, context, name);
	else
		snprintf(p->err, sizeof p->err, "%s: %s", call, name);
	return -1;
}

int akm_p11_fail_text(akm_p11 *p, const char *text)
{
	snprintf(p->err, sizeof p->err, "%s", text);
	return -1;
}

/* ---- loading ---- */

int akm_p11_load(akm_p11 *p, const char *module)
{
	memset(p, 0, sizeof *p);
	p->session = CK_INVALID_HANDLE;
	if (module == NULL || module[0] == '\0')
		return akm_p11_fail_text(p, "no PKCS#11 module: give --module PATH or set AKM_MODULE");
	p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL) {
		snprintf(p->err, sizeof p->err, "cannot load module %s: %s", module, dlerror());
		return -1;
	}
	CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (get_list == NULL) {
		snprintf(p->err, sizeof p->err, "%s is not a PKCS#11 module (no C_GetFunctionList)", module);
		return -1;
	}
	CK_RV rv = get_list(&p->f);
	if (rv != CKR_OK || p->f == NULL) {
		p->f = NULL;
		return akm_p11_fail(p, "C_GetFunctionList", rv, module);
	}
	return 0;
}

int akm_p11_initialize(akm_p11 *p)
{
	CK_C_INITIALIZE_ARGS init = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv = p->f->C_Initialize(&init);
	if (rv == CKR_OK)
		p->initialized = true;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return akm_p11_fail(p, "C_Initialize", rv, NULL);
	return 0;
}

/* Length of a blank-padded PKCS#11 text field without its padding. */
static size_t padded_len(const CK_UTF8CHAR *field, size_t size)
{
	while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
		size--;
	return size;
}

static bool label_matches(const CK_TOKEN_INFO *info, const char *label)
{
	size_t used = padded_len(info->label, sizeof info->label);
	return strlen(label) == used && memcmp(info->label, label, used) == 0;
}

int akm_p11_tokens(akm_p11 *p, CK_SLOT_ID **slots_out, CK_TOKEN_INFO **infos_out, size_t *n)
{
	*slots_out = NULL;
	*infos_out = NULL;
	*n = 0;
	CK_ULONG count = 0;
	CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &count);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetSlotList", rv, NULL);
	CK_SLOT_ID *slots = calloc(count ? count : 1, sizeof *slots);
	CK_TOKEN_INFO *infos = calloc(count ? count : 1, sizeof *infos);
	if (slots == NULL || infos == NULL) {
		free(slots);
		free(infos);
		return akm_p11_fail_text(p, "out of memory listing slots");
	}
	if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &count)) != CKR_OK) {
		free(slots);
		free(infos);
		return akm_p11_fail(p, "C_GetSlotList", rv, NULL);
	}
	size_t k = 0;
	for (CK_ULONG i = 0; i < count; i++)
		if (p->f->C_GetTokenInfo(slots[i], &infos[k]) == CKR_OK)
			slots[k++] = slots[i];
	*slots_out = slots;
	*infos_out = infos;
	*n = k;
	return 0;
}

const char *akm_p11_text(const CK_UTF8CHAR *field, size_t size, char *out, size_t cap)
{
	return akm_escape(out, cap, field, padded_len(field, size));
}

/* Appends the tokens there are to p->err: "; the module has: "a" (serial
 * 1), ..." (initialised ones; cut with "..." when long). */
static void list_candidates(akm_p11 *p, const CK_TOKEN_INFO *infos, size_t n)
{
	size_t used = strlen(p->err);
	size_t listed = 0;
	for (size_t i = 0; i < n; i++) {
		if ((infos[i].flags & CKF_TOKEN_INITIALIZED) == 0)
			continue;
		char label[AKM_ESCAPED(32)], serial[AKM_ESCAPED(16)], item[256];
		int len = snprintf(item, sizeof item, "%s\"%s\" (serial %s)", listed ? ", " : "; the module has: ",
		                   akm_p11_text(infos[i].label, sizeof infos[i].label, label, sizeof label),
		                   akm_p11_text(infos[i].serialNumber, sizeof infos[i].serialNumber, serial, sizeof serial));
		if (len < 0 || used + (size_t)len + 5 >= sizeof p->err) {
			snprintf(p->err + used, sizeof p->err - used, ", ...");
			return;
		}
		memcpy(p->err + used, item, (size_t)len + 1);
		used += (size_t)len;
		listed++;
	}
	if (listed == 0)
		snprintf(p->err + used, sizeof p->err - used, "; the module has no initialised token");
}

int akm_p11_select(akm_p11 *p, const char *token)
{
	CK_SLOT_ID *slots = NULL;
	CK_TOKEN_INFO *infos = NULL;
	size_t count = 0;
	if (akm_p11_tokens(p, &slots, &infos, &count) != 0)
		return -1;

	P11KitUri *uri = NULL;
	if (token != NULL && strncmp(token, "pkcs11:", 7) == 0) {
		uri = p11_kit_uri_new();
		if (uri == NULL) {
			free(slots);
			free(infos);
			return akm_p11_fail_text(p, "out of memory parsing the token URI");
		}
		int urv = p11_kit_uri_parse(token, P11_KIT_URI_FOR_ANY, uri);
		if (urv != P11_KIT_URI_OK) {
			snprintf(p->err, sizeof p->err, "token URI %s: %s", token, p11_kit_uri_message(urv));
			p11_kit_uri_free(uri);
			free(slots);
			free(infos);
			return -1;
		}
	}

	size_t matches = 0;
	for (size_t i = 0; i < count; i++) {
		const CK_TOKEN_INFO *info = &infos[i];
		/* Without a name, "the only token" is the only initialised one
		 * (SoftHSM2 always shows one more, empty, slot). */
		bool match = token == NULL ? (info->flags & CKF_TOKEN_INITIALIZED) != 0 :
		             uri != NULL ? p11_kit_uri_match_token_info(uri, info) == 1
		                         : label_matches(info, token);
		if (match) {
			if (matches++ == 0) {
				p->slot = slots[i];
				p->token = *info;
			}
		}
	}
	if (uri != NULL)
		p11_kit_uri_free(uri);
	free(slots);

	if (matches == 1) {
		free(infos);
		return 0;
	}
	if (matches == 0)
		p->rv = CKR_TOKEN_NOT_PRESENT;
	char shown[AKM_ESCAPED(200)];
	if (token != NULL)
		akm_escape(shown, sizeof shown, token, strnlen(token, 200));
	if (token == NULL && matches == 0)
		snprintf(p->err, sizeof p->err, "no token present in the module");
	else if (token == NULL)
		snprintf(p->err, sizeof p->err, "%zu tokens present: name one with --token URI|LABEL", matches);
	else if (matches == 0)
		snprintf(p->err, sizeof p->err, "no token matches %.200s", shown);
	else
		snprintf(p->err, sizeof p->err, "%zu tokens match %.200s: give a more precise URI", matches, shown);
	list_candidates(p, infos, count);
	free(infos);
	return -1;
}

int akm_p11_uri_extras(const char *token, char *module, size_t module_cap, char *pin_file, size_t pin_cap,
                       char *err, size_t errlen)
{
	module[0] = '\0';
	pin_file[0] = '\0';
	if (token == NULL || strncmp(token, "pkcs11:", 7) != 0)
		return 0;
	P11KitUri *uri = p11_kit_uri_new();
	if (uri == NULL) {
		snprintf(err, errlen, "out of memory parsing the token URI");
		return -1;
	}
	int urv = p11_kit_uri_parse(token, P11_KIT_URI_FOR_ANY, uri);
	if (urv != P11_KIT_URI_OK) {
		snprintf(err, errlen, "token URI %s: %s", token, p11_kit_uri_message(urv));
		p11_kit_uri_free(uri);
		return -1;
	}
	int rc = 0;
	const char *m = p11_kit_uri_get_module_path(uri);
	const char *ps = p11_kit_uri_get_pin_source(uri);
	if (m != NULL && snprintf(module, module_cap, "%s", m) >= (int)module_cap) {
		snprintf(err, errlen, "token URI: module-path is too long");
		rc = -1;
	}
	if (rc == 0 && ps != NULL) {
		/* RFC 7512: pin-source is a URI; "file:" ones (file:/path,
		 * file:///path) and plain paths name a file. */
		const char *path = ps;
		if (strncmp(ps, "file://", 7) == 0)
			path = ps + 7;
		else if (strncmp(ps, "file:", 5) == 0)
			path = ps + 5;
		else if (strchr(ps, ':') != NULL && ps[0] != '/' && ps[0] != '.') {
			snprintf(err, errlen, "token URI: pin-source %s is not a file (a path or a file: URI)", ps);
			rc = -1;
		}
		if (rc == 0 && path[0] == '\0') {
			snprintf(err, errlen, "token URI: pin-source names no file");
			rc = -1;
		}
		if (rc == 0 && snprintf(pin_file, pin_cap, "%s", path) >= (int)pin_cap) {
			snprintf(err, errlen, "token URI: pin-source is too long");
			rc = -1;
		}
	}
	p11_kit_uri_free(uri);
	return rc;
}

int akm_p11_resolve(akm_p11_target *t, const char *opt_module, const char *opt_token, const char *opt_pin,
                   const char *env_module, const char *env_token, char *err, size_t errlen)
{
	t->module = opt_module ? opt_module : env_module ? getenv(env_module) : NULL;
	t->token = opt_token ? opt_token : env_token ? getenv(env_token) : NULL;
	t->pin_file = opt_pin;
	if (t->token != NULL && t->token[0] == '\0')
		t->token = NULL;
	if (akm_p11_uri_extras(t->token, t->module_buf, sizeof t->module_buf, t->pin_buf, sizeof t->pin_buf, err,
	                       errlen) != 0)
		return -1;
	if (t->module_buf[0] != '\0') {
		if (opt_module != NULL && strcmp(opt_module, t->module_buf) != 0) {
			snprintf(err, errlen, "--module %.1000s and the token URI's module-path %.1000s differ: give one",
			         opt_module, t->module_buf);
			return -1;
		}
		t->module = t->module_buf;
	}
	if (t->pin_buf[0] != '\0') {
		if (opt_pin != NULL) {
			snprintf(err, errlen, "--pin-file and the token URI's pin-source both name the PIN: give one");
			return -1;
		}
		t->pin_file = t->pin_buf;
	}
	return 0;
}

int akm_p11_open_session(akm_p11 *p)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->session);
	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		return akm_p11_fail(p, "C_OpenSession", rv, NULL);
	}
	return 0;
}

int akm_p11_open(akm_p11 *p, const char *module, const char *token)
{
	if (akm_p11_load(p, module) != 0)
		return -1;
	if (akm_p11_initialize(p) != 0) {
		/* The module's name, as the one call that can fail for it. */
		snprintf(p->err, sizeof p->err, "C_Initialize (%s): %s", module, akm_rv_name(p->rv));
		return -1;
	}
	if (akm_p11_select(p, token) != 0 || akm_p11_open_session(p) != 0)
		return -1;
	return 0;
}

int akm_p11_login(akm_p11 *p, const char *pin, size_t pin_len)
{
	if (p->logged_in)
		return 0;
	CK_RV rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		if (rv == CKR_PIN_INCORRECT) {
			p->rv = rv;
			return akm_p11_fail_text(p, "C_Login: CKR_PIN_INCORRECT (wrong user PIN)");
		}
		return akm_p11_fail(p, "C_Login", rv, NULL);
	}
	p->logged_in = true;
	return 0;
}

int akm_p11_end(akm_p11 *p, bool unload)
{
	int rc = 0;
	if (p->f != NULL) {
		if (p->session != CK_INVALID_HANDLE) {
			CK_RV rv = p->f->C_CloseSession(p->session);
			if (rv != CKR_OK)
				rc = akm_p11_fail(p, "C_CloseSession", rv, NULL);
		}
		if (p->initialized) {
			CK_RV rv = p->f->C_Finalize(NULL);
			if (rv != CKR_OK && rc == 0)
				rc = akm_p11_fail(p, "C_Finalize", rv, NULL);
		}
	}
	if (p->dl != NULL && unload)
		dlclose(p->dl);
	p->dl = NULL;
	p->f = NULL;
	p->session = CK_INVALID_HANDLE;
	p->initialized = p->logged_in = false;
	return rc;
}

int akm_p11_reinit(akm_p11 *p, const char *token, const char *pin, size_t pin_len)
{
	if (p->f == NULL)
		return akm_p11_fail_text(p, "the module is not loaded");
	bool was_logged_in = p->logged_in;
	if (p->session != CK_INVALID_HANDLE)
		p->f->C_CloseSession(p->session);
	p->session = CK_INVALID_HANDLE;
	p->logged_in = false;
	if (p->initialized) {
		CK_RV rv = p->f->C_Finalize(NULL);
		p->initialized = false;
		if (rv != CKR_OK)
			return akm_p11_fail(p, "C_Finalize", rv, NULL);
	}
	if (akm_p11_initialize(p) != 0 || akm_p11_select(p, token) != 0 || akm_p11_open_session(p) != 0)
		return -1;
	return was_logged_in ? akm_p11_login(p, pin, pin_len) : 0;
}

void akm_p11_close(akm_p11 *p)
{
	akm_p11_end(p, true);
}

void akm_p11_serial(const akm_p11 *p, char out[17])
{
	size_t n = padded_len(p->token.serialNumber, sizeof p->token.serialNumber);
	memcpy(out, p->token.serialNumber, n);
	out[n] = '\0';
}

/* ---- objects ---- */

int akm_p11_find(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                 size_t max, size_t *n)
{
	*n = 0;
	CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, count);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_FindObjectsInit", rv, NULL);
	while (*n < max) {
		CK_ULONG got = 0;
		rv = p->f->C_FindObjects(p->session, out + *n, (CK_ULONG)(max - *n), &got);
		if (rv != CKR_OK) {
			p->f->C_FindObjectsFinal(p->session);
			return akm_p11_fail(p, "C_FindObjects", rv, NULL);
		}
		if (got == 0)
			break;
		*n += got;
	}
	rv = p->f->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_FindObjectsFinal", rv, NULL);
	return 0;
}

int akm_p11_find_all(akm_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE **out,
                     size_t *n)
{
	*out = NULL;
	*n = 0;
	CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, count);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_FindObjectsInit", rv, NULL);
	size_t cap = 256, have = 0;
	CK_OBJECT_HANDLE *h = malloc(cap * sizeof *h);
	for (;;) {
		if (h == NULL) {
			p->f->C_FindObjectsFinal(p->session);
			return akm_p11_fail_text(p, "out of memory searching the token");
		}
		CK_ULONG got = 0;
		rv = p->f->C_FindObjects(p->session, h + have, (CK_ULONG)(cap - have), &got);
		if (rv != CKR_OK) {
			free(h);
			p->f->C_FindObjectsFinal(p->session);
			return akm_p11_fail(p, "C_FindObjects", rv, NULL);
		}
		have += got;
		if (got == 0)
			break;
		if (have == cap) {
			cap *= 2;
			CK_OBJECT_HANDLE *bigger = realloc(h, cap * sizeof *h);
			if (bigger == NULL)
				free(h);
			h = bigger;
		}
	}
	p->f->C_FindObjectsFinal(p->session);
	*out = h;
	*n = have;
	return 0;
}

int akm_p11_get_bytes(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t **val,
                      size_t *len)
{
	*val = NULL;
	*len = 0;
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetAttributeValue", rv, "length");
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return akm_p11_fail_text(p, "C_GetAttributeValue: the attribute is not available");
	uint8_t *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (buf == NULL)
		return akm_p11_fail_text(p, "out of memory reading an attribute");
	a.pValue = buf;
	rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK) {
		free(buf);
		return akm_p11_fail(p, "C_GetAttributeValue", rv, NULL);
	}
	*val = buf;
	*len = a.ulValueLen;
	return 0;
}

int akm_p11_get_ulong(akm_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_ULONG *val)
{
	CK_ATTRIBUTE a = { type, val, sizeof *val };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_GetAttributeValue", rv, NULL);
	if (a.ulValueLen != sizeof *val)
		return akm_p11_fail_text(p, "C_GetAttributeValue: the attribute is not a CK_ULONG");
	return 0;
}

void akm_p11_key_name(const char *label, size_t len, char *out, size_t cap)
{
	if (len >= 4 && (memcmp(label + len - 4, "/enc", 4) == 0 || memcmp(label + len - 4, "/mac", 4) == 0))
		len -= 4;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(out, label, len);
	out[len] = '\0';
}

void akm_p11_destroy(akm_p11 *p, CK_OBJECT_HANDLE *h)
{
	if (*h != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(p->session, *h);
	*h = CK_INVALID_HANDLE;
}

int akm_p11_hmac(akm_p11 *p, CK_OBJECT_HANDLE key, const void *msg, size_t len, uint8_t out[32])
{
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv = p->f->C_SignInit(p->session, &mech, key);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_SignInit", rv, "CKM_SHA256_HMAC");
	CK_ULONG n = 32;
	rv = p->f->C_Sign(p->session, (CK_BYTE_PTR)msg, (CK_ULONG)len, out, &n);
	if (rv != CKR_OK)
		return akm_p11_fail(p, "C_Sign", rv, "CKM_SHA256_HMAC");
	if (n != 32)
		return akm_p11_fail_text(p, "C_Sign (CKM_SHA256_HMAC): the MAC is not 32 bytes");
	return 0;
}
