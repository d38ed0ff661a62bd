/* Fuzz target: the login state parser ("AKML", docs/formats.md §1.2). */
#include "lib/fmt-login.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_login_state s;
	size_t len = 0;
	uint8_t out[64];

	if (akm_login_state_parse(data, size, &s) != AKM_FMT_OK)
		return 0;
	if (size == 0) { /* the fresh state: all zero */
		FUZZ_CHECK(s.who[0].failures == 0 && s.who[1].failures == 0);
		return 0;
	}
	FUZZ_CHECK(akm_login_state_encode(&s, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	FUZZ_CHECK(akm_login_state_parse(data, size - 1, &s) != AKM_FMT_OK);
	return 0;
}
