/* The progress bar (progress.h). */
#define _POSIX_C_SOURCE 200809L
#include "shared/progress.h"
#include "shared/report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_draw(akm_progress *p)
{
	enum { WIDTH = 30 };
	uint64_t total = p->total ? p->total : 1;
	uint64_t done = p->done > total ? total : p->done;
	size_t filled = (size_t)(done * WIDTH / total);
	char bar[WIDTH + 1];
	for (size_t i = 0; i < WIDTH; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[WIDTH] = '\0';
	double elapsed = now_seconds() - p->start;
	double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
	fprintf(stderr, "\r%s [%s] %llu/%llu %3u%% %.0f/s\033[K", p->label, bar, (unsigned long long)p->done,
	        (unsigned long long)p->total, (unsigned)(done * 100 / total), rate);
	fflush(stderr);
}

void akm_progress_start(akm_progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->tty = isatty(STDERR_FILENO) == 1 && akm_report_level() >= AKM_VERBOSITY_NORMAL;
	p->label = label;
	p->total = total;
	p->start = p->last_draw = now_seconds();
	if (p->tty)
		progress_draw(p);
}

void akm_progress_update(akm_progress *p, uint64_t done)
{
	p->done = done;
	if (!p->tty)
		return;
	double t = now_seconds();
	if (t - p->last_draw < 0.1)
		return;
	p->last_draw = t;
	progress_draw(p);
}

void akm_progress_end(akm_progress *p)
{
	if (!p->tty)
		return;
	progress_draw(p);
	fputc('\n', stderr);
	fflush(stderr);
}
