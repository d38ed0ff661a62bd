/*
 * Registries of earlier schema versions, made from today's: the SQL that
 * takes a registry back, and what SQL alone cannot do.
 */
#ifndef AKM_TEST_REGISTRY_BACK_H
#define AKM_TEST_REGISTRY_BACK_H

#include <stddef.h>

/* Takes a registry of schema version 7 (the file `registry`, closed) back
 * to version 6 exactly as the code of version 6 would have left it.  Since
 * version 7 an audit record names the row of the relationship it is about
 * (`rel`) and its MAC covers that; each such record is sealed again without
 * it, with the row key derived in the token as the module derives it
 * (SoftHSM2 at softhsm_path, the token labelled token_label, the user PIN),
 * then AKM_TEST_SQL_BACK_TO_V6 runs.  0, or -1 with err set. */
int akm_test_back_to_v6(const char *registry, const char *softhsm_path, const char *token_label,
                        const char *user_pin, char *err, size_t errlen);

#endif
