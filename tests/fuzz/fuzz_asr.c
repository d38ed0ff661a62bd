/* Fuzz target: the operational ASR's parsers ("AKMA": package, rekey
 * message, message, member state; docs/asr.md §3).  The type byte picks
 * the parser, but every parser sees every input (only one may accept it);
 * what one accepts must encode back to the same bytes (a member state of
 * version 1 to version 2: the same with a zero dirty mark). */
#include "lib/fmt-asr.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[AKM_ASR_PLAIN_MAX + 256];
	size_t len = 0, signed_len = 0;
	int accepted = 0;

	akm_asr_package p;
	if (akm_asr_package_parse(data, size, &p, &signed_len) == AKM_FMT_OK) {
		accepted++;
		FUZZ_CHECK(size <= akm_asr_package_max());
		FUZZ_CHECK(akm_asr_package_encode(&p, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == signed_len && len + AKM_FMT_SIG_LEN == size && memcmp(out, data, len) == 0);
		FUZZ_CHECK(memcmp(p.sig, data + len, AKM_FMT_SIG_LEN) == 0);
		FUZZ_CHECK(p.edges[0].child == (1u << p.head.depth) + p.leaf && p.edges[p.head.depth - 1].child / 2 == 1);
	}
	akm_asr_rekey r;
	if (akm_asr_rekey_parse(data, size, &r, &signed_len) == AKM_FMT_OK) {
		accepted++;
		FUZZ_CHECK(size <= akm_asr_rekey_max());
		FUZZ_CHECK(akm_asr_rekey_encode(&r, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == signed_len && len + AKM_FMT_SIG_LEN == size && memcmp(out, data, len) == 0);
		FUZZ_CHECK(r.from_gen + 1 == r.head.gen);
	}
	akm_asr_message m;
	if (akm_asr_message_parse(data, size, &m) == AKM_FMT_OK) {
		accepted++;
		FUZZ_CHECK(m.header == data && m.header_len == akm_asr_message_header_len(m.asr_id_len));
		FUZZ_CHECK(m.ct == data + m.header_len && m.header_len + m.ct_len == size && m.seq >= 1);
		FUZZ_CHECK(akm_asr_message_header(&m, m.ct_len - AKM_ASR_TAG_LEN, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == m.header_len && memcmp(out, data, len) == 0);
	}
	akm_asr_state s;
	if (akm_asr_state_parse(data, size, &s) == AKM_FMT_OK) {
		accepted++;
		FUZZ_CHECK(akm_asr_state_encode(&s, out, sizeof out, &len) == AKM_FMT_OK);
		FUZZ_CHECK(len == akm_asr_state_len(&s) && out[4] == AKM_ASR_STATE_VERSION);
		if (data[4] == 1) {
			/* Version 1 (no dirty mark): read as clean, written as
			 * version 2 with a zero mark before the sender count. */
			size_t at = size - 4 - (size_t)s.nsenders * 20;
			FUZZ_CHECK(s.dirty == 0 && len == size + 8 && memcmp(out + 5, data + 5, at - 5) == 0);
			FUZZ_CHECK(memcmp(out + at, "\0\0\0\0\0\0\0\0", 8) == 0 && memcmp(out + at + 8, data + at, size - at) == 0);
		} else {
			FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
		}
		/* The window of each sender: what it accepts it then refuses. */
		for (uint32_t i = 0; i < s.nsenders; i++) {
			akm_asr_sender w = s.senders[i];
			uint64_t seq = w.high + 1;
			if (seq != 0 && akm_asr_window_check(&w, seq, true))
				FUZZ_CHECK(!akm_asr_window_check(&w, seq, false));
		}
		akm_asr_state_clear(&s);
	}
	FUZZ_CHECK(accepted <= 1);
	if (accepted && size > 0) {
		/* One byte less is never accepted. */
		FUZZ_CHECK(akm_asr_package_parse(data, size - 1, &p, NULL) != AKM_FMT_OK);
		FUZZ_CHECK(akm_asr_rekey_parse(data, size - 1, &r, NULL) != AKM_FMT_OK);
		FUZZ_CHECK(akm_asr_message_parse(data, size - 1, &m) != AKM_FMT_OK);
		FUZZ_CHECK(akm_asr_state_parse(data, size - 1, &s) != AKM_FMT_OK);
	}
	return 0;
}
