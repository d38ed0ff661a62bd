/* Fuzz target: the station trust anchor parser ("AKMP"). */
#include "lib/fmt-anchor.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_anchor a;
	size_t len = 0;
	uint8_t out[256];

	if (akm_anchor_parse(data, size, &a) != AKM_FMT_OK)
		return 0;
	FUZZ_CHECK(akm_anchor_encode(&a, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	FUZZ_CHECK(akm_anchor_parse(data, size - 1, &a) != AKM_FMT_OK);
	return 0;
}
