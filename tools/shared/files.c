/* Files for the tools (files.h): atomic writes, folder checks, reading. */
#define _POSIX_C_SOURCE 200809L
#include "shared/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int akm_target_writable(const char *path, char *err, size_t errlen)
{
	char full[PATH_MAX], folder[PATH_MAX], base[PATH_MAX];
	if (target_paths(NULL, path, full, folder, base, err, errlen) != 0)
		return -1;
	return akm_dir_writable(folder, err, errlen);
}

akm_read_rc akm_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return AKM_READ_OPEN;
	uint8_t *buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return AKM_READ_NOMEM;
	}
	/* One byte more than allowed: a file that fills it is too big. */
	size_t n = fread(buf, 1, max + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > max) {
		free(buf);
		return bad ? AKM_READ_ERROR : AKM_READ_TOO_BIG;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return AKM_READ_OK;
}

akm_read_rc akm_read_regular(const char *path, size_t max, bool nofollow, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return AKM_READ_OPEN;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return AKM_READ_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return AKM_READ_NOT_REGULAR;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return AKM_READ_TOO_BIG;
	}
	uint8_t *buf = malloc(max + 1);
	if (buf == NULL) {
		close(fd);
		return AKM_READ_NOMEM;
	}
	/* One byte more than allowed: a file that grew to fill it is too big. */
	size_t n = 0;
	while (n < max + 1) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			free(buf);
			return AKM_READ_ERROR;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return AKM_READ_TOO_BIG;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return AKM_READ_OK;
}
