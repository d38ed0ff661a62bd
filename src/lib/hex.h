/* Lower-case hexadecimal, for labels, logs and the tools' output. */
#ifndef AKM_LIB_HEX_H
#define AKM_LIB_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len digits and a NUL into out (2*len+1 bytes). */
void akm_hex_encode(const uint8_t *in, size_t len, char *out);

/* The value of one hex digit (either case), or -1. */
int akm_hex_digit(char c);

/* Decodes exactly `digits` characters of in (either case) into out:
 * 0, or -1 when a character is not a hex digit, `digits` is odd, or the
 * result would not fit in cap bytes.  *len gets digits/2. */
int akm_hex_decode_n(const char *in, size_t digits, uint8_t *out, size_t cap, size_t *len);

/* The same for a NUL-terminated string. */
int akm_hex_decode(const char *in, uint8_t *out, size_t cap, size_t *len);

#endif
