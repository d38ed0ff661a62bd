/* The station's ASR mechanisms (asr_station.c), for the vendor mechanisms'
 * table (mechanisms.c). */
#ifndef AKM_CORE_ASR_STATION_H
#define AKM_CORE_ASR_STATION_H

#include "core/core.h"

/* CKM_AKM_ASR_GEN (C_GenerateKey). */
CK_RV akm_asr_station_generate(const akm_call *c, CK_MECHANISM *m, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                               CK_OBJECT_HANDLE *out);
/* CKM_AKM_ASR_PACKAGE and CKM_AKM_ASR_REKEY_MESSAGE (C_WrapKey). */
CK_RV akm_asr_station_package(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                              CK_BYTE *out, CK_ULONG *out_len);
CK_RV akm_asr_station_rekey_message(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                                    CK_OBJECT_HANDLE key, CK_BYTE *out, CK_ULONG *out_len);
/* CKM_AKM_ASR_UPDATE (C_DeriveKey). */
CK_RV akm_asr_station_update(const akm_call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE *tmpl,
                             CK_ULONG count, CK_OBJECT_HANDLE *out);

#endif
