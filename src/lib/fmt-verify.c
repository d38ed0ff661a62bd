/* The verification proof's message (fmt-verify.h). */
#include "lib/fmt-verify.h"

#include "lib/fmt-field.h"

akm_fmt_rc akm_verify_message(const uint8_t *node_id, size_t node_id_len, const uint8_t *pr_id,
                              size_t pr_id_len, const uint8_t challenge[AKM_VERIFY_CHALLENGE_LEN],
                              uint8_t *buf, size_t cap, size_t *len)
{
	if (!akm_fmt_id_ok(node_id_len) || !akm_fmt_id_ok(pr_id_len))
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_buf_put_bytes(&w, "AKM-VERIFY-1", 12);
	akm_buf_put_lv8(&w, node_id, node_id_len);
	akm_buf_put_lv8(&w, pr_id, pr_id_len);
	akm_buf_put_bytes(&w, challenge, AKM_VERIFY_CHALLENGE_LEN);
	return akm_fmt_writer_done(&w, len);
}
