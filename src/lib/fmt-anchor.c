/* The station anchor (fmt-anchor.h, docs/formats.md §7). */
#include "lib/fmt-anchor.h"

#include <string.h>

#include "lib/fmt-field.h"

#define ANCHOR_MAGIC "AKMP"

akm_fmt_rc akm_anchor_encode(const akm_anchor *a, uint8_t *buf, size_t cap, size_t *len)
{
	if (!akm_fmt_id_ok(a->station_id_len) || a->point[0] != 0x04)
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_put_header(&w, ANCHOR_MAGIC);
	akm_buf_put_lv8(&w, a->station_id, a->station_id_len);
	akm_buf_put_bytes(&w, a->point, AKM_FMT_POINT_LEN);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_anchor_parse(const uint8_t *buf, size_t len, akm_anchor *out)
{
	akm_anchor a;
	memset(&a, 0, sizeof a);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = akm_fmt_get_header(&r, ANCHOR_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	a.station_id_len = akm_fmt_get_id(&r, a.station_id);
	akm_fmt_get_point(&r, a.point);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	*out = a;
	return AKM_FMT_OK;
}
