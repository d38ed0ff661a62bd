/* The enrollment request ("AKMR", version 1; docs/formats.md §6): a node
 * asking to be provisioned, signed by its identity key. */
#ifndef AKM_LIB_FMT_REQUEST_H
#define AKM_LIB_FMT_REQUEST_H

#include "lib/fmt.h"

#define AKM_REQUEST_NONCE_LEN 16

typedef struct akm_request {
	char name[AKM_FMT_NAME_MAX + 1];
	uint8_t hw[AKM_FMT_HW_MAX]; size_t hw_len;
	uint8_t node_point[AKM_FMT_POINT_LEN];   /* the node's identity public key */
	uint8_t nonce[AKM_REQUEST_NONCE_LEN];
	uint64_t created;
	uint8_t sig[AKM_FMT_SIG_LEN];            /* by the node's identity key */
} akm_request;

/* As for the bundle: the signed part, then the whole request. */
akm_fmt_rc akm_request_encode_signed(const akm_request *r, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_request_finish(const akm_request *r, uint8_t *buf, size_t cap, size_t *len);
akm_fmt_rc akm_request_parse(const uint8_t *buf, size_t len, akm_request *r, size_t *signed_len);

#endif
