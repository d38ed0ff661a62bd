#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static akm_log_level current_level = AKM_LOG_WARNING;

void akm_log_set_level(akm_log_level level) { current_level = level; }
akm_log_level akm_log_get_level(void) { return current_level; }

void akm_log(akm_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent threads do not interleave. */
	fprintf(stderr, "akm-pkcs11: %s: %s\n", names[level], line);
}

const char *akm_rv_name(CK_RV rv, char buf[32])
{
	static const struct { CK_RV rv; const char *name; } table[] = {
#define RV(x) {x, #x}
		RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
		RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
		RV(CKR_CANT_LOCK), RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
		RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
		RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE), RV(CKR_DEVICE_ERROR),
		RV(CKR_DEVICE_MEMORY), RV(CKR_ENCRYPTED_DATA_INVALID),
		RV(CKR_ENCRYPTED_DATA_LEN_RANGE), RV(CKR_FUNCTION_NOT_SUPPORTED),
		RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE), RV(CKR_KEY_TYPE_INCONSISTENT),
		RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_KEY_NOT_WRAPPABLE),
		RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID), RV(CKR_MECHANISM_PARAM_INVALID),
		RV(CKR_OBJECT_HANDLE_INVALID), RV(CKR_OPERATION_ACTIVE),
		RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID),
		RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
		RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
		RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), RV(CKR_SESSION_READ_ONLY),
		RV(CKR_SESSION_EXISTS), RV(CKR_SESSION_READ_ONLY_EXISTS),
		RV(CKR_SESSION_READ_WRITE_SO_EXISTS), RV(CKR_SIGNATURE_INVALID),
		RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
		RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
		RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
		RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID), RV(CKR_USER_ALREADY_LOGGED_IN),
		RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
		RV(CKR_USER_TYPE_INVALID), RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
		RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPING_KEY_HANDLE_INVALID),
		RV(CKR_RANDOM_NO_RNG), RV(CKR_BUFFER_TOO_SMALL),
		RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
		RV(CKR_MUTEX_BAD), RV(CKR_MUTEX_NOT_LOCKED), RV(CKR_FUNCTION_NOT_PARALLEL),
#undef RV
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].rv == rv)
			return table[i].name;
	snprintf(buf, 32, "CKR_0x%lx", (unsigned long)rv);
	return buf;
}
