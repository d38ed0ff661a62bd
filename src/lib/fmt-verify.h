/*
 * The message a node's proof of possession covers (docs/akm-nmm.md
 * "verify", docs/akm-node.md): HMAC-SHA256 with the node's PR MAC key over
 *   "AKM-VERIFY-1" || u8 len || node AKM ID || u8 len || PR ID || challenge
 * The node signs it, the station verifies it: one encoder for both.
 */
#ifndef AKM_LIB_FMT_VERIFY_H
#define AKM_LIB_FMT_VERIFY_H

#include "lib/fmt.h"

#define AKM_VERIFY_CHALLENGE_LEN 32
#define AKM_VERIFY_MSG_MAX (12 + 1 + AKM_FMT_ID_MAX + 1 + AKM_FMT_ID_MAX + AKM_VERIFY_CHALLENGE_LEN)

/* AKM_FMT_BAD_FIELD for an ID of 0 or more than AKM_FMT_ID_MAX bytes. */
akm_fmt_rc akm_verify_message(const uint8_t *node_id, size_t node_id_len, const uint8_t *pr_id,
                              size_t pr_id_len, const uint8_t challenge[AKM_VERIFY_CHALLENGE_LEN],
                              uint8_t *buf, size_t cap, size_t *len);

#endif
