/*
 * What the station's and the node's file formats share (docs/formats.md
 * §5–8): their limits, their result codes and the sentence for each.  One
 * header per format: fmt-bundle.h (USB bundle), fmt-request.h (enrollment
 * request), fmt-anchor.h (station anchor), fmt-node-state.h (node state);
 * fmt-verify.h is the verification proof's message.  Pure encoding and
 * strict parsing on top of buf.h: no PKCS#11, no I/O, no key material (the
 * payload of a bundle is already wrapped or sealed).  Every parser accepts
 * exactly what the matching encoder writes, reads its fields in file order
 * and reports the first problem it meets, so any prefix of a valid file is
 * AKM_FMT_TRUNCATED and a valid file with one more byte AKM_FMT_TRAILING.
 * Parsers are fuzzed (tests/fuzz/).
 */
#ifndef AKM_LIB_FMT_H
#define AKM_LIB_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AKM_FMT_ID_MAX 32       /* station, node and relationship IDs */
#define AKM_FMT_HW_MAX 64       /* hardware value */
#define AKM_FMT_NAME_MAX 64     /* node name (printable ASCII, no spaces) */
#define AKM_FMT_POINT_LEN 65    /* uncompressed P-256 point 04||X||Y */
#define AKM_FMT_SIG_LEN 64      /* ECDSA P-256 r||s */
#define AKM_FMT_WRAPPED_MAX 48  /* AES-KWP of a 32-byte key is 40 bytes */
#define AKM_FMT_SALT_LEN 16
#define AKM_FMT_NONCE_LEN 24    /* XChaCha20-Poly1305 */
#define AKM_FMT_TAG_LEN 16
#define AKM_FMT_HASH_LEN 32     /* SHA-256 */
#define AKM_FMT_BUNDLE_MAX 1024 /* no valid bundle is larger */

/* Result codes of the parsers and encoders. */
typedef enum {
	AKM_FMT_OK = 0,
	AKM_FMT_TRUNCATED,      /* shorter than its fields say */
	AKM_FMT_TRAILING,       /* bytes after the last field */
	AKM_FMT_BAD_MAGIC,      /* not this kind of file */
	AKM_FMT_BAD_VERSION,    /* a version this program does not read */
	AKM_FMT_BAD_FIELD,      /* a field with a length or value out of range */
	AKM_FMT_TOO_BIG         /* over AKM_FMT_BUNDLE_MAX / output buffer too small */
} akm_fmt_rc;

/* A node name as every format carries it: 1-64 characters of
 * [A-Za-z0-9._-] (a NUL-terminated string of any length). */
bool akm_fmt_name_ok(const char *name);

/* The problem in a sentence ("the file is truncated (...)"). */
const char *akm_fmt_strerror(akm_fmt_rc rc);

#endif
