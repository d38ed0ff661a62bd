/* Fuzz target: the status page's HTTP request-head parser (src/lib/http.h).
 * A head it accepts parses the same from its own bytes alone, every proper
 * prefix of it is incomplete, and what it kept fits and is well formed; the
 * escapers never overflow. */
#include "lib/http.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_http_request r, again;
	akm_http_rc rc = akm_http_parse((const char *)data, size, &r);
	if (rc == AKM_HTTP_OK || rc == AKM_HTTP_METHOD) {
		FUZZ_CHECK(r.consumed >= 16 && r.consumed <= size && r.consumed <= AKM_HTTP_HEAD_MAX);
		FUZZ_CHECK(r.path[0] == '/' && strlen(r.path) <= AKM_HTTP_PATH_MAX);
		FUZZ_CHECK(!r.has_bearer || (r.bearer[0] != '\0' && strlen(r.bearer) <= AKM_HTTP_TOKEN_MAX));
		FUZZ_CHECK(memcmp(data + r.consumed - 4, "\r\n\r\n", 4) == 0);
		FUZZ_CHECK(akm_http_parse((const char *)data, r.consumed, &again) == rc);
		FUZZ_CHECK(again.consumed == r.consumed && strcmp(again.path, r.path) == 0 &&
		           strcmp(again.query, r.query) == 0 && strcmp(again.bearer, r.bearer) == 0);
		FUZZ_CHECK(akm_http_parse((const char *)data, r.consumed - 1, &again) == AKM_HTTP_INCOMPLETE);
		char tok[AKM_HTTP_TOKEN_MAX + 1];
		if (akm_http_query_param(r.query, "token", tok, sizeof tok))
			FUZZ_CHECK(strlen(tok) < sizeof tok);
	}
	/* The escapers over the input as text. */
	char text[512], out[512 * 8 + 1];
	size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	FUZZ_CHECK(akm_prom_escape(text, out, sizeof out) && strchr(out, '\n') == NULL);
	FUZZ_CHECK(akm_html_escape(text, out, sizeof out) && strchr(out, '<') == NULL && strchr(out, '"') == NULL);
	FUZZ_CHECK(!akm_html_escape("<<<<", out, 8) && out[0] == '\0');
	return 0;
}
