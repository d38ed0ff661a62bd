/* Interrupted commands (interrupt.h). */
#define _POSIX_C_SOURCE 200809L
#include "shared/interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;
static struct sigaction old_int, old_term;
static int installed;

static void on_signal(int sig)
{
	received = sig;
}

void akm_interrupt_begin(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* System calls resume (the file in hand is written whole); the
	 * second signal has the default effect. */
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	received = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	installed = 1;
}

void akm_interrupt_end(void)
{
	if (!installed)
		return;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	installed = 0;
}

int akm_interrupted(void)
{
	return received;
}

int akm_interrupt_code(int sig)
{
	return 128 + sig;
}

const char *akm_interrupt_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}
