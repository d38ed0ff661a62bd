/*
 * Interrupted commands (SIGINT, SIGTERM): a long run (akm-nmm provision,
 * export) installs the handler around its work; the first signal only sets
 * a flag, the work finishes the node in hand (its file, status and audit
 * record), stops before the next one and returns; the command prints what
 * was done and exits 128 + the signal (130 for SIGINT, 143 for SIGTERM:
 * AKM_RC_INTERRUPTED, AKM_RC_TERMINATED).  A second signal has its default
 * effect (the handler is reset after the first): an operator can still
 * stop a run that hangs.
 */
#ifndef AKM_TOOLS_INTERRUPT_H
#define AKM_TOOLS_INTERRUPT_H

/* Installs the handler for SIGINT and SIGTERM (flag cleared). */
void akm_interrupt_begin(void);
/* Restores the dispositions there were before akm_interrupt_begin. */
void akm_interrupt_end(void);
/* The signal received since akm_interrupt_begin, or 0. */
int akm_interrupted(void);
/* The exit code for signal sig: 128 + sig. */
int akm_interrupt_code(int sig);
/* "SIGINT", "SIGTERM", or "a signal". */
const char *akm_interrupt_name(int sig);

#endif
