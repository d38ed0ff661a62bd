/* Output for the tools (out.h): JSON, progress bar, QR codes, atomic files. */
#define _POSIX_C_SOURCE 200809L
#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <png.h>
#include <qrencode.h>

/* ---- JSON ---- */

void akm_json_init(akm_json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->first[0] = true;
}

/* Before any value: the comma between values of an array or members of an
 * object (a value after a key needs none). */
static void before_value(akm_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void open_level(akm_json *j, char c)
{
	before_value(j);
	fputc(c, j->f);
	if (j->depth < AKM_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_level(akm_json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void akm_json_object_begin(akm_json *j) { open_level(j, '{'); }
void akm_json_object_end(akm_json *j) { close_level(j, '}'); }
void akm_json_array_begin(akm_json *j) { open_level(j, '['); }
void akm_json_array_end(akm_json *j) { close_level(j, ']'); }

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 when
 * it is not one (overlong forms, surrogates and code points past U+10FFFF
 * are not). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, cp = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, cp = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void write_escaped(FILE *f, const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			i++;
		} else {
			size_t len = utf8_len(s + i, n - i);
			if (len == 0) {
				fputs("\\ufffd", f);
				i++;
			} else {
				fwrite(s + i, 1, len, f);
				i += len;
			}
		}
	}
	fputc('"', f);
}

void akm_json_key(akm_json *j, const char *key)
{
	before_value(j);
	write_escaped(j->f, key, strlen(key));
	fputc(':', j->f);
	j->after_key = true;
}

void akm_json_string_n(akm_json *j, const char *s, size_t n)
{
	before_value(j);
	write_escaped(j->f, s, n);
}

void akm_json_string(akm_json *j, const char *s)
{
	if (s == NULL)
		akm_json_null(j);
	else
		akm_json_string_n(j, s, strlen(s));
}

void akm_json_hex(akm_json *j, const uint8_t *bytes, size_t n)
{
	before_value(j);
	fputc('"', j->f);
	for (size_t i = 0; i < n; i++)
		fprintf(j->f, "%02x", bytes[i]);
	fputc('"', j->f);
}

void akm_json_uint(akm_json *j, uint64_t v)
{
	before_value(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void akm_json_int(akm_json *j, int64_t v)
{
	before_value(j);
	fprintf(j->f, "%lld", (long long)v);
}

void akm_json_bool(akm_json *j, bool v)
{
	before_value(j);
	fputs(v ? "true" : "false", j->f);
}

void akm_json_null(akm_json *j)
{
	before_value(j);
	fputs("null", j->f);
}

int akm_json_finish(akm_json *j)
{
	fputc('\n', j->f);
	return fflush(j->f) == 0 && !ferror(j->f) ? 0 : -1;
}

void akm_json_kv_string(akm_json *j, const char *key, const char *s)
{
	akm_json_key(j, key);
	akm_json_string(j, s);
}

void akm_json_kv_hex(akm_json *j, const char *key, const uint8_t *bytes, size_t n)
{
	akm_json_key(j, key);
	akm_json_hex(j, bytes, n);
}

void akm_json_kv_uint(akm_json *j, const char *key, uint64_t v)
{
	akm_json_key(j, key);
	akm_json_uint(j, v);
}

void akm_json_kv_bool(akm_json *j, const char *key, bool v)
{
	akm_json_key(j, key);
	akm_json_bool(j, v);
}

/* ---- progress bar ---- */

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
	p->tty = isatty(STDERR_FILENO) == 1;
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

/* ---- QR codes ---- */

static QRcode *qr_encode(const char *text)
{
	return QRcode_encodeData((int)strlen(text), (const unsigned char *)text, 0, QR_ECLEVEL_M);
}

#define QR_QUIET 4

/* Whether the module at (x, y) of the code with its quiet zone is dark. */
static bool qr_dark(const QRcode *q, int x, int y)
{
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return false;
	return (q->data[y * q->width + x] & 1) != 0;
}

int akm_qr_print(FILE *f, const char *text)
{
	QRcode *q = qr_encode(text);
	if (q == NULL)
		return -1;
	/* Light modules are drawn (block characters), dark ones left as the
	 * terminal's background: right for the usual dark terminal; scanners
	 * read the inverted code from a light one too. */
	int size = q->width + 2 * QR_QUIET;
	for (int y = 0; y < size; y += 2) {
		for (int x = 0; x < size; x++) {
			bool top_light = !qr_dark(q, x, y);
			bool bottom_light = y + 1 < size ? !qr_dark(q, x, y + 1) : false;
			if (top_light && bottom_light)
				fputs("\u2588", f); /* full block */
			else if (top_light)
				fputs("\u2580", f); /* upper half */
			else if (bottom_light)
				fputs("\u2584", f); /* lower half */
			else
				fputc(' ', f);
		}
		fputc('\n', f);
	}
	QRcode_free(q);
	return 0;
}

typedef struct png_buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
} png_buf;

static void png_buf_write(png_structp png, png_bytep data, png_size_t len)
{
	png_buf *b = png_get_io_ptr(png);
	if (b->failed)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void png_buf_flush(png_structp png)
{
	(void)png;
}

/* Encodes the image into b; 0 or -1.  Separate from akm_qr_png so that no
 * local changes between setjmp and longjmp. */
static int qr_png_encode(const QRcode *q, unsigned scale, png_buf *b)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (png == NULL)
		return -1;
	png_infop info = png_create_info_struct(png);
	uint32_t size = (uint32_t)(q->width + 2 * QR_QUIET) * scale;
	png_bytep row = malloc(size);
	if (info == NULL || row == NULL) {
		free(row);
		png_destroy_write_struct(&png, info ? &info : NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		free(row);
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_set_write_fn(png, b, png_buf_write, png_buf_flush);
	png_set_IHDR(png, info, size, size, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (uint32_t y = 0; y < size; y++) {
		for (uint32_t x = 0; x < size; x++)
			row[x] = qr_dark(q, (int)(x / scale), (int)(y / scale)) ? 0x00 : 0xFF;
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	return b->failed ? -1 : 0;
}

int akm_qr_png(const char *path, const char *text, unsigned scale, char *err, size_t errlen)
{
	if (scale == 0 || scale > 64)
		scale = 8;
	QRcode *q = qr_encode(text);
	if (q == NULL) {
		snprintf(err, errlen, "the text does not fit a QR code");
		errno = EINVAL;
		return -1;
	}
	png_buf b = {0};
	int rc = qr_png_encode(q, scale, &b);
	QRcode_free(q);
	if (rc != 0) {
		free(b.data);
		snprintf(err, errlen, "cannot encode the QR code as PNG");
		errno = ENOMEM;
		return -1;
	}
	rc = akm_write_atomic(NULL, path, b.data, b.len, 0600, err, errlen);
	int saved = errno;
	free(b.data);
	errno = saved;
	return rc;
}

/* ---- atomic files ---- */

/* Splits the target into its folder and the full path. */
static int target_paths(const char *dir, const char *name, char *path, char *folder, char *base,
                        char *err, size_t errlen)
{
	int n;
	if (dir != NULL) {
		n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
		if (n >= 0 && n < PATH_MAX)
			n = snprintf(folder, PATH_MAX, "%s", dir);
		if (n >= 0 && n < PATH_MAX)
			n = snprintf(base, PATH_MAX, "%s", name);
	} else {
		const char *slash = strrchr(name, '/');
		n = snprintf(path, PATH_MAX, "%s", name);
		if (n >= 0 && n < PATH_MAX) {
			if (slash == NULL)
				n = snprintf(folder, PATH_MAX, ".");
			else if (slash == name)
				n = snprintf(folder, PATH_MAX, "/");
			else
				n = snprintf(folder, PATH_MAX, "%.*s", (int)(slash - name), name);
		}
		if (n >= 0 && n < PATH_MAX)
			n = snprintf(base, PATH_MAX, "%s", slash ? slash + 1 : name);
	}
	if (n < 0 || n >= PATH_MAX) {
		snprintf(err, errlen, "the path of %s is too long", name);
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int fsync_dir(const char *folder)
{
	int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	/* Some file systems cannot sync a folder: nothing more to do there. */
	if (rc != 0 && (saved == EINVAL || saved == ENOTSUP))
		rc = 0;
	errno = saved;
	return rc;
}

int akm_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                     unsigned mode, char *err, size_t errlen)
{
	char path[PATH_MAX], folder[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
	if (target_paths(dir, name, path, folder, base, err, errlen) != 0)
		return -1;
	int n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", folder, base);
	if (n < 0 || n >= (int)sizeof tmp) {
		snprintf(err, errlen, "the path of %s is too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int saved = errno;
		snprintf(err, errlen, "cannot create a file in %s: %s", folder, strerror(saved));
		errno = saved;
		return -1;
	}
	const char *step = "write";
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	step = "set the mode of";
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	step = "sync";
	if (fsync(fd) != 0)
		goto fail;
	step = "close";
	int rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto fail;
	step = "rename into";
	if (rename(tmp, path) != 0)
		goto fail;
	if (fsync_dir(folder) != 0) {
		int saved = errno;
		snprintf(err, errlen, "cannot sync the folder %s after writing %s: %s", folder, path,
		         strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
fail:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	snprintf(err, errlen, "cannot %s %s: %s", step, path, strerror(saved));
	errno = saved;
	return -1;
}

int akm_dir_writable(const char *dir, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s/.akm-probe.XXXXXX", dir);
	if (n < 0 || n >= (int)sizeof tmp) {
		snprintf(err, errlen, "the path %s is too long", dir);
		errno = ENAMETOOLONG;
		return -1;
	}
	struct stat st;
	if (stat(dir, &st) != 0) {
		int saved = errno;
		snprintf(err, errlen, "cannot use the folder %s: %s", dir, strerror(saved));
		errno = saved;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a folder", dir);
		errno = ENOTDIR;
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int saved = errno;
		snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(saved));
		errno = saved;
		return -1;
	}
	close(fd);
	unlink(tmp);
	return 0;
}
