/*
 * Side files: small files the module keeps beside the registry
 * (`<registry>-changes`, `<registry>-login`).  They sit in a folder that
 * other programs may be able to write, so one is opened without following a
 * symbolic link, and kept only when it is what the module would have made:
 * a regular file, owned by this process's effective uid, with one link.
 * Anything else is refused with a sentence naming the path and the reason,
 * and the file is left as it is (never written, truncated or chmod'ed).
 */
#ifndef AKM_SIDEFILE_H
#define AKM_SIDEFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Flags of akm_sidefile_open. */
enum {
	AKM_SIDEFILE_CREATE = 1 << 0,    /* create it (mode 0600) when missing */
	AKM_SIDEFILE_ANY_OWNER = 1 << 1, /* skip the owner check (the registry's own database) */
	AKM_SIDEFILE_READONLY = 1 << 2,  /* open it for reading only */
};

/*
 * Opens `path` read-write (O_NOFOLLOW | O_CLOEXEC; with AKM_SIDEFILE_CREATE,
 * O_CREAT and mode 0600 whatever the umask), then checks what was opened
 * with fstat: a regular file, owned by geteuid() (unless
 * AKM_SIDEFILE_ANY_OWNER), not hard-linked elsewhere.  Returns the file
 * descriptor, or -1 with "<path>: <reason>" in err (for example
 * "/var/lib/akm/registry.db-changes: refused: a symbolic link").  A missing
 * file without AKM_SIDEFILE_CREATE is -1 with errno ENOENT.
 */
int akm_sidefile_open(const char *path, int flags, char *err, size_t errlen);

/* What a file of this mode is, for a refusal: "a directory", "a FIFO", ...,
 * "not a regular file". */
const char *akm_file_kind(mode_t mode);

#endif
