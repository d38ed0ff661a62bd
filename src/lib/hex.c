#include "lib/hex.h"

#include <string.h>

void akm_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

int akm_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int akm_hex_decode_n(const char *in, size_t digits, uint8_t *out, size_t cap, size_t *len)
{
	if (digits % 2 != 0 || digits / 2 > cap)
		return -1;
	for (size_t i = 0; i < digits / 2; i++) {
		int hi = akm_hex_digit(in[2 * i]), lo = akm_hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = digits / 2;
	return 0;
}

int akm_hex_decode(const char *in, uint8_t *out, size_t cap, size_t *len)
{
	return akm_hex_decode_n(in, strlen(in), out, cap, len);
}
