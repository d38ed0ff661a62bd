/* The node's state ("AKMN", version 1; docs/formats.md §8): what a node has
 * accepted, kept in the node's token as the CKA_VALUE of a data object. */
#ifndef AKM_LIB_FMT_NODE_STATE_H
#define AKM_LIB_FMT_NODE_STATE_H

#include "lib/fmt.h"

typedef struct akm_node_state {
	uint8_t station_id[AKM_FMT_ID_MAX]; size_t station_id_len;
	uint8_t node_id[AKM_FMT_ID_MAX]; size_t node_id_len;
	uint8_t pr_id[AKM_FMT_ID_MAX]; size_t pr_id_len;
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;
	char name[AKM_FMT_NAME_MAX + 1];
	uint64_t seq;                          /* last bundle accepted */
	uint64_t imported;                     /* Unix seconds */
	uint8_t bundle_hash[AKM_FMT_HASH_LEN]; /* SHA-256 of that bundle file */
} akm_node_state;

akm_fmt_rc akm_node_state_encode(const akm_node_state *s, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_node_state_parse(const uint8_t *buf, size_t len, akm_node_state *s);

#endif
