/*
 * Reading an akm-pkcs11 token's audit trail record by record, by sequence
 * number (docs/object-model.md "Audit records": record `seq` is the object
 * handle 0x20000000 + seq), without a search: what the station service
 * follows (tools/station/act.c, respond.c) and what a node reports at
 * check-in (tools/node/report.c).
 */
#ifndef AKM_TOOLS_TRAIL_H
#define AKM_TOOLS_TRAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/p11.h"

#define AKM_TRAIL_HANDLE(seq) (0x20000000UL + (CK_OBJECT_HANDLE)(seq))
#define AKM_TRAIL_DETAIL_MAX 2047

typedef struct akm_trail_rec {
	uint64_t seq, time;
	CK_ULONG result;
	char actor[16], action[64];
	char detail[AKM_TRAIL_DETAIL_MAX + 1];
	uint8_t rid[32];
	size_t rid_len;
} akm_trail_rec;

/* Whether record `seq` exists; its action into action (NUL-ended, may be NULL). */
bool akm_trail_action(akm_p11 *p, uint64_t seq, char action[64]);
/* Record `seq` (every field NUL-ended; a longer detail is cut): 1 read, 0
 * absent. */
int akm_trail_read(akm_p11 *p, uint64_t seq, akm_trail_rec *r);
/* The sequence number of the trail's last record (0: empty), in about
 * 2 log2(n) attribute reads. */
uint64_t akm_trail_head(akm_p11 *p);

#endif
