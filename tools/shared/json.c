/* The tools' JSON writer (json.h). */
#include "shared/json.h"

#include <string.h>

#include "lib/hex.h"
#include "shared/report.h"

void akm_json_init(akm_json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->first[0] = true;
}

/* Before any value: the comma between values of an array or members of an
 * object (a value after a key needs none). */
static void before_value(akm_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void open_level(akm_json *j, char c)
{
	before_value(j);
	fputc(c, j->f);
	if (j->depth < AKM_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_level(akm_json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void akm_json_object_begin(akm_json *j) { open_level(j, '{'); }
void akm_json_object_end(akm_json *j) { close_level(j, '}'); }
void akm_json_array_begin(akm_json *j) { open_level(j, '['); }
void akm_json_array_end(akm_json *j) { close_level(j, ']'); }

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 when
 * it is not one (overlong forms, surrogates and code points past U+10FFFF
 * are not). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, cp = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, cp = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void write_escaped(FILE *f, const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			i++;
		} else {
			size_t len = utf8_len(s + i, n - i);
			if (len == 0) {
				fputs("\\ufffd", f);
				i++;
			} else if (len == 2 && c == 0xC2 && s[i + 1] < 0xA0) {
				/* C1 controls (U+0080-U+009F, CSI among them): escaped, so
				 * --json on a terminal cannot drive it either. */
				fprintf(f, "\\u%04x", (unsigned)s[i + 1]);
				i += 2;
			} else {
				fwrite(s + i, 1, len, f);
				i += len;
			}
		}
	}
	fputc('"', f);
}

void akm_json_key(akm_json *j, const char *key)
{
	before_value(j);
	write_escaped(j->f, key, strlen(key));
	fputc(':', j->f);
	j->after_key = true;
}

void akm_json_string_n(akm_json *j, const char *s, size_t n)
{
	before_value(j);
	write_escaped(j->f, s, n);
}

void akm_json_string(akm_json *j, const char *s)
{
	if (s == NULL)
		akm_json_null(j);
	else
		akm_json_string_n(j, s, strlen(s));
}

void akm_json_hex(akm_json *j, const uint8_t *bytes, size_t n)
{
	before_value(j);
	fputc('"', j->f);
	char hex[2 * 64 + 1];
	for (size_t done = 0; done < n; done += 64) {
		size_t part = n - done < 64 ? n - done : 64;
		akm_hex_encode(bytes + done, part, hex);
		fputs(hex, j->f);
	}
	fputc('"', j->f);
}

void akm_json_uint(akm_json *j, uint64_t v)
{
	before_value(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void akm_json_int(akm_json *j, int64_t v)
{
	before_value(j);
	fprintf(j->f, "%lld", (long long)v);
}

void akm_json_bool(akm_json *j, bool v)
{
	before_value(j);
	fputs(v ? "true" : "false", j->f);
}

void akm_json_null(akm_json *j)
{
	before_value(j);
	fputs("null", j->f);
}

int akm_json_finish(akm_json *j)
{
	fputc('\n', j->f);
	if (j->f == stdout)
		return akm_stdout_check();
	return fflush(j->f) == 0 && !ferror(j->f) ? AKM_RC_OK : AKM_RC_FILES;
}

void akm_json_kv_string(akm_json *j, const char *key, const char *s)
{
	akm_json_key(j, key);
	akm_json_string(j, s);
}

void akm_json_kv_hex(akm_json *j, const char *key, const uint8_t *bytes, size_t n)
{
	akm_json_key(j, key);
	akm_json_hex(j, bytes, n);
}

void akm_json_kv_uint(akm_json *j, const char *key, uint64_t v)
{
	akm_json_key(j, key);
	akm_json_uint(j, v);
}

void akm_json_kv_bool(akm_json *j, const char *key, bool v)
{
	akm_json_key(j, key);
	akm_json_bool(j, v);
}
