/* The enrollment request (fmt-request.h, docs/formats.md §6). */
#include "lib/fmt-request.h"

#include <string.h>

#include "lib/fmt-field.h"

#define REQUEST_MAGIC "AKMR"

static akm_fmt_rc request_write(const akm_request *q, akm_buf_writer *w)
{
	if (!akm_fmt_name_len(q->name) || !akm_fmt_hw_ok(q->hw_len) || q->node_point[0] != 0x04)
		return AKM_FMT_BAD_FIELD;
	akm_fmt_put_header(w, REQUEST_MAGIC);
	akm_fmt_put_name(w, q->name);
	akm_buf_put_lv8(w, q->hw, q->hw_len);
	akm_buf_put_bytes(w, q->node_point, AKM_FMT_POINT_LEN);
	akm_buf_put_bytes(w, q->nonce, AKM_REQUEST_NONCE_LEN);
	akm_buf_put_u64(w, q->created);
	return AKM_FMT_OK;
}

akm_fmt_rc akm_request_encode_signed(const akm_request *q, uint8_t *buf, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_rc rc = request_write(q, &w);
	return rc != AKM_FMT_OK ? rc : akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_request_finish(const akm_request *q, uint8_t *buf, size_t cap, size_t *len)
{
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_rc rc = request_write(q, &w);
	if (rc != AKM_FMT_OK)
		return rc;
	akm_fmt_put_sig(&w, q->sig);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_request_parse(const uint8_t *buf, size_t len, akm_request *out, size_t *signed_len)
{
	akm_request q;
	memset(&q, 0, sizeof q);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = akm_fmt_get_header(&r, REQUEST_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	akm_fmt_get_name(&r, q.name);
	q.hw_len = akm_fmt_get_hw(&r, q.hw);
	akm_fmt_get_point(&r, q.node_point);
	akm_buf_get_bytes(&r, q.nonce, AKM_REQUEST_NONCE_LEN);
	q.created = akm_buf_get_u64(&r);
	size_t sl = akm_buf_offset(&r);
	akm_fmt_get_sig(&r, q.sig);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	*out = q;
	if (signed_len)
		*signed_len = sl;
	return AKM_FMT_OK;
}
