/* Names of CK_RV values, for messages: the module's log and the tools'. */
#ifndef AKM_LIB_RV_H
#define AKM_LIB_RV_H

#include <p11-kit/pkcs11.h>

/* "CKR_KEY_HANDLE_INVALID"; "CKR_VENDOR_DEFINED+" or "CKR_(unknown)" for
 * values without a name.  A static string. */
const char *akm_rv_name(CK_RV rv);

#endif
