/* The station's trust anchor ("AKMP", version 1; docs/formats.md §7): the
 * station ID and its public signing key.  Its fingerprint is SHA-256 of
 * the whole file. */
#ifndef AKM_LIB_FMT_ANCHOR_H
#define AKM_LIB_FMT_ANCHOR_H

#include "lib/fmt.h"

typedef struct akm_anchor {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t point[AKM_FMT_POINT_LEN];
} akm_anchor;

akm_fmt_rc akm_anchor_encode(const akm_anchor *a, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_anchor_parse(const uint8_t *buf, size_t len, akm_anchor *a);

#endif
