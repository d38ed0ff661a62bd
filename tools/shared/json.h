/* The tools' --json output: a small streaming JSON writer. */
#ifndef AKM_TOOLS_JSON_H
#define AKM_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Values are written as they come; the writer adds the commas, the colons
 * and the escaping.  Strings are escaped as RFC 8259 asks (quote, backslash,
 * control characters; C1 controls too, as \u0080-\u009f); bytes that are not
 * valid UTF-8 become U+FFFD, so any
 * byte string from a token gives valid JSON.  Nesting up to AKM_JSON_DEPTH. */
#define AKM_JSON_DEPTH 16

typedef struct akm_json {
	FILE *f;
	int depth;
	bool first[AKM_JSON_DEPTH + 1]; /* no value yet at this level */
	bool after_key;                 /* a key was written, its value comes next */
} akm_json;

void akm_json_init(akm_json *j, FILE *f);
void akm_json_object_begin(akm_json *j);
void akm_json_object_end(akm_json *j);
void akm_json_array_begin(akm_json *j);
void akm_json_array_end(akm_json *j);
/* The key of the next member of the current object. */
void akm_json_key(akm_json *j, const char *key);
void akm_json_string(akm_json *j, const char *s);   /* NULL writes null */
void akm_json_string_n(akm_json *j, const char *s, size_t n);
void akm_json_hex(akm_json *j, const uint8_t *bytes, size_t n); /* lower-case hex string */
void akm_json_uint(akm_json *j, uint64_t v);
void akm_json_int(akm_json *j, int64_t v);
void akm_json_bool(akm_json *j, bool v);
void akm_json_null(akm_json *j);
/* Ends the document with a newline and flushes: AKM_RC_OK, or AKM_RC_FILES
 * when writing failed (for stdout reported once as akm_stdout_check does,
 * report.h). */
int akm_json_finish(akm_json *j) __attribute__((warn_unused_result));

/* Shorthands for "key": value members. */
void akm_json_kv_string(akm_json *j, const char *key, const char *s);
void akm_json_kv_hex(akm_json *j, const char *key, const uint8_t *bytes, size_t n);
void akm_json_kv_uint(akm_json *j, const char *key, uint64_t v);
void akm_json_kv_bool(akm_json *j, const char *key, bool v);

#endif
