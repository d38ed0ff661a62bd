/* Stored text made safe for a terminal (akm_escape, report.h).  In the
 * PKCS#11 loader's library: token labels are escaped there too. */
#include "shared/report.h"

#include <stdio.h>
#include <string.h>

/* The length of the UTF-8 sequence at p (at most n bytes) when it is one
 * of a printable character (not a C1 control), else 0. */
static size_t utf8_printable(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
	if (len == 0 || len > n || p[0] > 0xF4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (p[0] == 0xC2 && p[1] < 0xA0)
		return 0; /* C1 controls, U+0080..U+009F (CSI among them) */
	if (p[0] == 0xE0 && p[1] < 0xA0)
		return 0; /* overlong */
	if (p[0] == 0xF0 && p[1] < 0x90)
		return 0;
	if (p[0] == 0xF4 && p[1] >= 0x90)
		return 0;
	if (p[0] == 0xED && p[1] >= 0xA0)
		return 0; /* surrogates */
	return len;
}

const char *akm_escape(char *out, size_t cap, const void *s, size_t len)
{
	const unsigned char *p = s;
	if (len == (size_t)-1)
		len = strlen(s);
	size_t o = 0;
	if (cap == 0)
		return out;
	for (size_t i = 0; i < len;) {
		char piece[8];
		size_t n;
		size_t u = p[i] >= 0x80 ? utf8_printable(p + i, len - i) : 0;
		if (u > 0) {
			memcpy(piece, p + i, u);
			n = u;
			i += u;
		} else if (p[i] < 0x20 || p[i] == 0x7F || p[i] >= 0x80) {
			n = (size_t)snprintf(piece, sizeof piece, "\\x%02X", p[i]);
			i++;
		} else if (p[i] == '\\') {
			memcpy(piece, "\\\\", 2);
			n = 2;
			i++;
		} else {
			piece[0] = (char)p[i];
			n = 1;
			i++;
		}
		if (o + n >= cap)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}
