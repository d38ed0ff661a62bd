#include "config/config.h"
#include "common/sidefile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "akm-config.h"

const char *akm_config_default_path(void)
{
	const char *env = secure_getenv(AKM_CONFIG_ENV);
	return (env != NULL && env[0] != '\0') ? env : AKM_DEFAULT_CONF;
}

static void set_error(char *err, size_t errlen, const char *path, unsigned line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_error(char *err, size_t errlen, const char *path, unsigned line,
                      const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s:%u: %s", path, line, what);
	else
		snprintf(err, errlen, "%s: %s", path, what);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Relative paths in the file are relative to the file's own folder. */
static int resolve_path(char *out, size_t outlen, const char *conf_path, const char *value)
{
	if (value[0] == '/')
		return snprintf(out, outlen, "%s", value) < (int)outlen ? 0 : -1;
	const char *slash = strrchr(conf_path, '/');
	if (slash == NULL)
		return snprintf(out, outlen, "%s", value) < (int)outlen ? 0 : -1;
	int dirlen = (int)(slash - conf_path);
	return snprintf(out, outlen, "%.*s/%s", dirlen, conf_path, value) < (int)outlen ? 0 : -1;
}

/* A PKCS#11 token URI (RFC 7512) into *out. */
static CK_RV parse_token_uri(const char *path, unsigned lineno, const char *key, const char *value, P11KitUri **out,
                             char *err, size_t errlen)
{
	P11KitUri *uri = p11_kit_uri_new();
	if (uri == NULL) {
		snprintf(err, errlen, "out of memory");
		return CKR_HOST_MEMORY;
	}
	int ret = p11_kit_uri_parse(value, P11_KIT_URI_FOR_TOKEN, uri);
	if (ret != P11_KIT_URI_OK) {
		p11_kit_uri_free(uri);
		set_error(err, errlen, path, lineno, "%s: '%.200s' is not a PKCS#11 token URI: %s", key, value,
		          p11_kit_uri_message(ret));
		return CKR_GENERAL_ERROR;
	}
	*out = uri;
	return CKR_OK;
}

/* "scheme:location"; a SQLite location is a path, relative to the file's
 * folder like every path here.  0, or -1 when it is not of that form. */
static int parse_store_uri(akm_config *cfg, const char *conf_path, const char *value)
{
	const char *colon = strchr(value, ':');
	if (colon == NULL || colon == value || colon[1] == '\0')
		return -1;
	for (const char *p = value; p < colon; p++)
		if (!isalnum((unsigned char)*p))
			return -1;
	if (strncmp(value, "sqlite:", 7) != 0)
		return snprintf(cfg->registry_uri, sizeof cfg->registry_uri, "%s", value) < (int)sizeof cfg->registry_uri ? 0 : -1;
	if (resolve_path(cfg->registry_path, sizeof cfg->registry_path, conf_path, colon + 1) != 0)
		return -1;
	snprintf(cfg->registry_uri, sizeof cfg->registry_uri, "sqlite:%s", cfg->registry_path);
	return 0;
}

static int parse_log_target(const char *value, akm_log_target *target)
{
	if (strcmp(value, "syslog") == 0)
		*target = AKM_LOG_TO_SYSLOG;
	else if (strcmp(value, "stderr") == 0)
		*target = AKM_LOG_TO_STDERR;
	else if (strcmp(value, "both") == 0)
		*target = AKM_LOG_TO_BOTH;
	else
		return -1;
	return 0;
}

static int parse_log_level(const char *value, akm_log_level *level)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(value, names[i]) == 0) {
			*level = (akm_log_level)i;
			return 0;
		}
	return -1;
}

/*
 * The whole file into a malloc'd buffer (*len bytes, NUL-terminated), read
 * with a bound: a regular file of at most AKM_CONFIG_MAX_SIZE bytes.  A
 * FIFO, a device (/dev/zero) or a directory is refused without reading it
 * (opened non-blocking, so a FIFO without a writer does not hang us); a file
 * that grows past the bound while read is refused too.
 */
static CK_RV read_bounded(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		set_error(err, errlen, path, 0, "cannot open configuration file: %s (set %s to choose another)",
		          strerror(errno), AKM_CONFIG_ENV);
		return CKR_GENERAL_ERROR;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		set_error(err, errlen, path, 0, "cannot read configuration file: %s", strerror(errno));
		close(fd);
		return CKR_GENERAL_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		set_error(err, errlen, path, 0, "refused: %s, not a regular file (the configuration must be one)",
		          akm_file_kind(st.st_mode));
		close(fd);
		return CKR_GENERAL_ERROR;
	}
	if (st.st_size > AKM_CONFIG_MAX_SIZE) {
		set_error(err, errlen, path, 0, "refused: %lld bytes, more than the %d a configuration file may have",
		          (long long)st.st_size, AKM_CONFIG_MAX_SIZE);
		close(fd);
		return CKR_GENERAL_ERROR;
	}
	char *buf = malloc(AKM_CONFIG_MAX_SIZE + 2);
	if (buf == NULL) {
		set_error(err, errlen, path, 0, "out of memory");
		close(fd);
		return CKR_HOST_MEMORY;
	}
	size_t n = 0;
	bool failed = false;
	for (;;) {
		ssize_t r = read(fd, buf + n, AKM_CONFIG_MAX_SIZE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_error(err, errlen, path, 0, "read error: %s", strerror(errno));
			failed = true;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > AKM_CONFIG_MAX_SIZE) {
			set_error(err, errlen, path, 0, "refused: more than the %d bytes a configuration file may have",
			          AKM_CONFIG_MAX_SIZE);
			failed = true;
			break;
		}
	}
	close(fd);
	if (failed) {
		free(buf);
		return CKR_GENERAL_ERROR;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return CKR_OK;
}

static int parse_on_off(const char *value, bool *on)
{
	if (strcmp(value, "on") == 0)
		*on = true;
	else if (strcmp(value, "off") == 0)
		*on = false;
	else
		return -1;
	return 0;
}

/* A decimal integer in [min, max], nothing else on the line. */
static int parse_uint(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!isdigit((unsigned char)value[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The login.* keys (docs/configuration.md, "PIN throttling").  0, or -1
 * with the reason in err. */
static int parse_login_key(akm_config *cfg, const char *path, unsigned lineno, const char *key,
                           const char *value, unsigned *seen, char *err, size_t errlen)
{
	static const char *const keys[] = {"login.backoff", "login.backoff.after", "login.backoff.initial_ms",
	                                   "login.backoff.max_ms", "login.lockout"};
	static const uint64_t max[] = {0, 1000, AKM_CONFIG_LOGIN_MAX_MS, AKM_CONFIG_LOGIN_MAX_MS, 1000000};
	static const uint64_t min[] = {0, 0, 1, 1, 0};
	size_t i = 0;
	while (strcmp(key, keys[i]) != 0)
		i++;
	if (*seen & (1u << i)) {
		set_error(err, errlen, path, lineno, "%s given twice", key);
		return -1;
	}
	*seen |= 1u << i;
	uint64_t v = 0;
	if (i == 0) {
		if (parse_on_off(value, &cfg->login.backoff) == 0)
			return 0;
		set_error(err, errlen, path, lineno, "%s: '%.40s' is not on or off", key, value);
		return -1;
	}
	if (parse_uint(value, min[i], max[i], &v) != 0) {
		set_error(err, errlen, path, lineno, "%s: '%.40s' is not a whole number from %llu to %llu", key, value,
		          (unsigned long long)min[i], (unsigned long long)max[i]);
		return -1;
	}
	if (i == 1)
		cfg->login.after = (uint32_t)v;
	else if (i == 2)
		cfg->login.initial_ms = v;
	else if (i == 3)
		cfg->login.max_ms = v;
	else
		cfg->login.lockout = (uint32_t)v;
	return 0;
}

static bool is_login_key(const char *key)
{
	return strcmp(key, "login.backoff") == 0 || strcmp(key, "login.backoff.after") == 0 ||
	       strcmp(key, "login.backoff.initial_ms") == 0 || strcmp(key, "login.backoff.max_ms") == 0 ||
	       strcmp(key, "login.lockout") == 0;
}

void akm_config_free(akm_config *cfg)
{
	for (size_t i = 0; i < cfg->ntokens; i++)
		p11_kit_uri_free(cfg->tokens[i]);
	if (cfg->registry_token != NULL)
		p11_kit_uri_free(cfg->registry_token);
	memset(cfg, 0, sizeof *cfg);
}

CK_RV akm_config_load(akm_config *cfg, const char *path, char *err, size_t errlen)
{
	char line[AKM_CONFIG_MAX_LINE + 2];
	unsigned lineno = 0;
	int seen_module = 0, seen_registry = 0, seen_uri = 0, seen_log = 0, seen_target = 0;
	CK_RV rv = CKR_GENERAL_ERROR, parsed;

	unsigned seen_login = 0;

	memset(cfg, 0, sizeof *cfg);
	cfg->log_level = AKM_LOG_WARNING;
	cfg->log_target = AKM_LOG_TARGET_DEFAULT;
	akm_login_policy_default(&cfg->login);
	snprintf(cfg->path, sizeof cfg->path, "%s", path);

	char *data = NULL;
	size_t size = 0;
	if ((parsed = read_bounded(path, &data, &size, err, errlen)) != CKR_OK) {
		akm_config_free(cfg); /* log_target 0: the file did not say */
		return parsed;
	}
	for (size_t pos = 0; pos < size;) {
		lineno++;
		const char *start = data + pos;
		const char *nl = memchr(start, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - start) : size - pos;
		pos += len + (nl != NULL);
		if (len > AKM_CONFIG_MAX_LINE) {
			set_error(err, errlen, path, lineno, "line longer than %d bytes", AKM_CONFIG_MAX_LINE);
			goto fail;
		}
		if (memchr(start, '\0', len) != NULL) {
			set_error(err, errlen, path, lineno, "a NUL byte: not a text file");
			goto fail;
		}
		memcpy(line, start, len);
		line[len] = '\0';
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		char *text = trim(line);
		if (*text == '\0')
			continue;
		char *eq = strchr(text, '=');
		if (eq == NULL) {
			set_error(err, errlen, path, lineno, "expected 'key = value', found '%.80s'", text);
			goto fail;
		}
		*eq = '\0';
		char *key = trim(text), *value = trim(eq + 1);
		if (*value == '\0') {
			set_error(err, errlen, path, lineno, "'%s' has no value", key);
			goto fail;
		}
		if (strcmp(key, "backend.module") == 0) {
			if (seen_module++) {
				set_error(err, errlen, path, lineno, "backend.module given twice");
				goto fail;
			}
			if (resolve_path(cfg->backend_module, sizeof cfg->backend_module, path, value) != 0) {
				set_error(err, errlen, path, lineno, "backend.module: path too long");
				goto fail;
			}
			if (access(cfg->backend_module, R_OK) != 0) {
				set_error(err, errlen, path, lineno, "backend.module: %s: %s",
				          cfg->backend_module, strerror(errno));
				goto fail;
			}
		} else if (strcmp(key, "backend.token") == 0) {
			if (cfg->ntokens == AKM_CONFIG_MAX_TOKENS) {
				set_error(err, errlen, path, lineno, "more than %d backend.token lines",
				          AKM_CONFIG_MAX_TOKENS);
				goto fail;
			}
			if ((parsed = parse_token_uri(path, lineno, key, value, &cfg->tokens[cfg->ntokens], err, errlen)) != CKR_OK) {
				rv = parsed;
				goto fail;
			}
			cfg->ntokens++;
		} else if (strcmp(key, "registry.token") == 0) {
			if (cfg->registry_token != NULL) {
				set_error(err, errlen, path, lineno, "registry.token given twice");
				goto fail;
			}
			if ((parsed = parse_token_uri(path, lineno, key, value, &cfg->registry_token, err, errlen)) != CKR_OK) {
				rv = parsed;
				goto fail;
			}
		} else if (strcmp(key, "registry.uri") == 0) {
			if (seen_uri++ || seen_registry) {
				set_error(err, errlen, path, lineno, seen_registry ? "registry.uri and registry.path both given"
				                                                   : "registry.uri given twice");
				goto fail;
			}
			if (parse_store_uri(cfg, path, value) != 0) {
				set_error(err, errlen, path, lineno,
				          "registry.uri: '%.200s' is not a store URI (scheme:location, e.g. sqlite:registry.db)", value);
				goto fail;
			}
		} else if (strcmp(key, "registry.path") == 0) {
			if (seen_registry++ || seen_uri) {
				set_error(err, errlen, path, lineno, seen_uri ? "registry.uri and registry.path both given"
				                                              : "registry.path given twice");
				goto fail;
			}
			if (resolve_path(cfg->registry_path, sizeof cfg->registry_path, path, value) != 0) {
				set_error(err, errlen, path, lineno, "registry.path: path too long");
				goto fail;
			}
		} else if (strcmp(key, "log.level") == 0) {
			if (seen_log++) {
				set_error(err, errlen, path, lineno, "log.level given twice");
				goto fail;
			}
			if (parse_log_level(value, &cfg->log_level) != 0) {
				set_error(err, errlen, path, lineno,
				          "log.level: '%.40s' is not one of error, warning, info, debug", value);
				goto fail;
			}
		} else if (strcmp(key, "log.target") == 0) {
			if (seen_target++) {
				set_error(err, errlen, path, lineno, "log.target given twice");
				goto fail;
			}
			if (parse_log_target(value, &cfg->log_target) != 0) {
				set_error(err, errlen, path, lineno,
				          "log.target: '%.40s' is not one of syslog, stderr, both", value);
				seen_target = 0; /* not said: the module keeps its target */
				goto fail;
			}
		} else if (is_login_key(key)) {
			if (parse_login_key(cfg, path, lineno, key, value, &seen_login, err, errlen) != 0)
				goto fail;
		} else {
			set_error(err, errlen, path, lineno, "unknown key '%.80s'", key);
			goto fail;
		}
	}
	if (!seen_module) {
		set_error(err, errlen, path, 0, "backend.module is missing (the backend PKCS#11 module to load)");
		goto fail;
	}
	if (!(seen_login & (1u << 3)) && cfg->login.max_ms < cfg->login.initial_ms)
		cfg->login.max_ms = cfg->login.initial_ms; /* the default cap, raised to the first wait */
	if (cfg->login.max_ms < cfg->login.initial_ms) {
		set_error(err, errlen, path, 0, "login.backoff.max_ms (%llu) is less than login.backoff.initial_ms (%llu)",
		          (unsigned long long)cfg->login.max_ms, (unsigned long long)cfg->login.initial_ms);
		goto fail;
	}
	if (!seen_registry && !seen_uri)
		resolve_path(cfg->registry_path, sizeof cfg->registry_path, path, "registry.db");
	if (!seen_uri)
		snprintf(cfg->registry_uri, sizeof cfg->registry_uri, "sqlite:%s", cfg->registry_path);
	free(data);
	return CKR_OK;

fail:
	free(data);
	akm_log_target target = cfg->log_target;
	akm_config_free(cfg);
	if (seen_target)
		cfg->log_target = target;
	return rv;
}

int akm_config_selects_token(const akm_config *cfg, CK_TOKEN_INFO *info)
{
	if (cfg->ntokens == 0)
		return 1;
	for (size_t i = 0; i < cfg->ntokens; i++)
		if (p11_kit_uri_match_token_info(cfg->tokens[i], info))
			return 1;
	return 0;
}

int akm_config_is_registry_token(const akm_config *cfg, CK_TOKEN_INFO *info)
{
	return cfg->registry_token == NULL || p11_kit_uri_match_token_info(cfg->registry_token, info);
}
