/*
 * The status page's request parser and escaping (src/lib/http.h): what a
 * browser and a scraper send parses; malformed, oversized, pipelined and
 * slowly arriving heads get the answer the server gives them; the
 * escapers keep a label or an HTML text from breaking out.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http.h"

static akm_http_rc parse(const char *text, akm_http_request *r)
{
	return akm_http_parse(text, strlen(text), r);
}

START_TEST(browser_and_scraper)
{
	akm_http_request r;
	const char *b = "GET /?token=abc%2Dd HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Mozilla/5.0 (X11)\r\n"
	                "Accept: text/html,*/*;q=0.8\r\nCookie: theme=dark; akm_status=0123abcd\r\n\r\n";
	ck_assert_int_eq(parse(b, &r), AKM_HTTP_OK);
	ck_assert_str_eq(r.path, "/");
	ck_assert_str_eq(r.query, "token=abc%2Dd");
	ck_assert(!r.head && !r.http10 && !r.has_bearer);
	ck_assert(r.has_cookie);
	ck_assert_str_eq(r.cookie, "0123abcd");
	ck_assert_uint_eq(r.consumed, strlen(b));
	char tok[AKM_HTTP_TOKEN_MAX + 1];
	ck_assert(akm_http_query_param(r.query, "token", tok, sizeof tok));
	ck_assert_str_eq(tok, "abc-d");
	ck_assert(!akm_http_query_param(r.query, "tok", tok, sizeof tok));
	ck_assert(!akm_http_query_param("token=%0a", "token", tok, sizeof tok));   /* a control character */
	ck_assert(!akm_http_query_param("token=%4", "token", tok, sizeof tok));    /* cut short */
	ck_assert(!akm_http_query_param("token=%zz", "token", tok, sizeof tok));
	ck_assert(akm_http_query_param("a=1&token=x+y", "token", tok, sizeof tok));
	ck_assert_str_eq(tok, "x y");
	ck_assert(!akm_http_query_param("token=abcdef", "token", tok, 4)); /* does not fit */

	const char *s = "HEAD /metrics HTTP/1.1\r\nhost: h\r\nAUTHORIZATION: bearer  x-y.z_~+/=\r\n\r\n";
	ck_assert_int_eq(parse(s, &r), AKM_HTTP_BAD); /* two spaces after the scheme: not a token68 */
	s = "HEAD /metrics HTTP/1.1\r\nhost: h\r\nAUTHORIZATION: bearer x-y.z_~+/=\r\n\r\n";
	ck_assert_int_eq(parse(s, &r), AKM_HTTP_OK);
	ck_assert(r.head && r.has_bearer);
	ck_assert_str_eq(r.bearer, "x-y.z_~+/=");
	ck_assert_str_eq(r.path, "/metrics");
	ck_assert_str_eq(r.query, "");
	/* Another scheme: no bearer (the server answers 401). */
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcg==\r\n\r\n", &r), AKM_HTTP_OK);
	ck_assert(!r.has_bearer);
	/* HTTP/1.0 needs no Host. */
	ck_assert_int_eq(parse("GET / HTTP/1.0\r\n\r\n", &r), AKM_HTTP_OK);
	ck_assert(r.http10);
	/* Content-Length: 0 is no body. */
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r), AKM_HTTP_OK);
}
END_TEST

START_TEST(malformed)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\nHost: h\n\n",                        /* bare LF */
		"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",            /* bare CR */
		"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",       /* obs-fold */
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",                 /* space before the colon */
		"GET / HTTP/1.1\r\nHost: h\r\nX-\x01: y\r\n\r\n",     /* a control character in a name */
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n",      /* ... in a value */
		"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n", /* non-ASCII */
		"GET / HTTP/1.1\r\n\r\n",                             /* HTTP/1.1 without Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",       /* two Host */
		"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nCookie: akm_status=a; akm_status=b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1;b=2\r\n\r\n",   /* no space after ; */
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", /* a body */
		"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",          /* absolute form */
		"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",               /* a fragment */
		"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",                 /* two spaces */
		"get / HTTP/1.1\r\nHost: h\r\n\r\n",                  /* a method in lower case */
		"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
		"GET / HTTX/1.1\r\nHost: h\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",              /* an empty line first */
		"GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		akm_http_request r;
		size_t len = i == sizeof bad / sizeof bad[0] - 1 ? 32 : strlen(bad[i]);
		ck_assert_msg(akm_http_parse(bad[i], len, &r) == AKM_HTTP_BAD, "accepted (or not BAD): case %zu", i);
	}
	akm_http_request r;
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: h\r\n\r\n", &r), AKM_HTTP_METHOD);
	ck_assert_int_eq(parse("DELETE /metrics HTTP/1.1\r\nHost: h\r\n\r\n", &r), AKM_HTTP_METHOD);
	ck_assert_int_eq(parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n", &r), AKM_HTTP_VERSION);
	ck_assert_int_eq(parse("GET / HTTP/0.9\r\nHost: h\r\n\r\n", &r), AKM_HTTP_VERSION);
}
END_TEST

START_TEST(oversized)
{
	akm_http_request r;
	/* A head of exactly the limit parses; one byte more is too large,
	 * finished or not. */
	char *buf = malloc(2 * AKM_HTTP_HEAD_MAX);
	const char *start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
	size_t fill = AKM_HTTP_HEAD_MAX - strlen(start) - 4;
	memcpy(buf, start, strlen(start));
	memset(buf + strlen(start), 'a', fill);
	memcpy(buf + strlen(start) + fill, "\r\n\r\n", 4);
	ck_assert_int_eq(akm_http_parse(buf, AKM_HTTP_HEAD_MAX, &r), AKM_HTTP_OK);
	memmove(buf + strlen(start) + 1, buf + strlen(start), fill + 4);
	ck_assert_int_eq(akm_http_parse(buf, AKM_HTTP_HEAD_MAX + 1, &r), AKM_HTTP_TOO_LARGE);
	ck_assert_int_eq(akm_http_parse(buf, AKM_HTTP_HEAD_MAX, &r), AKM_HTTP_TOO_LARGE);
	/* An endless header line. */
	memset(buf, 'a', 2 * AKM_HTTP_HEAD_MAX);
	memcpy(buf, start, strlen(start));
	ck_assert_int_eq(akm_http_parse(buf, 2 * AKM_HTTP_HEAD_MAX, &r), AKM_HTTP_TOO_LARGE);
	/* A path or a query over its limit; a credential over its limit. */
	snprintf(buf, 2 * AKM_HTTP_HEAD_MAX, "GET /%0*d HTTP/1.1\r\nHost: h\r\n\r\n", AKM_HTTP_PATH_MAX, 0);
	ck_assert_int_eq(parse(buf, &r), AKM_HTTP_TOO_LARGE);
	snprintf(buf, 2 * AKM_HTTP_HEAD_MAX, "GET /?%0*d HTTP/1.1\r\nHost: h\r\n\r\n", AKM_HTTP_PATH_MAX + 1, 0);
	ck_assert_int_eq(parse(buf, &r), AKM_HTTP_TOO_LARGE);
	snprintf(buf, 2 * AKM_HTTP_HEAD_MAX, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %0*d\r\n\r\n",
	         AKM_HTTP_TOKEN_MAX + 1, 0);
	ck_assert_int_eq(parse(buf, &r), AKM_HTTP_TOO_LARGE);
	snprintf(buf, 2 * AKM_HTTP_HEAD_MAX, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %0*d\r\n\r\n",
	         AKM_HTTP_TOKEN_MAX, 0);
	ck_assert_int_eq(parse(buf, &r), AKM_HTTP_OK);
	free(buf);
}
END_TEST

START_TEST(pipelined_and_slow)
{
	akm_http_request r;
	const char *two = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	ck_assert_int_eq(parse(two, &r), AKM_HTTP_OK);
	ck_assert_str_eq(r.path, "/metrics");
	ck_assert_uint_eq(r.consumed, strlen("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"));
	/* Byte by byte (a slow client): incomplete at every proper prefix,
	 * whole at the end, never refused on the way. */
	const char *one = "GET /status.json HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer abc\r\n\r\n";
	for (size_t n = 0; n < strlen(one); n++)
		ck_assert_msg(akm_http_parse(one, n, &r) == AKM_HTTP_INCOMPLETE, "prefix %zu", n);
	ck_assert_int_eq(parse(one, &r), AKM_HTTP_OK);
	/* A wrong byte is refused as soon as it arrives, not at the end. */
	ck_assert_int_eq(akm_http_parse("GET / HTTP/1.1\n", 15, &r), AKM_HTTP_BAD);
	ck_assert_int_eq(akm_http_parse("GET / HTTP/1.1\r\nHost: h\r\n x", 28, &r), AKM_HTTP_BAD);
}
END_TEST

START_TEST(escaping)
{
	char out[64];
	ck_assert(akm_prom_escape("a\"b\\c\nd", out, sizeof out));
	ck_assert_str_eq(out, "a\\\"b\\\\c\\nd");
	ck_assert(akm_prom_escape("", out, sizeof out));
	ck_assert_str_eq(out, "");
	ck_assert(!akm_prom_escape("\"\"\"\"", out, 8)); /* 8 bytes with the NUL do not fit */
	ck_assert_str_eq(out, "");
	ck_assert(akm_prom_escape("\"\"\"", out, 7));
	ck_assert(akm_html_escape("<script>x</script>&'\"\x01", out, sizeof out));
	ck_assert_str_eq(out, "&lt;script&gt;x&lt;/script&gt;&amp;&#39;&quot;&#xFFFD;");
	ck_assert(!akm_html_escape("<<", out, 8));
	ck_assert_str_eq(out, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lib-http");
	TCase *tc = tcase_create("http");
	tcase_add_test(tc, browser_and_scraper);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, oversized);
	tcase_add_test(tc, pipelined_and_slow);
	tcase_add_test(tc, escaping);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
