/*
 * A strict HTTP/1.1 request-head parser and the escaping the station's
 * status page needs (akm-nmmd --status-listen, docs/akm-nmmd.md "Status
 * page").  Pure: no I/O, no allocation; the server (tools/station/web.c)
 * reads bytes into a bounded buffer and asks this parser whether a whole,
 * valid head is there.
 *
 * Accepted (RFC 9112, narrowed): a request line "METHOD SP target SP
 * HTTP/1.1" or "HTTP/1.0", every line ended by CRLF, header fields
 * "name: value" (name a token, value visible ASCII, spaces and tabs), an
 * empty line.  Refused: a bare LF or CR, a line folded with leading
 * whitespace (obs-fold), a space before the colon, control or non-ASCII
 * bytes, an absolute-form or asterisk target, a body (Content-Length other
 * than 0, any Transfer-Encoding), two Host, Authorization, Cookie or
 * Content-Length fields, HTTP/1.1 without Host, a head longer than
 * AKM_HTTP_HEAD_MAX bytes.  Only GET and HEAD are served; another method
 * parses as AKM_HTTP_METHOD so that the server answers 405.
 */
#ifndef AKM_LIB_HTTP_H
#define AKM_LIB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define AKM_HTTP_HEAD_MAX 4096   /* the whole head, request line and fields */
#define AKM_HTTP_PATH_MAX 256    /* the path, and the query, each */
#define AKM_HTTP_TOKEN_MAX 128   /* a credential (bearer, cookie, ?token=) */
#define AKM_HTTP_COOKIE_NAME "akm_status"

typedef enum akm_http_rc {
	AKM_HTTP_OK = 0,      /* a whole head: *consumed bytes of it */
	AKM_HTTP_INCOMPLETE,  /* valid so far: read more */
	AKM_HTTP_BAD,         /* malformed: 400 */
	AKM_HTTP_TOO_LARGE,   /* longer than AKM_HTTP_HEAD_MAX, or a field over its limit: 431 */
	AKM_HTTP_METHOD,      /* a method other than GET or HEAD: 405 */
	AKM_HTTP_VERSION,     /* not HTTP/1.0 or HTTP/1.1: 505 */
} akm_http_rc;

typedef struct akm_http_request {
	bool head;                              /* HEAD (else GET) */
	bool http10;
	char path[AKM_HTTP_PATH_MAX + 1];       /* percent-encoding kept as sent */
	char query[AKM_HTTP_PATH_MAX + 1];      /* after '?', without it; "" when none */
	bool has_bearer;                        /* Authorization: Bearer <token> */
	char bearer[AKM_HTTP_TOKEN_MAX + 1];
	bool has_cookie;                        /* Cookie: ... akm_status=<token> ... */
	char cookie[AKM_HTTP_TOKEN_MAX + 1];
	size_t consumed;                        /* the head's length (what follows is the next request) */
} akm_http_request;

/* Parses the head at buf[0..len).  AKM_HTTP_INCOMPLETE while it may still
 * become valid (len < AKM_HTTP_HEAD_MAX and no rule broken so far). */
akm_http_rc akm_http_parse(const char *buf, size_t len, akm_http_request *r);

/* The value of parameter `name` in a query ("a=1&token=x"), percent- and
 * '+'-decoded into out (cap bytes with the NUL): true when present, valid
 * and fitting; a value with a NUL or a control character once decoded is
 * refused (false). */
bool akm_http_query_param(const char *query, const char *name, char *out, size_t cap);

/* A label value of the Prometheus text format 0.0.4: backslash, double
 * quote and line feed escaped as \\, \" and \n.  Returns false (out
 * holding "") when it does not fit in cap. */
bool akm_prom_escape(const char *in, char *out, size_t cap);
/* Text for HTML (element content and quoted attribute values): & < > " '
 * as entities, control characters as U+FFFD's entity.  false (out "")
 * when it does not fit. */
bool akm_html_escape(const char *in, char *out, size_t cap);

#endif
