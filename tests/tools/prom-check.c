/* The strict Prometheus text-format reader of the tests (prom-check.h). */
#include "prom-check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 256
#define MAX_SERIES 4096

typedef struct family {
	char name[128];
	bool help, type, samples, closed;
	char kind[16];
} family;

typedef struct reader {
	family fam[MAX_NAMES];
	size_t nfam;
	char *series[MAX_SERIES];
	size_t nseries;
	long current;            /* the family whose samples came last, -1 none */
	unsigned line;
	char *why;
	size_t whylen;
} reader;

static int fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader *r, const char *fmt, ...)
{
	int n = snprintf(r->why, r->whylen, "line %u: ", r->line);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < r->whylen)
		vsnprintf(r->why + n, r->whylen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool name_start(char c, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool name_char(char c, bool metric)
{
	return name_start(c, metric) || (c >= '0' && c <= '9');
}

/* A name at p: its length (0 when none). */
static size_t name_len(const char *p, bool metric)
{
	if (!name_start(*p, metric))
		return 0;
	size_t n = 1;
	while (name_char(p[n], metric))
		n++;
	return n;
}

static family *fam_of(reader *r, const char *name, size_t n, bool add)
{
	for (size_t i = 0; i < r->nfam; i++)
		if (strlen(r->fam[i].name) == n && memcmp(r->fam[i].name, name, n) == 0)
			return &r->fam[i];
	if (!add || r->nfam == MAX_NAMES || n >= sizeof r->fam[0].name)
		return NULL;
	family *f = &r->fam[r->nfam++];
	memset(f, 0, sizeof *f);
	memcpy(f->name, name, n);
	return f;
}

/* Go's strconv.ParseFloat as Prometheus takes it. */
static bool go_float(const char *p, size_t n)
{
	char buf[64];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (!strcmp(buf, "NaN") || !strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "Inf"))
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return false;
	char *end;
	strtod(buf, &end);
	return *end == '\0';
}

static int comment(reader *r, const char *p, size_t n)
{
	if (n >= 7 && (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0)) {
		bool help = p[2] == 'H';
		const char *nm = p + 7;
		size_t nl = name_len(nm, true);
		if (nl == 0 || (nm + nl < p + n && nm[nl] != ' ') || (!help && nm + nl == p + n))
			return fail(r, "# %s: not a metric name then a space", help ? "HELP" : "TYPE");
		family *f = fam_of(r, nm, nl, true);
		if (f == NULL)
			return fail(r, "too many metric names");
		if (f->samples)
			return fail(r, "# %s of %s after its samples", help ? "HELP" : "TYPE", f->name);
		if (help) {
			if (f->help)
				return fail(r, "second # HELP for %s", f->name);
			f->help = true;
			for (const char *q = nm + nl; q < p + n; q++)
				if (*q == '\\' && (q + 1 == p + n || (q[1] != '\\' && q[1] != 'n')))
					return fail(r, "# HELP %s: a backslash escapes only \\ and n", f->name);
				else if (*q == '\\')
					q++;
		} else {
			if (f->type)
				return fail(r, "second # TYPE for %s", f->name);
			f->type = true;
			const char *t = nm + nl + 1;
			size_t tl = (size_t)(p + n - t);
			static const char *const kinds[] = {"counter", "gauge", "histogram", "summary", "untyped"};
			bool ok = false;
			for (size_t i = 0; i < 5; i++)
				if (tl == strlen(kinds[i]) && memcmp(t, kinds[i], tl) == 0) {
					ok = true;
					snprintf(f->kind, sizeof f->kind, "%s", kinds[i]);
				}
			if (!ok)
				return fail(r, "# TYPE %s: unknown type \"%.*s\"", f->name, (int)tl, t);
		}
		return 0;
	}
	if (n >= 2 && p[1] == ' ')
		return 0; /* a comment */
	return fail(r, "a line starting with # that is not \"# ...\"");
}

static int sample(reader *r, const char *p, size_t n)
{
	const char *end = p + n;
	size_t nl = name_len(p, true);
	if (nl == 0)
		return fail(r, "a sample without a metric name");
	const char *q = p + nl;
	char labels[16][64];
	size_t nlabels = 0;
	if (q < end && *q == '{') {
		q++;
		while (q < end && *q != '}') {
			size_t ll = name_len(q, false);
			if (ll == 0 || ll >= 64)
				return fail(r, "a bad label name");
			if (ll >= 2 && q[0] == '_' && q[1] == '_')
				return fail(r, "label %.*s: names starting __ are reserved", (int)ll, q);
			for (size_t i = 0; i < nlabels; i++)
				if (strlen(labels[i]) == ll && memcmp(labels[i], q, ll) == 0)
					return fail(r, "label %.*s twice", (int)ll, q);
			if (nlabels == 16)
				return fail(r, "too many labels");
			memcpy(labels[nlabels], q, ll);
			labels[nlabels++][ll] = '\0';
			q += ll;
			if (q + 1 >= end || q[0] != '=' || q[1] != '"')
				return fail(r, "label %s: not =\"", labels[nlabels - 1]);
			q += 2;
			while (q < end && *q != '"') {
				if (*q == '\\') {
					if (q + 1 >= end || (q[1] != '\\' && q[1] != '"' && q[1] != 'n'))
						return fail(r, "label %s: a backslash escapes only \\, \" and n", labels[nlabels - 1]);
					q++;
				}
				q++;
			}
			if (q >= end)
				return fail(r, "an unterminated label value");
			q++;
			if (q < end && *q == ',')
				q++;
			else if (q < end && *q != '}')
				return fail(r, "labels not separated by ,");
		}
		if (q >= end)
			return fail(r, "labels without }");
		q++;
	}
	if (q >= end || *q != ' ')
		return fail(r, "no space before the value");
	q++;
	const char *v = q;
	while (q < end && *q != ' ')
		q++;
	if (!go_float(v, (size_t)(q - v)))
		return fail(r, "not a value: \"%.*s\"", (int)(q - v), v);
	if (q < end) {
		q++;
		if (q == end || (*q == '-' ? q + 1 == end : false))
			return fail(r, "an empty timestamp");
		for (const char *t = *q == '-' ? q + 1 : q; t < end; t++)
			if (*t < '0' || *t > '9')
				return fail(r, "not a timestamp");
	}
	/* The family: the sample's name (a histogram's or summary's samples
	 * carry suffixes; none is served here, so the name must be a TYPE'd
	 * one). */
	family *f = fam_of(r, p, nl, false);
	if (f == NULL || !f->type)
		return fail(r, "sample %.*s without a # TYPE", (int)nl, p);
	if (f->closed)
		return fail(r, "samples of %s not together", f->name);
	long idx = (long)(f - r->fam);
	if (r->current >= 0 && r->current != idx)
		r->fam[r->current].closed = true;
	r->current = idx;
	f->samples = true;
	/* no series twice */
	size_t sl = (size_t)(v - 1 - p);
	for (size_t i = 0; i < r->nseries; i++)
		if (strlen(r->series[i]) == sl && memcmp(r->series[i], p, sl) == 0)
			return fail(r, "series %.*s twice", (int)sl, p);
	if (r->nseries < MAX_SERIES) {
		r->series[r->nseries] = strndup(p, sl);
		r->nseries++;
	}
	return 0;
}

int prom_check(const char *text, char *why, size_t whylen)
{
	reader *r = calloc(1, sizeof *r);
	if (r == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	r->current = -1;
	r->why = why;
	r->whylen = whylen;
	why[0] = '\0';
	int rc = 0;
	const char *p = text;
	while (rc == 0 && *p) {
		r->line++;
		const char *nl = strchr(p, '\n');
		if (nl == NULL) {
			rc = fail(r, "the last line does not end with a line feed");
			break;
		}
		size_t n = (size_t)(nl - p);
		for (size_t i = 0; i < n && rc == 0; i++)
			if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
				rc = fail(r, "a control character");
		if (rc == 0) {
			if (n == 0)
				rc = fail(r, "an empty line");
			else if (p[0] == '#')
				rc = comment(r, p, n);
			else
				rc = sample(r, p, n);
		}
		p = nl + 1;
	}
	for (size_t i = 0; i < r->nseries; i++)
		free(r->series[i]);
	free(r);
	return rc;
}

bool prom_value(const char *text, const char *series, double *v)
{
	size_t sl = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, sl) == 0 && p[sl] == ' ') {
			*v = strtod(p + sl + 1, NULL);
			return true;
		}
	}
	return false;
}
