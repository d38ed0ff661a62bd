/*
 * Concurrent provisioning (issue 9, item 13): four `akm-nmm provision` runs
 * at once, on one station, over overlapping name sets, create every node
 * exactly once.  The store refuses a second relationship key of a label
 * ("<name>/enc") inside the creating transaction; a run whose batch is
 * refused so retries its nodes one by one, counts those another run made
 * (same hw-id) as already present and names them, and fails, named, the one
 * node two runs give different hw-ids.
 *
 * Runs 0 and 2 print --json, runs 1 and 3 text.  Each run's own account
 * must add up (provisioned + present + failed = its nodes), the nodes made
 * across the runs must be the union of the sets exactly, and `akm-nmm list`
 * must show each name once.  The runs start together and walk their names
 * in the same order, so that their batches collide; how many nodes a run
 * found made meanwhile (the refused-batch path) is printed, not asserted:
 * it depends on timing (hundreds each time while this was written).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nmm-test.h"

#define RUNS 4
#define PER_RUN 1000 /* four batch transactions each (250 each) */
#define STEP 100    /* run i: names i*STEP .. i*STEP+PER_RUN-1, all in the same order */
#define UNION (STEP * (RUNS - 1) + PER_RUN)

static void node_name(char *out, size_t size, int k)
{
	snprintf(out, size, "cc-%04d", k);
}

/* The number after `key` in text ("provisioned 12" or "\"provisioned\":12"). */
static long number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	ck_assert_msg(p != NULL, "no \"%s\" in:\n%.2000s", key, text);
	p += strlen(key);
	while (*p == ' ' || *p == '"' || *p == ':')
		p++;
	return strtol(p, NULL, 10);
}

/* How many times `needle` occurs in text. */
static size_t occurrences(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

START_TEST(test_four_concurrent_runs)
{
	char *out = NULL;
	EXPECT_RC(nmm(&out, "init", "--site", "Concurrent", NULL), 0, out, "akm-nmm init");
	free(out);

	/* The batch files: run i's slice of the names, and "cc-clash" in runs
	 * 0 and 3 with different hw-ids. */
	char batch[RUNS][PATH_MAX + 32], result[RUNS][PATH_MAX + 32];
	for (int i = 0; i < RUNS; i++) {
		char name[32];
		snprintf(name, sizeof name, "batch-%d.txt", i);
		path_in(batch[i], sizeof batch[i], name);
		snprintf(name, sizeof name, "result-%d.txt", i);
		path_in(result[i], sizeof result[i], name);
		size_t cap = (PER_RUN + 2) * 64, used = 0;
		char *text = malloc(cap);
		ck_assert_ptr_nonnull(text);
		for (int k = i * STEP; k < i * STEP + PER_RUN; k++) {
			char n[32];
			node_name(n, sizeof n, k);
			used += (size_t)snprintf(text + used, cap - used, "%s hw-%s\n", n, n);
		}
		if (i == 0 || i == RUNS - 1)
			used += (size_t)snprintf(text + used, cap - used, "cc-clash hw-clash-%d\n", i);
		write_file(batch[i], text, used);
		free(text);
	}

	/* All four at once: each child waits on the pipe until the parent
	 * closes it, then runs akm-nmm and keeps its output and exit code. */
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid[RUNS];
	for (int i = 0; i < RUNS; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			close(go[1]);
			char c;
			while (read(go[0], &c, 1) > 0) {
			}
			/* SoftHSM2's file store rewrites token.object in place at
			 * every C_Login, and a process starting meanwhile sees no
			 * token (as test_durability.c notes): such a run, which
			 * made nothing, starts again. */
			char *o = NULL;
			int rc;
			for (int attempt = 0;; attempt++) {
				rc = i % 2 == 0 ? nmm(&o, "provision", "--batch", batch[i], "--json", NULL)
				                : nmm(&o, "provision", "--batch", batch[i], NULL);
				if (rc != 4 || o == NULL || strstr(o, "no token matches") == NULL || attempt == 5)
					break;
				free(o);
				o = NULL;
				usleep(20000 * (unsigned)(attempt + 1));
			}
			FILE *f = fopen(result[i], "w");
			if (f == NULL)
				_exit(100);
			fprintf(f, "%d\n%s", rc, o ? o : "");
			fclose(f);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < RUNS; i++) {
		int status;
		ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run %d: status %d", i, status);
	}

	long made = 0, meanwhile = 0;
	int clash_made = 0, clash_failed = 0;
	for (int i = 0; i < RUNS; i++) {
		FILE *f = fopen(result[i], "r");
		ck_assert_ptr_nonnull(f);
		size_t cap = 1 << 20;
		char *text = calloc(1, cap);
		ck_assert_ptr_nonnull(text);
		size_t got = fread(text, 1, cap - 1, f);
		fclose(f);
		ck_assert_uint_gt(got, 0);
		int rc = atoi(text);
		/* For the log: how each run ended. */
		fprintf(stderr, "--- run %d:\n%.1500s\n", i, text);
		int nodes = PER_RUN + (i == 0 || i == RUNS - 1);
		long provisioned, present, failed;
		if (i % 2 == 0) {
			const char *json = strstr(text, "{\"provisioned\"");
			ck_assert_msg(json != NULL, "run %d printed:\n%.2000s", i, text);
			provisioned = number_after(json, "\"provisioned\"");
			present = number_after(json, "\"present\"");
			/* present_nodes names each node counted as present. */
			const char *list = strstr(json, "\"present_nodes\"");
			ck_assert_msg(list != NULL, "run %d: no present_nodes in:\n%.2000s", i, json);
			ck_assert_uint_eq(occurrences(list, "\"meanwhile\""), (size_t)present);
			meanwhile += (long)occurrences(list, "\"meanwhile\":true");
			const char *fl = strstr(json, "\"failed\"");
			ck_assert_ptr_nonnull(fl);
			failed = (long)occurrences(fl, "\"error\"");
		} else {
			/* The summary line (node lines before it say "provisioned" too). */
			const char *sum = strstr(text, "\nprovisioned ");
			ck_assert_msg(sum != NULL, "run %d printed no summary:\n%.2000s", i, text);
			ck_assert_int_eq(sscanf(sum, "\nprovisioned %ld, already present %ld, failed %ld", &provisioned,
			                        &present, &failed), 3);
			/* Each node made meanwhile by another run is named. */
			meanwhile += (long)occurrences(text, ": already present (provisioned meanwhile by another run)");
		}
		ck_assert_msg(provisioned + present + failed == nodes, "run %d: %ld + %ld + %ld != %d\n%.3000s", i,
		              provisioned, present, failed, nodes, text);
		made += provisioned;
		/* Only the clash can fail, and it makes the run exit 2 (a
		 * partial result); a run whose nodes were merely present exits 0. */
		bool has_clash = i == 0 || i == RUNS - 1;
		ck_assert_msg(failed <= (has_clash ? 1 : 0), "run %d: %ld failed\n%.3000s", i, failed, text);
		ck_assert_msg(rc == (failed ? 2 : 0), "run %d exited %d with %ld failed\n%.3000s", i, rc, failed, text);
		if (has_clash && failed) {
			clash_failed++;
			ck_assert_msg(strstr(text, "cc-clash") != NULL, "run %d: the failure is not named\n%.3000s", i,
			              text);
		} else if (has_clash) {
			clash_made++;
		}
		free(text);
	}
	/* The clash: made by one run, refused to the other. */
	ck_assert_int_eq(clash_made, 1);
	ck_assert_int_eq(clash_failed, 1);
	/* Every node once: as many made as the union has names. */
	ck_assert_int_eq(made, UNION + 1);
	fprintf(stderr, "concurrent provisioning: %ld nodes found made meanwhile by another run\n", meanwhile);

	/* The station lists each name exactly once. */
	EXPECT_RC(nmm(&out, "list", "--json", NULL), 0, out, "list --json");
	for (int k = 0; k < UNION; k++) {
		char n[40];
		node_name(n, sizeof n, k);
		char quoted[48];
		snprintf(quoted, sizeof quoted, "\"%s\"", n);
		ck_assert_msg(occurrences(out, quoted) == 1, "%s listed %zu times", n, occurrences(out, quoted));
	}
	ck_assert_uint_eq(occurrences(out, "\"cc-clash\""), 1);
	free(out);
	/* And the audit chain is whole. */
	EXPECT_RC(nmm(&out, "audit", "--verify", NULL), 0, out, "audit --verify");
	free(out);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_four_concurrent_runs);
}

int main(void)
{
	return nmm_test_main("nmm-concurrent", "concurrent", 600, false, add_tests);
}
