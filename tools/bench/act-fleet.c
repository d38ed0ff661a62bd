/* A fleet of nodes for the activation service (act-fleet.h). */
#include "bench/act-fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/rv.h"
#include "shared/net.h"

extern char **environ;

#define SO_PIN "12345678"

/* The module stays initialised by this one for the fleet's life: node
 * sessions outlive the station's akm-pkcs11.so, which shares it. */
static akm_p11 owner;

static void pad(CK_UTF8CHAR out[32], const char *text)
{
	memset(out, ' ', 32);
	memcpy(out, text, strlen(text) < 32 ? strlen(text) : 32);
}

/* One new token `label` with the user PIN, through the module itself. */
static int init_token(akm_p11 *p, const char *label, const char *pin, char *err, size_t errlen)
{
	CK_ULONG count = 0;
	CK_RV rv = p->f->C_GetSlotList(CK_FALSE, NULL, &count);
	CK_SLOT_ID *slots = calloc(count ? count : 1, sizeof *slots);
	if (rv == CKR_OK && slots != NULL)
		rv = p->f->C_GetSlotList(CK_FALSE, slots, &count);
	CK_SLOT_ID slot = (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
		CK_TOKEN_INFO info;
		if (p->f->C_GetTokenInfo(slots[i], &info) == CKR_OK && !(info.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			break;
		}
	}
	free(slots);
	if (rv != CKR_OK || slot == (CK_SLOT_ID)-1) {
		snprintf(err, errlen, "no free slot for token %s (%s)", label, akm_rv_name(rv));
		return -1;
	}
	CK_UTF8CHAR lab[32];
	pad(lab, label);
	CK_SESSION_HANDLE s;
	if ((rv = p->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, 8, lab)) != CKR_OK ||
	    (rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
		snprintf(err, errlen, "token %s: C_InitToken/C_OpenSession: %s", label, akm_rv_name(rv));
		return -1;
	}
	if ((rv = p->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8)) == CKR_OK)
		rv = p->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
	p->f->C_Logout(s);
	p->f->C_CloseSession(s);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "token %s: C_InitPIN: %s", label, akm_rv_name(rv));
		return -1;
	}
	return 0;
}

/* A session on node i's token, logged in. */
static int node_open(const act_fleet *f, size_t i, akm_p11 *p)
{
	memset(p, 0, sizeof *p);
	if (akm_p11_open(p, f->softhsm, f->label[i]) != 0 ||
	    akm_p11_login(p, f->pin, strlen(f->pin)) != 0)
		return -1;
	return 0;
}

int act_fleet_create(act_fleet *f, const char *station_module, const char *station_token, const char *softhsm,
                     const char *prefix, const char *pin, size_t n, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	f->softhsm = softhsm;
	f->pin = pin;
	f->n = n;
	f->label = calloc(n, sizeof *f->label);
	f->hw = calloc(n, sizeof *f->hw);
	f->states = calloc(n, sizeof *f->states);
	if (f->label == NULL || f->hw == NULL || f->states == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!owner.initialized && (akm_p11_load(&owner, softhsm) != 0 || akm_p11_initialize(&owner) != 0)) {
		snprintf(err, errlen, "%s: %s", softhsm, owner.err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(f->label[i], sizeof f->label[i], "%s-%zu", prefix, i);
		if (init_token(&owner, f->label[i], pin, err, errlen) != 0)
			return -1;
		akm_p11 p = {0};
		if (akm_p11_load(&p, softhsm) != 0 || akm_p11_initialize(&p) != 0 || akm_p11_select(&p, f->label[i]) != 0) {
			snprintf(err, errlen, "token %s: %s", f->label[i], p.err);
			return -1;
		}
		akm_p11_serial(&p, f->hw[i]);
		akm_p11_end(&p, false);
	}

	nmm_station s = {0};
	int rc = -1;
	nmm_plan plan = {0};
	if (akm_p11_open(&s.p, station_module, station_token) != 0 || akm_p11_login(&s.p, pin, strlen(pin)) != 0) {
		snprintf(err, errlen, "station: %s", s.p.err);
		goto out;
	}
	s.open = true;
	int r = nmm_station_read(&s);
	if (r == AKM_RC_NOT_FOUND) {
		uint8_t id[16];
		char fp[65];
		randombytes_buf(id, sizeof id);
		r = nmm_station_init(&s, id, sizeof id, "fleet", "bench", NULL, fp);
	}
	if (r != AKM_RC_OK) {
		snprintf(err, errlen, "the station could not be read or made (see above)");
		goto out;
	}
	char (*names)[AKM_FMT_NAME_MAX + 1] = calloc(n, sizeof *names);
	if (names == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "%s-%zu", prefix, i);
		nmm_plan_add(&plan, names[i], f->hw[i], i + 1);
	}
	if (nmm_plan_check(&plan) != 0 || nmm_provision(&s, &plan) != 0 || plan.failed != 0) {
		snprintf(err, errlen, "provisioning the fleet failed (see above)");
		free(names);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		akm_p11 se;
		nmm_node node;
		nmm_se_result res;
		if (node_open(f, i, &se) != 0) {
			snprintf(err, errlen, "token %s: %s", f->label[i], se.err);
			akm_p11_end(&se, false);
			free(names);
			goto out;
		}
		r = nmm_node_find(&s, names[i], &node);
		if (r == AKM_RC_OK)
			r = nmm_write_se(&s, &node, &se, &res);
		akm_p11_end(&se, false);
		if (r != AKM_RC_OK) {
			snprintf(err, errlen, "writing node %s failed (see above)", names[i]);
			free(names);
			goto out;
		}
		f->states[i] = res.state;
	}
	free(names);
	rc = 0;
out:
	nmm_plan_free(&plan);
	nmm_station_close(&s);
	return rc;
}

void act_fleet_free(act_fleet *f)
{
	free(f->label);
	free(f->hw);
	free(f->states);
	memset(f, 0, sizeof *f);
}

/* ---- the service ---- */

int act_service_start(act_service *sv, const char *nmmd_path, const char *module, const char *token,
                      const char *pin_file, const char *const *extra, char *err, size_t errlen)
{
	char port_file[4200], log_file[4200];
	snprintf(port_file, sizeof port_file, "%s/nmmd.port", sv->dir);
	snprintf(log_file, sizeof log_file, "%s/nmmd.log", sv->dir);
	unlink(port_file);
	const char *argv[64];
	size_t a = 0;
	argv[a++] = nmmd_path;
	argv[a++] = "--module"; argv[a++] = module;
	argv[a++] = "--token"; argv[a++] = token;
	argv[a++] = "--pin-file"; argv[a++] = pin_file;
	argv[a++] = "--listen"; argv[a++] = "127.0.0.1:0";
	argv[a++] = "--port-file"; argv[a++] = port_file;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && a < 62; i++)
		argv[a++] = extra[i];
	argv[a] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	int e = posix_spawn(&sv->pid, nmmd_path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		snprintf(err, errlen, "%s: %s", nmmd_path, strerror(e));
		return -1;
	}
	for (int tries = 0; tries < 3000; tries++) {
		FILE *pf = fopen(port_file, "r");
		if (pf != NULL) {
			bool got = fgets(sv->addr, sizeof sv->addr, pf) != NULL;
			fclose(pf);
			if (got && strchr(sv->addr, '\n') != NULL) {
				sv->addr[strcspn(sv->addr, "\n")] = '\0';
				return 0;
			}
		}
		int status;
		if (waitpid(sv->pid, &status, WNOHANG) == sv->pid) {
			snprintf(err, errlen, "akm-nmmd exited at start (status %d); its log: %s", status, log_file);
			sv->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	snprintf(err, errlen, "akm-nmmd did not start listening within 30 s (log: %s)", log_file);
	act_service_stop(sv, SIGKILL);
	return -1;
}

int act_service_stop(act_service *sv, int sig)
{
	if (sv->pid <= 0)
		return -1;
	kill(sv->pid, sig);
	int status = -1;
	while (waitpid(sv->pid, &status, 0) < 0 && errno == EINTR)
		;
	sv->pid = 0;
	return status;
}

/* ---- runs ---- */

typedef struct run_ctx {
	act_fleet *f;
	const char *addr;
	uint8_t op;
	size_t count;
	double deadline;
	atomic_size_t next, done_slot;
	act_run *out;
	atomic_size_t ok, failed;
	atomic_bool *busy;        /* one exchange per node at a time */
	akm_p11 *nodes;           /* node i's session, opened before the run */
} run_ctx;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reports of the node library are not printed during a run: the first
 * one is kept for the caller. */
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;

static void quiet(void *ctx, const char *what, const char *message)
{
	act_run *r = ctx;
	pthread_mutex_lock(&first_lock);
	if (r->first_error[0] == '\0')
		snprintf(r->first_error, sizeof r->first_error, "%s: %s", what, message ? message : "");
	pthread_mutex_unlock(&first_lock);
}

static void *worker(void *arg)
{
	run_ctx *c = arg;
	act_fleet *f = c->f;
	for (;;) {
		size_t k = atomic_fetch_add(&c->next, 1);
		if (k >= c->count || (c->deadline > 0 && now_s() >= c->deadline))
			break;
		size_t i = k % f->n;
		bool expected = false;
		while (!atomic_compare_exchange_weak(&c->busy[i], &expected, true)) {
			expected = false;
			i = (i + 1) % f->n; /* that node is in an exchange: the next one */
		}
		double t0 = now_s();
		int rc;
		{
			akm_node_act a = {.op = c->op, .nmm = c->addr, .hw = f->hw[i], .timeout_ms = 30000};
			akm_proto_event ev = {.kind = AKM_EVENT_OTHER, .count = 1, .time = (uint64_t)time(NULL)};
			if (c->op == AKM_OP_REPORT) {
				a.events = &ev;
				a.nevents = 1;
			}
			rc = akm_node_exchange(&c->nodes[i], &f->states[i], &a, f->label[i]);
		}
		double ms = (now_s() - t0) * 1000.0;
		c->out->rc[i] = rc;
		atomic_store(&c->busy[i], false);
		size_t slot = atomic_fetch_add(&c->done_slot, 1);
		if (slot < c->out->nlat)
			c->out->lat_ms[slot] = ms;
		if (rc == AKM_RC_OK) {
			size_t ok = atomic_fetch_add(&c->ok, 1) + 1;
			if (f->kill_at != 0 && ok == f->kill_at && f->kill_pid > 0)
				kill(f->kill_pid, SIGKILL);
		} else
			atomic_fetch_add(&c->failed, 1);
	}
	return NULL;
}

int act_fleet_run(act_fleet *f, const char *addr, unsigned threads, uint8_t op, size_t count, double seconds,
                  act_run *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (threads == 0 || threads > f->n) {
		snprintf(err, errlen, "%u threads for %zu nodes: one node per thread at most", threads, f->n);
		return -1;
	}
	size_t cap = count ? count : 1000000;
	out->lat_ms = calloc(cap, sizeof *out->lat_ms);
	out->rc = calloc(f->n, sizeof *out->rc);
	atomic_bool *busy = calloc(f->n, sizeof *busy);
	pthread_t *tid = calloc(threads, sizeof *tid);
	if (out->lat_ms == NULL || out->rc == NULL || busy == NULL || tid == NULL) {
		free(busy);
		free(tid);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	out->nlat = cap;
	akm_p11 *nodes = calloc(f->n, sizeof *nodes);
	if (nodes == NULL) {
		free(busy);
		free(tid);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < f->n; i++)
		if (node_open(f, i, &nodes[i]) != 0) {
			snprintf(err, errlen, "token %s: %s", f->label[i], nodes[i].err);
			for (size_t k = 0; k <= i; k++)
				akm_p11_end(&nodes[k], false);
			free(nodes);
			free(busy);
			free(tid);
			return -1;
		}
	run_ctx c = {.f = f, .addr = addr, .op = op, .count = count ? count : (size_t)-1, .out = out, .busy = busy,
	             .nodes = nodes};
	double t0 = now_s();
	c.deadline = seconds > 0 ? t0 + seconds : 0;
	akm_report_to(quiet, out);
	unsigned started = 0;
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, worker, &c) != 0)
			break;
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	akm_report_to(NULL, NULL);
	out->seconds = now_s() - t0;
	for (size_t i = 0; i < f->n; i++)
		akm_p11_end(&nodes[i], false);
	free(nodes);
	out->ok = atomic_load(&c.ok);
	out->failed = atomic_load(&c.failed);
	out->nlat = out->ok + out->failed < cap ? out->ok + out->failed : cap;
	free(busy);
	free(tid);
	if (started < threads) {
		snprintf(err, errlen, "only %u of %u threads started", started, threads);
		return -1;
	}
	return 0;
}

void act_run_free(act_run *r)
{
	free(r->lat_ms);
	free(r->rc);
	memset(r, 0, sizeof *r);
}

long act_proc_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, field, n) == 0)
			v = strtol(line + n, NULL, 10);
	if (f)
		fclose(f);
	return v;
}
