/* The module's own backend session on a token (backend.h): opened once per
 * registry, used under the akm layer's lock. */
#include "backend/internal.h"

#include <stdlib.h>
#include <string.h>

static const CK_BBOOL yes = CK_TRUE;

CK_RV akm_backend_service_open(akm_backend *b, CK_SLOT_ID slot, akm_backend_service **out)
{
	akm_backend_service *s = calloc(1, sizeof *s);
	if (s == NULL)
		return CKR_HOST_MEMORY;
	s->f = b->f;
	s->slot = slot;
	CK_RV rv = s->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->session);
	if (rv != CKR_OK) {
		free(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}

void akm_backend_service_close(akm_backend_service *s)
{
	if (s == NULL)
		return;
	s->f->C_CloseSession(s->session);
	free(s);
}

bool akm_backend_session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

CK_RV akm_backend_service_revive(akm_backend_service *s)
{
	CK_SESSION_INFO info;
	CK_RV rv = s->f->C_GetSessionInfo(s->session, &info);
	if (!akm_backend_session_lost(rv))
		return CKR_OK;
	/* Closed behind our back (the token restarted, another user of a
	 * shared backend closed every session): what was in it is gone. */
	CK_SESSION_HANDLE fresh;
	rv = s->f->C_OpenSession(s->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &fresh);
	if (rv != CKR_OK)
		return rv;
	s->session = fresh;
	s->kek = s->kek_token = s->mac = s->rkek = 0;
	return CKR_OK;
}

void akm_backend_service_logout(akm_backend_service *s)
{
	/* Only a session copy is ours to destroy; the token's KEK stays. */
	if (s->kek != 0 && s->kek != s->kek_token)
		s->f->C_DestroyObject(s->session, s->kek);
	s->kek = s->kek_token = s->mac = s->rkek = 0;
	s->f->C_Logout(s->session); /* already done when the application logged out */
}

CK_RV akm_backend_random(akm_backend_service *s, uint8_t *out, size_t len)
{
	return s->f->C_GenerateRandom(s->session, out, (CK_ULONG)len);
}

CK_RV akm_backend_destroy(akm_backend_service *s, CK_OBJECT_HANDLE h)
{
	return s->f->C_DestroyObject(s->session, h);
}

CK_RV akm_backend_service_find(akm_backend_service *s, CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
                               size_t max, size_t *n)
{
	CK_ULONG got = 0;
	CK_RV rv = s->f->C_FindObjectsInit(s->session, tmpl, count);
	if (rv != CKR_OK)
		return rv;
	rv = s->f->C_FindObjects(s->session, out, (CK_ULONG)max, &got);
	s->f->C_FindObjectsFinal(s->session);
	*n = rv == CKR_OK ? (size_t)got : 0;
	return rv;
}

CK_RV akm_backend_secret_find(akm_backend_service *s, const char *label, CK_OBJECT_HANDLE *h, bool *found)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_LABEL, (void *)label, strlen(label)}};
	size_t n = 0;
	*h = 0;
	CK_RV rv = akm_backend_service_find(s, t, 2, h, 1, &n);
	*found = rv == CKR_OK && n == 1;
	if (!*found)
		*h = 0;
	return rv;
}

CK_RV akm_backend_data_find(akm_backend_service *s, const char *application, CK_OBJECT_HANDLE *out, size_t max,
                            size_t *n)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &data, sizeof data},
	                    {CKA_APPLICATION, (void *)application, strlen(application)}};
	return akm_backend_service_find(s, t, 2, out, max, n);
}

CK_RV akm_backend_data_create(akm_backend_service *s, const char *application, const char *label, size_t len,
                              CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &data, sizeof data}, {CKA_TOKEN, (void *)&yes, 1},
		{CKA_PRIVATE, (void *)&yes, 1}, {CKA_MODIFIABLE, (void *)&yes, 1},
		{CKA_LABEL, (void *)label, len},
		{CKA_APPLICATION, (void *)application, strlen(application)},
		{CKA_VALUE, "", 0},
	};
	return s->f->C_CreateObject(s->session, t, sizeof t / sizeof t[0], out);
}

CK_RV akm_backend_label_read(akm_backend_service *s, CK_OBJECT_HANDLE h, char *label, size_t len)
{
	CK_ATTRIBUTE a = {CKA_LABEL, label, len};
	if (s->f->C_GetAttributeValue(s->session, h, &a, 1) != CKR_OK || a.ulValueLen != len)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

CK_RV akm_backend_label_write(akm_backend_service *s, CK_OBJECT_HANDLE h, const char *label, size_t len)
{
	CK_ATTRIBUTE a = {CKA_LABEL, (void *)label, len};
	return s->f->C_SetAttributeValue(s->session, h, &a, 1);
}
