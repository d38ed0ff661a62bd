/* QR codes of a text (a batch passphrase): on the terminal and as a PNG. */
#ifndef AKM_TOOLS_QR_H
#define AKM_TOOLS_QR_H

#include <stddef.h>
#include <stdio.h>

/* Byte mode, error correction level M. */
/* Prints the QR code of `text` with UTF-8 half blocks (two modules per
 * character cell, dark on light, with a quiet zone).  0, or -1 when the
 * text does not fit a QR code. */
int akm_qr_print(FILE *f, const char *text);
/* Writes the QR code of `text` as a PNG file (8-bit grey, `scale` pixels
 * per module, 4-module quiet zone), atomically, with mode 0600 (a QR code
 * may carry a passphrase).  0, or -1 with a sentence in err; errno is
 * that of a failed file operation (see akm_write_atomic). */
int akm_qr_png(const char *path, const char *text, unsigned scale, char *err, size_t errlen);

#endif
