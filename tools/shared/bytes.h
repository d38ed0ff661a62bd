/* Comparing byte strings of known lengths (IDs, hardware values). */
#ifndef AKM_TOOLS_BYTES_H
#define AKM_TOOLS_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool akm_bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

#endif
