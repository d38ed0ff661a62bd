/*
 * The module's configuration file (docs/configuration.md): which backend
 * module to load, which of its tokens to present (PKCS#11 URIs, RFC 7512),
 * where the registry lives, how much to log.
 */
#ifndef AKM_CONFIG_H
#define AKM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "akm/pkcs11-akm.h"
#include "common/log.h"
#include "lib/fmt-login.h"

#define AKM_CONFIG_ENV AKM_PKCS11_CONF_ENV
#define AKM_CONFIG_MAX_TOKENS 16
#define AKM_CONFIG_MAX_LINE 4096
/* The largest configuration file read (docs/configuration.md). */
#define AKM_CONFIG_MAX_SIZE (64 * 1024)
/* The longest back-off the login.backoff.*_ms keys allow: a day. */
#define AKM_CONFIG_LOGIN_MAX_MS (24ULL * 60 * 60 * 1000)

typedef struct akm_config {
	char path[PATH_MAX];           /* the file read */
	char backend_module[PATH_MAX];
	P11KitUri *tokens[AKM_CONFIG_MAX_TOKENS];
	size_t ntokens;                /* 0: every token of the backend */
	char registry_path[PATH_MAX];  /* absolute, for a SQLite registry; empty for another store */
	char registry_uri[PATH_MAX + 16]; /* the store to open: "sqlite:<registry_path>", or registry.uri */
	P11KitUri *registry_token;     /* the token that keeps the registry; NULL: the first slot */
	akm_log_level log_level;
	akm_log_target log_target;     /* log.target (default syslog); see akm_config_load on errors */
	akm_login_policy login;        /* login.backoff, login.backoff.*, login.lockout */
} akm_config;

/* The file named by $AKM_PKCS11_CONF, else the built-in default path. */
const char *akm_config_default_path(void);

/* Reads and checks `path`: a regular file of at most AKM_CONFIG_MAX_SIZE
 * bytes (anything else is refused before it is read).  On failure returns
 * CKR_GENERAL_ERROR (or CKR_HOST_MEMORY), leaves *cfg empty (log_target 0)
 * but for log_target when a line before the error gave a good one (so that
 * the error goes where the file asks) and writes
 * "<file>:<line>: <what>" (or "<file>: <what>") into err. */
CK_RV akm_config_load(akm_config *cfg, const char *path, char *err, size_t errlen);

/* True when the backend token described by `info` is selected. */
int akm_config_selects_token(const akm_config *cfg, CK_TOKEN_INFO *info);
/* True when it is the token registry.token names (or none is named). */
int akm_config_is_registry_token(const akm_config *cfg, CK_TOKEN_INFO *info);

void akm_config_free(akm_config *cfg);

#endif
