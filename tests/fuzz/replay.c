/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput over every file of the given
 * corpus directories (or single files), without libFuzzer: the seed corpus
 * is checked by every build (tests/fuzz/meson.build).  A finding aborts the
 * run; a directory without files is an error (a wrong path would otherwise
 * pass).  Each input is copied into a buffer of exactly its size, so that
 * a sanitizer build sees any read past its end.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *bigger = realloc(buf, cap *= 2);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	int failed = ferror(f);
	fclose(f);
	if (!buf || failed) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		return -1;
	}
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	size_t runs = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			runs++;
			continue;
		}
		struct dirent **names;
		int count = scandir(argv[i], &names, NULL, alphasort);
		if (count < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		size_t here = 0;
		for (int j = 0; j < count; j++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
			if (names[j]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) != 0)
					return 1;
				here++;
			}
			free(names[j]);
		}
		free(names);
		if (here == 0) {
			fprintf(stderr, "replay: %s: no inputs in this directory\n", argv[i]);
			return 1;
		}
		runs += here;
	}
	printf("replayed %zu inputs\n", runs);
	return 0;
}
