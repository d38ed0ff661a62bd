/* Fuzz target: the enrollment request parser ("AKMR"). */
#include "lib/fmt-request.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_request r;
	size_t signed_len = 0, len = 0;
	uint8_t out[512];

	if (akm_request_parse(data, size, &r, &signed_len) != AKM_FMT_OK)
		return 0;
	FUZZ_CHECK(akm_request_finish(&r, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	FUZZ_CHECK(akm_request_encode_signed(&r, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == signed_len && signed_len + 1 + AKM_FMT_SIG_LEN == size);
	FUZZ_CHECK(memcmp(out, data, len) == 0);
	FUZZ_CHECK(r.node_point[0] == 0x04);
	FUZZ_CHECK(akm_request_parse(data, size - 1, &r, &signed_len) != AKM_FMT_OK);
	return 0;
}
