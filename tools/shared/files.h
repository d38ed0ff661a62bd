/* Files for the tools: atomic writes (bundles, anchors, requests, images),
 * whether a folder takes a new file, reading a whole small file. */
#ifndef AKM_TOOLS_FILES_H
#define AKM_TOOLS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes `len` bytes to dir/name (dir NULL: name as given) so that the file
 * is either absent/unchanged or complete: mkstemp in the same folder, write,
 * fchmod(mode), fsync, rename, fsync of the folder.  On failure the
 * temporary file is removed, errno tells the cause (ENOSPC, EROFS, EACCES,
 * ...) and err has a sentence naming the file.  Returns 0 or -1. */
int akm_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                     unsigned mode, char *err, size_t errlen);
/* Whether a file could be created in `dir` now (a temporary file is created
 * and removed).  0, or -1 with errno and a sentence in err. */
int akm_dir_writable(const char *dir, char *err, size_t errlen);
/* The same for the folder the file `path` would go in. */
int akm_target_writable(const char *path, char *err, size_t errlen);

/* Reading a whole file of at most `max` bytes into a malloc'd buffer with a
 * NUL after its last byte.  What went wrong is the caller's to say. */
typedef enum {
	AKM_READ_OK = 0,
	AKM_READ_OPEN,     /* cannot open it (errno) */
	AKM_READ_NOMEM,
	AKM_READ_ERROR,    /* a read error */
	AKM_READ_TOO_BIG,  /* more than max bytes */
	AKM_READ_NOT_REGULAR /* akm_read_regular: not a regular file (a FIFO, a device, a folder) */
} akm_read_rc;
akm_read_rc akm_read_file(const char *path, size_t max, uint8_t **data, size_t *len);
/* The same for a regular file only, opened without blocking (O_NONBLOCK:
 * a FIFO or a device on a drive cannot hang the reader) and checked with
 * fstat before a byte is read; with `nofollow`, a symbolic link is refused
 * too (O_NOFOLLOW, AKM_READ_OPEN with errno ELOOP). */
akm_read_rc akm_read_regular(const char *path, size_t max, bool nofollow, uint8_t **data, size_t *len);

#endif
