/* What token.c and import.c share about the node token's objects: the PR
 * keys by CKA_ID and the state records.  For the node library only. */
#ifndef AKM_TOOLS_NODE_KEYS_H
#define AKM_TOOLS_NODE_KEYS_H

#include "node/node.h"

#define AKM_NODE_KEYS_MAX 8   /* keys with one CKA_ID (normally one) */
#define AKM_NODE_STATES_MAX 8 /* state records (normally one) */

/* The PR keys of one purpose (CKV_AKM_PURPOSE_*): CKA_ID = PR ID || purpose. */
int akm_node_find_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose,
                       CK_OBJECT_HANDLE *hs, size_t max, size_t *n);
/* CKA_ID of a PR key; its length. */
size_t akm_node_key_id(const uint8_t *pr_id, size_t pr_len, CK_ULONG purpose,
                       uint8_t out[AKM_FMT_ID_MAX + 1]);
/* Both keys of a PR, destroyed. */
void akm_node_destroy_keys(akm_p11 *node, const uint8_t *pr_id, size_t pr_len);
/* Every node state object. */
int akm_node_state_objects(akm_p11 *node, CK_OBJECT_HANDLE *hs, size_t max, size_t *n);
/* A new state object holding s. */
int akm_node_state_write(akm_p11 *node, const akm_node_state *s, CK_OBJECT_HANDLE *h);

#endif
