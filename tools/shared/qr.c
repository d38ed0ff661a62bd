/* QR codes of a text (qr.h): libqrencode, libpng. */
#include "shared/qr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "shared/files.h"

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
