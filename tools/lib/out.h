/*
 * Output for the tools: a small streaming JSON writer (stdout of --json),
 * a progress bar (on stderr, only when stderr is a terminal), a QR code of
 * a text on the terminal (UTF-8 half blocks) and as a PNG file (libqrencode,
 * libpng), and an atomic file writer (temp file in the target folder, fsync,
 * rename, fsync of the folder) for bundles, anchors and images.
 */
#ifndef AKM_OUT_H
#define AKM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- JSON ----
 * Values are written as they come; the writer adds the commas, the colons
 * and the escaping.  Strings are escaped as RFC 8259 asks (quote, backslash,
 * control characters); bytes that are not valid UTF-8 become U+FFFD, so any
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
/* Ends the document with a newline and flushes; -1 when writing failed. */
int akm_json_finish(akm_json *j);

/* Shorthands for "key": value members. */
void akm_json_kv_string(akm_json *j, const char *key, const char *s);
void akm_json_kv_hex(akm_json *j, const char *key, const uint8_t *bytes, size_t n);
void akm_json_kv_uint(akm_json *j, const char *key, uint64_t v);
void akm_json_kv_bool(akm_json *j, const char *key, bool v);

/* ---- progress bar ----
 * "label [#####.....] 4200/10000  42%  2100/s" redrawn in place on stderr at
 * most ten times a second, only when stderr is a terminal; otherwise every
 * call does nothing. */
typedef struct akm_progress {
	bool tty;
	const char *label;
	uint64_t total, done;
	double start, last_draw;
} akm_progress;

void akm_progress_start(akm_progress *p, const char *label, uint64_t total);
void akm_progress_update(akm_progress *p, uint64_t done);
/* Draws the final state and ends the line. */
void akm_progress_end(akm_progress *p);

/* ---- QR codes ---- (byte mode, error correction level M) */
/* Prints the QR code of `text` with UTF-8 half blocks (two modules per
 * character cell, dark on light, with a quiet zone).  0, or -1 when the
 * text does not fit a QR code. */
int akm_qr_print(FILE *f, const char *text);
/* Writes the QR code of `text` as a PNG file (8-bit grey, `scale` pixels
 * per module, 4-module quiet zone), atomically, with mode 0600 (a QR code
 * may carry a passphrase).  0, or -1 with a sentence in err; errno is
 * that of a failed file operation (see akm_write_atomic). */
int akm_qr_png(const char *path, const char *text, unsigned scale, char *err, size_t errlen);

/* ---- atomic files ---- */
/* Writes `len` bytes to dir/name (dir NULL: name as given) so that the file
 * is either absent/unchanged or complete: mkstemp in the same folder, write,
 * fchmod(mode), fsync, rename, fsync of the folder.  On failure the
 * temporary file is removed, errno tells the cause (ENOSPC, EROFS, EACCES,
 * ...) and err has a sentence naming the file.  Returns 0 or -1. */
int akm_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                     unsigned mode, char *err, size_t errlen);
/* Whether a file could be created in `dir` now (a temporary file is created
 * and removed).  0, or -1 with errno and a sentence in err. */
int akm_dir_writable(const char *dir, char *err, size_t errlen);

#endif
