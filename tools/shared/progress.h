/* A progress bar for long tool runs. */
#ifndef AKM_TOOLS_PROGRESS_H
#define AKM_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * "label [#####.....] 4200/10000  42%  2100/s" redrawn in place on stderr at
 * most ten times a second, only when stderr is a terminal; otherwise every
 * call does nothing. */
typedef struct akm_progress {
	bool tty;
	const char *label;
	uint64_t total, done;
	double start, last_draw;
} akm_progress;

void akm_progress_start(akm_progress *p, const char *label, uint64_t total);
void akm_progress_update(akm_progress *p, uint64_t done);
/* Draws the final state and ends the line. */
void akm_progress_end(akm_progress *p);

#endif
