/* The login state and its rules (fmt-login.h, docs/formats.md §1.2). */
#include "lib/fmt-login.h"

#include <string.h>

#include "lib/fmt-field.h"

#define LOGIN_MAGIC "AKML"
#define KNOWN_FLAGS (AKM_LOGIN_LOCKED | AKM_LOGIN_AUDITED)

akm_fmt_rc akm_login_state_encode(const akm_login_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	for (int i = 0; i < 2; i++)
		if ((s->who[i].flags & ~KNOWN_FLAGS) != 0 ||
		    (i == AKM_LOGIN_SO && (s->who[i].flags & AKM_LOGIN_LOCKED) != 0))
			return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_put_header(&w, LOGIN_MAGIC);
	for (int i = 0; i < 2; i++) {
		akm_buf_put_u32(&w, s->who[i].failures);
		akm_buf_put_u8(&w, s->who[i].flags);
		akm_buf_put_u64(&w, s->who[i].not_before);
	}
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_login_state_parse(const uint8_t *buf, size_t len, akm_login_state *out)
{
	akm_login_state s;
	memset(&s, 0, sizeof s);
	if (len == 0) {
		*out = s;
		return AKM_FMT_OK;
	}
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = akm_fmt_get_header(&r, LOGIN_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	for (int i = 0; i < 2; i++) {
		s.who[i].failures = akm_buf_get_u32(&r);
		s.who[i].flags = akm_buf_get_u8(&r);
		s.who[i].not_before = akm_buf_get_u64(&r);
		if ((s.who[i].flags & ~KNOWN_FLAGS) != 0 ||
		    (i == AKM_LOGIN_SO && (s.who[i].flags & AKM_LOGIN_LOCKED) != 0))
			akm_buf_invalid(&r);
	}
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	*out = s;
	return AKM_FMT_OK;
}

void akm_login_policy_default(akm_login_policy *p)
{
	p->backoff = true;
	p->after = 3;
	p->initial_ms = 1000;
	p->max_ms = 15 * 60 * 1000;
	p->lockout = 0;
}

bool akm_login_policy_active(const akm_login_policy *p)
{
	return p->backoff || p->lockout > 0;
}

uint64_t akm_login_backoff_ms(const akm_login_policy *p, uint32_t failures)
{
	if (!p->backoff || failures <= p->after)
		return 0;
	uint64_t wait = p->initial_ms;
	for (uint32_t n = failures - p->after - 1; n > 0 && wait < p->max_ms; n--)
		wait *= 2;
	return wait < p->max_ms ? wait : p->max_ms;
}

akm_login_verdict akm_login_check(const akm_login_policy *p, const akm_login_record *r, uint64_t now,
                                  uint64_t *wait_ms)
{
	*wait_ms = 0;
	if (r->flags & AKM_LOGIN_LOCKED)
		return AKM_LOGIN_LOCKED_OUT;
	if (!p->backoff || r->not_before <= now)
		return AKM_LOGIN_GO;
	uint64_t left = r->not_before - now;
	*wait_ms = left < p->max_ms ? left : p->max_ms;
	return AKM_LOGIN_WAIT;
}

void akm_login_failed(const akm_login_policy *p, akm_login_who who, akm_login_record *r, uint64_t now)
{
	if (r->failures < UINT32_MAX)
		r->failures++;
	uint64_t wait = akm_login_backoff_ms(p, r->failures);
	r->not_before = wait > 0 ? now + wait : 0;
	r->flags &= (uint8_t)~AKM_LOGIN_AUDITED;
	if (who == AKM_LOGIN_USER && p->lockout > 0 && r->failures >= p->lockout)
		r->flags |= AKM_LOGIN_LOCKED;
}

void akm_login_reset(akm_login_record *r)
{
	memset(r, 0, sizeof *r);
}
