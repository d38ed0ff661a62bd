#include "common/sidefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

const char *akm_file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/* Why open() failed, when the answer says what is at the path. */
static void explain_open_error(const char *path, int e, char *err, size_t errlen)
{
	struct stat st;
	if ((e == ELOOP || e == EISDIR || e == ENXIO || e == EMLINK) && lstat(path, &st) == 0 &&
	    !S_ISREG(st.st_mode))
		snprintf(err, errlen, "%s: refused: %s, not a regular file", path, akm_file_kind(st.st_mode));
	else if (e == ELOOP)
		snprintf(err, errlen, "%s: refused: a symbolic link, not a regular file", path);
	else
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
}

int akm_sidefile_open(const char *path, int flags, char *err, size_t errlen)
{
	int oflags = ((flags & AKM_SIDEFILE_READONLY) ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC |
	             O_NOCTTY | O_NONBLOCK; /* a FIFO must not block the open */
	if (flags & AKM_SIDEFILE_CREATE)
		oflags |= O_CREAT;
	int fd;
	do
		fd = open(path, oflags, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		explain_open_error(path, e, err, errlen);
		errno = e;
		return -1;
	}
	struct stat st;
	const char *why = NULL;
	char what[96];
	if (fstat(fd, &st) != 0) {
		snprintf(what, sizeof what, "cannot check it: %s", strerror(errno));
		why = what;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(what, sizeof what, "refused: %s, not a regular file", akm_file_kind(st.st_mode));
		why = what;
	} else if (!(flags & AKM_SIDEFILE_ANY_OWNER) && st.st_uid != geteuid()) {
		snprintf(what, sizeof what, "refused: owned by uid %lu, not by this process's uid %lu",
		         (unsigned long)st.st_uid, (unsigned long)geteuid());
		why = what;
	} else if (st.st_nlink > 1) {
		snprintf(what, sizeof what, "refused: it has %lu hard links (a link to another file?)",
		         (unsigned long)st.st_nlink);
		why = what;
	}
	if (why == NULL) {
		/* A regular file: back to blocking I/O (and fcntl locks that wait). */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			snprintf(what, sizeof what, "cannot use it: %s", strerror(errno));
			why = what;
		}
	}
	if (why != NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}
