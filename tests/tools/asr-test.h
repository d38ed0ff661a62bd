/*
 * What the tests of operational ASRs share (test_asr.c, test_respond.c):
 * nodes node-A..node-F, each its own SoftHSM2 token reached by akm-node
 * through akm-pkcs11.so configured over it; provisioning by USB; sealing
 * and opening messages of ASR "asr1"; check-ins with a real akm-nmmd.
 */
#ifndef AKM_ASR_TEST_H
#define AKM_ASR_TEST_H

#include "nmm-test.h"

#define PASSPHRASE "correct horse battery staple 12"
#define NNODES 6

extern const char *const nodes[NNODES];
/* The drive (a folder of the environment) and the station's anchor file. */
extern char usb[PATH_MAX + 16], anchor[PATH_MAX + 16];

/* akm-node SUB args... NULL through akm-pkcs11.so over node i's token. */
int member(char **out, int i, const char *sub, ...);
/* The station (first == 0) and nodes first..first+count-1 provisioned by
 * USB (passphrase bundles) and imported into their tokens. */
void provision(int first, int count);
/* usb/NAME */
void file_in(char *out, size_t size, const char *name);
/* A whole file (malloc'd; at most 1 MB). */
char *read_all(const char *path, size_t *len);
/* Member i seals `text` under asr1 into usb/NAME. */
void seal(int i, const char *text, const char *name);
/* Member i opens usb/NAME: its exit status; on success the plaintext must
 * be `text`; *outp (if not NULL) gets the output. */
int open_msg(int i, const char *name, const char *text, char **outp);
void expect_open(int i, const char *name, const char *text);
void expect_refused(int i, const char *name, int want, const char *why);
/* Member i's generation (and *step) of its ASR, -1 when in none. */
long member_epoch(int i, long *step);
/* Every member of set[0..n) seals one message that every other opens. */
void all_talk(const int *set, int n, const char *tag);
/* Member i checks in with the service at addr (exit status want): its
 * --json output (caller frees). */
char *checkin(int i, const char *addr, int want);
/* The service's log (env.dir/nmmd.log) into service_log. */
extern char service_log[8192];
void read_service_log(void);
/* JSON member key of text is value (else fails, with the service's log). */
void expect_json(const char *text, const char *key, const char *value);

#endif
