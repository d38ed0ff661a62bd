/* The status page's HTTP request-head parser and escaping (http.h). */
#include "lib/http.h"

#include "lib/hex.h"

#include <stdio.h>
#include <string.h>

/* RFC 9110 tchar. */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* A credential: token68 characters (RFC 9110 §11.2), 1..AKM_HTTP_TOKEN_MAX. */
static bool credential(const char *p, size_t n)
{
	if (n == 0 || n > AKM_HTTP_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr("-._~+/=", c) != NULL) || c == 0)
			return false;
	}
	return true;
}

static bool name_is(const char *p, size_t n, const char *want)
{
	if (strlen(want) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != want[i])
			return false;
	}
	return true;
}

static akm_http_rc request_line(const char *p, size_t n, akm_http_request *r, bool *other_method)
{
	size_t m = 0;
	while (m < n && p[m] >= 'A' && p[m] <= 'Z' && m < 16)
		m++;
	if (m == 0 || m >= n || p[m] != ' ')
		return AKM_HTTP_BAD;
	r->head = m == 4 && memcmp(p, "HEAD", 4) == 0;
	*other_method = !r->head && !(m == 3 && memcmp(p, "GET", 3) == 0);
	const char *t = p + m + 1;
	const char *sp = memchr(t, ' ', n - m - 1);
	if (sp == NULL)
		return AKM_HTTP_BAD;
	size_t tl = (size_t)(sp - t);
	if (tl == 0 || t[0] != '/')
		return AKM_HTTP_BAD; /* origin-form only */
	for (size_t i = 0; i < tl; i++)
		if (!vchar((unsigned char)t[i]) || t[i] == '#')
			return AKM_HTTP_BAD;
	const char *v = sp + 1;
	size_t vl = n - (size_t)(v - p);
	if (vl == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
		r->http10 = false;
	else if (vl == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
		r->http10 = true;
	else if (vl == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
	         v[7] <= '9')
		return AKM_HTTP_VERSION;
	else
		return AKM_HTTP_BAD;
	const char *q = memchr(t, '?', tl);
	size_t pl = q ? (size_t)(q - t) : tl, ql = q ? tl - pl - 1 : 0;
	if (pl > AKM_HTTP_PATH_MAX || ql > AKM_HTTP_PATH_MAX)
		return AKM_HTTP_TOO_LARGE;
	memcpy(r->path, t, pl);
	r->path[pl] = '\0';
	if (q)
		memcpy(r->query, q + 1, ql);
	r->query[ql] = '\0';
	return AKM_HTTP_OK;
}

/* Cookie: "a=b; akm_status=tok" (RFC 6265 §4.2.1). */
static akm_http_rc cookie_field(const char *v, size_t n, akm_http_request *r)
{
	size_t i = 0;
	while (i < n) {
		size_t end = i;
		while (end < n && v[end] != ';')
			end++;
		const char *pair = v + i;
		size_t pl = end - i;
		const char *eq = memchr(pair, '=', pl);
		if (eq == NULL || eq == pair)
			return AKM_HTTP_BAD;
		size_t nl = (size_t)(eq - pair);
		for (size_t k = 0; k < nl; k++)
			if (!tchar((unsigned char)pair[k]))
				return AKM_HTTP_BAD;
		if (nl == strlen(AKM_HTTP_COOKIE_NAME) && memcmp(pair, AKM_HTTP_COOKIE_NAME, nl) == 0) {
			size_t vl = pl - nl - 1;
			if (r->has_cookie || !credential(eq + 1, vl))
				return AKM_HTTP_BAD;
			memcpy(r->cookie, eq + 1, vl);
			r->cookie[vl] = '\0';
			r->has_cookie = true;
		}
		i = end;
		if (i < n) { /* "; " between pairs */
			if (i + 2 > n || v[i + 1] != ' ')
				return AKM_HTTP_BAD;
			i += 2;
		}
	}
	return AKM_HTTP_OK;
}

akm_http_rc akm_http_parse(const char *buf, size_t len, akm_http_request *r)
{
	memset(r, 0, sizeof *r);
	size_t limit = len < AKM_HTTP_HEAD_MAX ? len : AKM_HTTP_HEAD_MAX;
	size_t pos = 0, line = 0;
	unsigned hosts = 0, auths = 0, cookies = 0, lengths = 0;
	bool other_method = false;
	for (;;) {
		/* The next line: up to CRLF, no bare CR or LF, no NUL. */
		size_t e = pos;
		while (e < limit && buf[e] != '\r' && buf[e] != '\n' && buf[e] != '\0')
			e++;
		if (e == limit)
			return len >= AKM_HTTP_HEAD_MAX ? AKM_HTTP_TOO_LARGE : AKM_HTTP_INCOMPLETE;
		if (buf[e] != '\r')
			return AKM_HTTP_BAD;
		if (e + 1 == limit)
			return len >= AKM_HTTP_HEAD_MAX ? AKM_HTTP_TOO_LARGE : AKM_HTTP_INCOMPLETE;
		if (buf[e + 1] != '\n')
			return AKM_HTTP_BAD;
		const char *p = buf + pos;
		size_t n = e - pos;
		pos = e + 2;
		if (line++ == 0) {
			akm_http_rc rc = request_line(p, n, r, &other_method);
			if (rc != AKM_HTTP_OK)
				return rc;
			continue;
		}
		if (n == 0)
			break; /* the end of the head */
		size_t nl = 0;
		while (nl < n && tchar((unsigned char)p[nl]))
			nl++;
		if (nl == 0 || nl == n || p[nl] != ':')
			return AKM_HTTP_BAD; /* obs-fold, space before the colon, a bad name */
		const char *v = p + nl + 1;
		size_t vl = n - nl - 1;
		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		for (size_t i = 0; i < vl; i++)
			if (!vchar((unsigned char)v[i]) && v[i] != ' ' && v[i] != '\t')
				return AKM_HTTP_BAD;
		if (name_is(p, nl, "host")) {
			if (++hosts > 1 || vl == 0)
				return AKM_HTTP_BAD;
		} else if (name_is(p, nl, "authorization")) {
			if (++auths > 1)
				return AKM_HTTP_BAD;
			if (vl > 7 && name_is(v, 6, "bearer") && v[6] == ' ') {
				if (!credential(v + 7, vl - 7))
					return vl - 7 > AKM_HTTP_TOKEN_MAX ? AKM_HTTP_TOO_LARGE : AKM_HTTP_BAD;
				memcpy(r->bearer, v + 7, vl - 7);
				r->bearer[vl - 7] = '\0';
				r->has_bearer = true;
			}
		} else if (name_is(p, nl, "cookie")) {
			if (++cookies > 1)
				return AKM_HTTP_BAD;
			akm_http_rc rc = cookie_field(v, vl, r);
			if (rc != AKM_HTTP_OK)
				return rc;
		} else if (name_is(p, nl, "content-length")) {
			if (++lengths > 1 || vl != 1 || v[0] != '0')
				return AKM_HTTP_BAD; /* no body on GET or HEAD */
		} else if (name_is(p, nl, "transfer-encoding")) {
			return AKM_HTTP_BAD;
		}
	}
	if (!r->http10 && hosts == 0)
		return AKM_HTTP_BAD;
	r->consumed = pos;
	return other_method ? AKM_HTTP_METHOD : AKM_HTTP_OK;
}

bool akm_http_query_param(const char *query, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = query;
	if (cap == 0)
		return false;
	out[0] = '\0';
	while (*p) {
		size_t pl = strcspn(p, "&");
		if (pl > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t o = 0;
			for (size_t i = nl + 1; i < pl; i++) {
				int c = (unsigned char)p[i];
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (i + 2 >= pl)
						return out[0] = '\0', false;
					int hi = akm_hex_digit(p[i + 1]), lo = akm_hex_digit(p[i + 2]);
					if (hi < 0 || lo < 0)
						return out[0] = '\0', false;
					c = hi << 4 | lo;
					i += 2;
				}
				if (c < 0x20 || c == 0x7f || o + 1 >= cap)
					return out[0] = '\0', false;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return true;
		}
		p += pl;
		if (*p == '&')
			p++;
	}
	return false;
}

bool akm_prom_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		const char *rep = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;
		if (o + n >= cap) {
			if (cap)
				out[0] = '\0';
			return false;
		}
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = *p;
		o += n;
	}
	if (cap == 0)
		return false;
	out[o] = '\0';
	return true;
}

bool akm_html_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		unsigned char c = (unsigned char)*p;
		const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
		                  : c == '\'' ? "&#39;" : c < 0x20 || c == 0x7f ? "&#xFFFD;" : NULL;
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= cap) {
			if (cap)
				out[0] = '\0';
			return false;
		}
		if (rep)
			memcpy(out + o, rep, n);
		else
			out[o] = (char)c;
		o += n;
	}
	if (cap == 0)
		return false;
	out[o] = '\0';
	return true;
}
