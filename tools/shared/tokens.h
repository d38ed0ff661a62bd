/* The `tokens` command of akm-nmm and akm-node: what a module offers. */
#ifndef AKM_TOOLS_TOKENS_H
#define AKM_TOOLS_TOKENS_H

#include <stdbool.h>

/* Loads `module` (without logging in), and prints its tokens on stdout:
 * slot, label, serial, manufacturer, model, flags and a PKCS#11 URI
 * naming each, as text or --json ({"module": {...}, "tokens": [...]}).
 * Labels and other token text are escaped in the text output.  Failures
 * reported under `what`; an AKM_RC_* code. */
int akm_tokens_print(const char *what, const char *module, bool json);

#endif
