/* The node state (fmt-node-state.h, docs/formats.md §8). */
#include "lib/fmt-node-state.h"

#include <string.h>

#include "lib/fmt-field.h"

#define STATE_MAGIC "AKMN"

akm_fmt_rc akm_node_state_encode(const akm_node_state *s, uint8_t *buf, size_t cap, size_t *len)
{
	if (!akm_fmt_id_ok(s->station_id_len) || !akm_fmt_id_ok(s->node_id_len) ||
	    !akm_fmt_id_ok(s->pr_id_len) || !akm_fmt_hw_ok(s->hw_len) || !akm_fmt_name_len(s->name) ||
	    s->seq < 1)
		return AKM_FMT_BAD_FIELD;
	akm_buf_writer w;
	akm_buf_writer_init(&w, buf, cap);
	akm_fmt_put_header(&w, STATE_MAGIC);
	akm_buf_put_lv8(&w, s->station_id, s->station_id_len);
	akm_buf_put_lv8(&w, s->node_id, s->node_id_len);
	akm_buf_put_lv8(&w, s->pr_id, s->pr_id_len);
	akm_buf_put_lv8(&w, s->hw, s->hw_len);
	akm_fmt_put_name(&w, s->name);
	akm_buf_put_u64(&w, s->seq);
	akm_buf_put_u64(&w, s->imported);
	akm_buf_put_bytes(&w, s->bundle_hash, AKM_FMT_HASH_LEN);
	return akm_fmt_writer_done(&w, len);
}

akm_fmt_rc akm_node_state_parse(const uint8_t *buf, size_t len, akm_node_state *out)
{
	akm_node_state s;
	memset(&s, 0, sizeof s);
	akm_buf_reader r;
	akm_buf_reader_init(&r, buf, len);
	akm_fmt_rc rc = akm_fmt_get_header(&r, STATE_MAGIC);
	if (rc != AKM_FMT_OK)
		return rc;
	s.station_id_len = akm_fmt_get_id(&r, s.station_id);
	s.node_id_len = akm_fmt_get_id(&r, s.node_id);
	s.pr_id_len = akm_fmt_get_id(&r, s.pr_id);
	s.hw_len = akm_fmt_get_hw(&r, s.hw);
	akm_fmt_get_name(&r, s.name);
	s.seq = akm_buf_get_u64(&r);
	if (s.seq < 1)
		akm_buf_invalid(&r);
	s.imported = akm_buf_get_u64(&r);
	akm_buf_get_bytes(&r, s.bundle_hash, AKM_FMT_HASH_LEN);
	akm_buf_end(&r);
	if ((rc = akm_fmt_reader_done(&r)) != AKM_FMT_OK)
		return rc;
	*out = s;
	return AKM_FMT_OK;
}
