/*
 * The parsers' fuzz harnesses (tests/fuzz/meson.build): each parses its
 * input and, when the parser accepts it, encodes the result again and
 * aborts unless the bytes are identical: a parser that accepts anything the
 * encoder would not write the same way, or a crash, is a bug.
 */
#ifndef AKM_FUZZ_H
#define AKM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) with a message. */
#define FUZZ_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

#endif
