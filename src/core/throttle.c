/* PIN throttling on the registry's token (throttle.h). */
#include "core/throttle.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sidefile.h"
#include "core/internal.h"

static const char *const who_name[] = {"user", "security officer"};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether `slot` is throttled; its state file's path into `path`. */
static bool throttled(uint32_t slot, char *path, size_t len)
{
	if (slot != akm_core.registry_slot || !akm_login_policy_active(&akm_core.config.login))
		return false;
	/* A store that is not a file keeps no side files (none exists yet). */
	if (akm_core.config.registry_path[0] == '\0')
		return false;
	return snprintf(path, len, "%s-login", akm_core.config.registry_path) < (int)len;
}

/* An fcntl lock on the whole file, per open file description (OFD), so
 * threads of one process exclude each other as processes do. */
static int lock_file(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	int rc;
	do
		rc = fcntl(fd, F_OFD_SETLKW, &fl);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Opens and locks the state file and reads it: the fd, or -1 (logged). */
static int open_state(const char *path, bool write, akm_login_state *st)
{
	char err[PATH_MAX + 160];
	int fd = akm_sidefile_open(path, write ? AKM_SIDEFILE_CREATE : AKM_SIDEFILE_READONLY, err, sizeof err);
	if (fd < 0) {
		if (write || errno != ENOENT)
			akm_log(AKM_LOG_ERROR, "PIN throttling: %s", err);
		return -1;
	}
	if (lock_file(fd, write ? F_WRLCK : F_RDLCK) != 0) {
		akm_log(AKM_LOG_ERROR, "PIN throttling: %s: cannot lock it: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	uint8_t buf[AKM_LOGIN_STATE_LEN + 1];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	akm_fmt_rc rc = n < 0 ? AKM_FMT_TRUNCATED : akm_login_state_parse(buf, (size_t)n, st);
	if (n < 0 || rc != AKM_FMT_OK) {
		akm_log(AKM_LOG_ERROR, "PIN throttling: %s: %s; remove it to start counting again", path,
		        n < 0 ? strerror(errno) : akm_fmt_strerror(rc));
		close(fd); /* and the lock with it */
		return -1;
	}
	return fd;
}

static int write_state(int fd, const akm_login_state *st, bool sync)
{
	uint8_t buf[AKM_LOGIN_STATE_LEN];
	size_t len;
	if (akm_login_state_encode(st, buf, sizeof buf, &len) != AKM_FMT_OK)
		return -1;
	ssize_t n;
	do
		n = pwrite(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		return -1;
	/* A count must survive a power cut: pulling the plug must not be a
	 * way to reset it. */
	return sync ? fdatasync(fd) : 0;
}

CK_RV akm_throttle_begin(uint32_t slot, akm_login_who who, akm_throttle *t)
{
	char path[PATH_MAX + 16];
	t->fd = -1;
	t->who = who;
	if (!throttled(slot, path, sizeof path))
		return CKR_OK;
	int fd = open_state(path, true, &t->st);
	if (fd < 0)
		return CKR_FUNCTION_FAILED; /* fail closed: no count, no try */
	akm_login_record *r = &t->st.who[who];
	uint64_t wait = 0;
	akm_login_verdict v = akm_login_check(&akm_core.config.login, r, now_ms(), &wait);
	if (v == AKM_LOGIN_GO) {
		t->fd = fd;
		return CKR_OK;
	}
	bool audit = !(r->flags & AKM_LOGIN_AUDITED);
	if (audit) {
		r->flags |= AKM_LOGIN_AUDITED;
		if (write_state(fd, &t->st, false) != 0)
			akm_log(AKM_LOG_ERROR, "PIN throttling: %s: cannot write it: %s", path, strerror(errno));
	}
	uint32_t failures = r->failures;
	close(fd);

	CK_RV rv;
	if (v == AKM_LOGIN_LOCKED_OUT) {
		rv = CKR_PIN_LOCKED;
		akm_log(AKM_LOG_WARNING, "C_Login refused without trying the PIN: the %s PIN is locked after %lu wrong "
		        "PINs; the security officer must set it (C_InitPIN)", who_name[who], (unsigned long)failures);
	} else {
		rv = CKR_FUNCTION_FAILED;
		akm_log(AKM_LOG_WARNING, "C_Login refused without trying the PIN: %lu wrong %s PINs in a row; "
		        "try again in %llu.%03llu s", (unsigned long)failures, who_name[who],
		        (unsigned long long)(wait / 1000), (unsigned long long)(wait % 1000));
	}
	/* The record says whose PIN and why (the result); the numbers are in
	 * the log line.  Its detail is the login record's, so that a refusal
	 * before login is kept aside and joins the trail at the next login
	 * like a wrong PIN (events.c, pending events). */
	akm_relationships *rels = akm_core_slot_relationships(slot);
	if (audit && rels != NULL)
		akm_relationships_event(rels, AKM_EVENT_LOGIN_REFUSED, 0, rv, who_name[who]);
	return rv;
}

void akm_throttle_end(akm_throttle *t, CK_RV backend_rv)
{
	if (t->fd < 0)
		return;
	akm_login_record *r = &t->st.who[t->who];
	bool changed = false, sync = false;
	if (backend_rv == CKR_PIN_INCORRECT) {
		akm_login_failed(&akm_core.config.login, t->who, r, now_ms());
		changed = sync = true;
		if (r->flags & AKM_LOGIN_LOCKED)
			akm_log(AKM_LOG_WARNING, "the %s PIN is now locked after %lu wrong PINs; the security officer "
			        "must set it (C_InitPIN)", who_name[t->who], (unsigned long)r->failures);
	} else if ((backend_rv == CKR_OK || backend_rv == CKR_USER_ALREADY_LOGGED_IN) &&
	           (r->failures != 0 || r->flags != 0 || r->not_before != 0)) {
		akm_login_reset(r);
		changed = true;
	}
	if (changed && write_state(t->fd, &t->st, sync) != 0)
		akm_log(AKM_LOG_ERROR, "PIN throttling: cannot record a login in %s-login: %s",
		        akm_core.config.registry_path, strerror(errno));
	close(t->fd); /* and the lock with it */
	t->fd = -1;
}

void akm_throttle_reset(uint32_t slot, bool user, bool so)
{
	char path[PATH_MAX + 16], err[PATH_MAX + 160];
	if (!throttled(slot, path, sizeof path))
		return;
	/* Whatever the file held (even what is not this format), the security
	 * officer's reset is the new state. */
	int fd = akm_sidefile_open(path, 0, err, sizeof err);
	if (fd < 0) {
		if (errno != ENOENT)
			akm_log(AKM_LOG_ERROR, "PIN throttling: %s", err);
		return;
	}
	akm_login_state st;
	uint8_t buf[AKM_LOGIN_STATE_LEN + 1];
	ssize_t n = -1;
	if (lock_file(fd, F_WRLCK) == 0)
		n = pread(fd, buf, sizeof buf, 0);
	if (n < 0 || akm_login_state_parse(buf, (size_t)n, &st) != AKM_FMT_OK)
		memset(&st, 0, sizeof st);
	if (user)
		akm_login_reset(&st.who[AKM_LOGIN_USER]);
	if (so)
		akm_login_reset(&st.who[AKM_LOGIN_SO]);
	if (ftruncate(fd, 0) != 0 || write_state(fd, &st, true) != 0)
		akm_log(AKM_LOG_ERROR, "PIN throttling: %s: cannot write it: %s", path, strerror(errno));
	close(fd);
}

void akm_throttle_token_flags(uint32_t slot, CK_FLAGS *flags)
{
	char path[PATH_MAX + 16];
	akm_login_state st;
	if (!throttled(slot, path, sizeof path))
		return;
	int fd = open_state(path, false, &st);
	if (fd < 0)
		return;
	close(fd);
	const akm_login_record *u = &st.who[AKM_LOGIN_USER], *so = &st.who[AKM_LOGIN_SO];
	uint32_t lockout = akm_core.config.login.lockout;
	if (u->failures > 0)
		*flags |= CKF_USER_PIN_COUNT_LOW;
	if (u->flags & AKM_LOGIN_LOCKED)
		*flags |= CKF_USER_PIN_LOCKED;
	else if (lockout > 0 && u->failures + 1 == lockout)
		*flags |= CKF_USER_PIN_FINAL_TRY;
	if (so->failures > 0)
		*flags |= CKF_SO_PIN_COUNT_LOW;
}
