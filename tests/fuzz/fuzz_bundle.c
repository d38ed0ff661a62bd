/* Fuzz target: the USB bundle parser ("AKMB") and its inner plaintext. */
#include "lib/fmt-bundle.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_bundle b;
	size_t signed_len = 0, len = 0;
	uint8_t out[AKM_FMT_BUNDLE_MAX];

	if (akm_bundle_parse(data, size, &b, &signed_len) == AKM_FMT_OK) {
		FUZZ_CHECK(size <= AKM_FMT_BUNDLE_MAX);
		FUZZ_CHECK(akm_bundle_finish(&b, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
		FUZZ_CHECK(akm_bundle_encode_signed(&b, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == signed_len && memcmp(out, data, len) == 0);
		FUZZ_CHECK(signed_len + 1 + AKM_FMT_SIG_LEN == size);
		size_t ad = akm_bundle_ad_len(&b);
		FUZZ_CHECK(ad > 0 && ad + 2 < signed_len);
		FUZZ_CHECK((size_t)(data[ad] << 8 | data[ad + 1]) == signed_len - ad - 2);
		FUZZ_CHECK(strlen(b.name) >= 1 && strlen(b.name) <= AKM_FMT_NAME_MAX);
		/* one byte less is always refused */
		FUZZ_CHECK(akm_bundle_parse(data, size - 1, &b, &signed_len) != AKM_FMT_OK);
	}

	/* The same bytes as the decrypted payload of protection 2. */
	akm_bundle inner;
	memset(&inner, 0, sizeof inner);
	if (akm_bundle_inner_parse(data, size, &inner) == AKM_FMT_OK) {
		FUZZ_CHECK(akm_bundle_inner_encode(&inner, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	}
	return 0;
}
