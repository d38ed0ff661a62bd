/*
 * akm-pkcs11: the public contract for applications.
 *
 * This header grows with the product: AKM relationship attributes, object
 * kinds and vendor mechanisms are added here (docs/object-model.md).  Today
 * it names what an application needs to recognise and configure the module.
 */
#ifndef AKM_PKCS11_AKM_H
#define AKM_PKCS11_AKM_H

/* CK_INFO.manufacturerID, CK_SLOT_INFO.manufacturerID,
 * CK_TOKEN_INFO.manufacturerID and CK_TOKEN_INFO.model of the module (blank
 * padded in those fields, as PKCS#11 has it). */
#define AKM_PKCS11_MANUFACTURER "akm-pkcs11"

/* The environment variable naming the module's configuration file
 * (docs/configuration.md). */
#define AKM_PKCS11_CONF_ENV "AKM_PKCS11_CONF"

#endif
