#include "akm/counter.h"

#include <string.h>

#include "akm/internal.h"
#include "common/log.h"
#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/keyed.h"

#define COUNTER_INTERVAL_NS 1000000000LL

uint64_t akm_counter_generation(const uint8_t value[AKM_COUNTER_LEN])
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, value, AKM_COUNTER_LEN);
	return akm_buf_get_u64(&r);
}

uint64_t akm_counter_audit_seq(const uint8_t value[AKM_COUNTER_LEN])
{
	akm_buf_reader r;
	akm_buf_reader_init(&r, value + 8, AKM_COUNTER_LEN - 8);
	return akm_buf_get_u64(&r);
}

void akm_counter_label(char label[AKM_COUNTER_LABEL_LEN + 1], const uint8_t value[AKM_COUNTER_LEN])
{
	memcpy(label, AKM_COUNTER_PREFIX, sizeof AKM_COUNTER_PREFIX - 1);
	akm_hex_encode(value, AKM_COUNTER_LEN, label + sizeof AKM_COUNTER_PREFIX - 1);
}

int akm_counter_parse(const char *label, size_t len, uint8_t value[AKM_COUNTER_LEN])
{
	size_t n;
	if (len != AKM_COUNTER_LABEL_LEN || memcmp(label, AKM_COUNTER_PREFIX, sizeof AKM_COUNTER_PREFIX - 1) != 0)
		return -1;
	return akm_hex_decode_n(label + sizeof AKM_COUNTER_PREFIX - 1, 2 * AKM_COUNTER_LEN, value, AKM_COUNTER_LEN, &n);
}

static CK_RV counter_read(akm_relationships *r, CK_OBJECT_HANDLE h, uint8_t value[AKM_COUNTER_LEN])
{
	char label[AKM_COUNTER_LABEL_LEN];
	if (akm_backend_label_read(r->be, h, label, sizeof label) != CKR_OK ||
	    akm_counter_parse(label, sizeof label, value) != 0)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

static CK_RV counter_create(akm_relationships *r, const uint8_t value[AKM_COUNTER_LEN], CK_OBJECT_HANDLE *h)
{
	char label[AKM_COUNTER_LABEL_LEN + 1];
	akm_counter_label(label, value);
	return akm_backend_data_create(r->be, AKM_COUNTER_APPLICATION, label, AKM_COUNTER_LABEL_LEN, h);
}

bool akm_counter_is(const akm_counter *c, CK_OBJECT_HANDLE h)
{
	return h != 0 && (h == c->obj[0] || h == c->obj[1]);
}

void akm_counter_forget(akm_counter *c)
{
	c->obj[0] = c->obj[1] = 0;
}

/* Writes the registry's generation and audit head into the older object. */
static void counter_update(akm_relationships *r)
{
	akm_counter *c = &r->counter;
	int64_t gen = 0, seq;
	bool present;
	uint8_t value[AKM_COUNTER_LEN], head[AKM_AUDIT_HASH_LEN];
	if (akm_store_get_int(r->reg, "generation", &gen, &present) != CKR_OK ||
	    akm_store_audit_head(r->reg, &seq, head) != CKR_OK)
		return;
	akm_buf_writer w;
	akm_buf_writer_init(&w, value, sizeof value);
	akm_buf_put_u64(&w, (uint64_t)gen);
	akm_buf_put_u64(&w, (uint64_t)seq);
	akm_buf_put_bytes(&w, head, sizeof head);
	char label[AKM_COUNTER_LABEL_LEN + 1];
	akm_counter_label(label, value);
	int older = c->gen[0] <= c->gen[1] ? 0 : 1;
	CK_RV rv = c->obj[older] != 0 ? akm_backend_label_write(r->be, c->obj[older], label, AKM_COUNTER_LABEL_LEN)
	                              : CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OBJECT_HANDLE_INVALID) /* gone (a crash left it unreadable): make it anew */
		rv = counter_create(r, value, &c->obj[older]);
	if (rv == CKR_OK)
		c->gen[older] = (uint64_t)gen;
	else
		akm_log(AKM_LOG_WARNING, "cannot record the registry generation in the token (0x%lx)", rv);
}

void akm_counter_flush(akm_relationships *r)
{
	akm_counter *c = &r->counter;
	if (!c->dirty || (c->obj[0] == 0 && c->obj[1] == 0))
		return;
	counter_update(r);
	clock_gettime(CLOCK_MONOTONIC, &c->written);
	c->dirty = false;
}

void akm_counter_changed(akm_relationships *r)
{
	akm_counter *c = &r->counter;
	struct timespec now;
	c->dirty = true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long elapsed = (now.tv_sec - c->written.tv_sec) * 1000000000LL + (now.tv_nsec - c->written.tv_nsec);
	if (elapsed >= COUNTER_INTERVAL_NS)
		akm_counter_flush(r);
}

CK_RV akm_counter_read_newest(akm_relationships *r, uint8_t value[AKM_COUNTER_LEN])
{
	akm_counter *c = &r->counter;
	int newer = c->gen[0] >= c->gen[1] ? 0 : 1;
	return c->obj[newer] != 0 ? counter_read(r, c->obj[newer], value) : CKR_DEVICE_ERROR;
}

/* The audit chain still holds the head the token recorded (`value`): the
 * trail was neither cut short nor rewritten (its records are sealed, a
 * rewritten one no longer matches). */
static CK_RV check_chain(akm_relationships *r, const uint8_t value[AKM_COUNTER_LEN])
{
	int64_t seq;
	uint64_t token_seq = akm_counter_audit_seq(value);
	uint8_t head[AKM_AUDIT_HASH_LEN], at[AKM_AUDIT_HASH_LEN];
	CK_RV rv = akm_store_audit_head(r->reg, &seq, head);
	if (rv != CKR_OK || token_seq == 0)
		return rv;
	if ((uint64_t)seq < token_seq)
		return akm_store_tampered(r->reg, "the audit trail ends at record %lld, but the token recorded %llu",
		                          (long long)seq, (unsigned long long)token_seq);
	rv = akm_store_audit_hash_at(r->reg, (int64_t)token_seq, at);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return akm_store_tampered(r->reg, "audit record %llu, which the token recorded, is missing",
		                          (unsigned long long)token_seq);
	if (rv == CKR_OK && !akm_equal_ct(at, value + 16, sizeof at))
		return akm_store_tampered(r->reg, "audit record %llu is not the one the token recorded",
		                          (unsigned long long)token_seq);
	return rv;
}

CK_RV akm_counter_check(akm_relationships *r, uint64_t gen)
{
	akm_counter *c = &r->counter;
	CK_OBJECT_HANDLE found[8], stale[8];
	size_t n = 0, nstale = 0;
	CK_RV rv = akm_backend_data_find(r->be, AKM_COUNTER_APPLICATION, found, 8, &n);
	if (rv != CKR_OK)
		return rv;
	uint8_t best[AKM_COUNTER_LEN] = {0};
	bool any = false;
	c->obj[0] = c->obj[1] = 0;
	c->gen[0] = c->gen[1] = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t value[AKM_COUNTER_LEN];
		if (counter_read(r, found[i], value) != CKR_OK) {
			stale[nstale++] = found[i]; /* a write cut short */
			continue;
		}
		uint64_t g = akm_counter_generation(value);
		/* Keep the two newest; an extra one (made while another was
		 * unreadable) goes. */
		int slot = c->obj[0] == 0 ? 0 : c->obj[1] == 0 ? 1 : (c->gen[0] <= c->gen[1] ? 0 : 1);
		if (c->obj[slot] != 0) {
			if (g <= c->gen[slot]) {
				stale[nstale++] = found[i];
				continue;
			}
			stale[nstale++] = c->obj[slot];
		}
		c->obj[slot] = found[i];
		c->gen[slot] = g;
		if (!any || g > akm_counter_generation(best))
			memcpy(best, value, sizeof best);
		any = true;
	}
	if (!any && gen > 0) {
		akm_log(AKM_LOG_ERROR, "registry %s has changes (generation %llu) but the token has no %s: "
		        "wrong token, or the counter was removed", akm_store_location(r->reg), (unsigned long long)gen,
		        AKM_COUNTER_APPLICATION);
		return CKR_DEVICE_ERROR;
	}
	uint64_t token_gen = akm_counter_generation(best);
	if (token_gen > gen) {
		akm_log(AKM_LOG_ERROR, "registry %s is older than the token's record of it (generation %llu < %llu): "
		        "it was restored from an old copy, replaced or deleted; refusing to use it",
		        akm_store_location(r->reg), (unsigned long long)gen, (unsigned long long)token_gen);
		return AKM_ROLLBACK_DETECTED;
	}
	if ((rv = check_chain(r, best)) != CKR_OK)
		return rv;
	/* Accepted: only now is anything in the token changed. */
	for (size_t i = 0; i < nstale; i++)
		akm_backend_destroy(r->be, stale[i]);
	/* Two objects from the start, so a write always has one to spare. */
	for (int i = 0; i < 2; i++)
		if (c->obj[i] == 0) {
			if ((rv = counter_create(r, best, &c->obj[i])) != CKR_OK) {
				akm_log(AKM_LOG_ERROR, "cannot create the registry counter in the token (0x%lx)", rv);
				return rv;
			}
			c->gen[i] = token_gen;
		}
	return CKR_OK;
}
