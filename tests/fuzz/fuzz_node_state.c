/* Fuzz target: the node state parser ("AKMN"). */
#include "lib/fmt-node-state.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	akm_node_state s;
	size_t len = 0;
	uint8_t out[512];

	if (akm_node_state_parse(data, size, &s) != AKM_FMT_OK)
		return 0;
	FUZZ_CHECK(akm_node_state_encode(&s, out, sizeof out, &len) == AKM_FMT_OK);
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	FUZZ_CHECK(s.seq >= 1);
	FUZZ_CHECK(akm_node_state_parse(data, size - 1, &s) != AKM_FMT_OK);
	return 0;
}
