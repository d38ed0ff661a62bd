/*
 * TLS with the server key in the token: `openssl s_server` loads the EC key
 * through the libp11 pkcs11 engine and akm-pkcs11.so, `openssl s_client`
 * (plain OpenSSL) completes a verified handshake over 127.0.0.1 only.
 */
#include "interop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY_LABEL "tls-server"
#define KEY_ID "7e"
#define SERVER_START_TIMEOUT_S 60
#define SERVER_EXIT_TIMEOUT_S 20

typedef struct tls_server {
	pid_t pid;
	int port;
	char log_path[PATH_MAX];
} tls_server;

static void sleep_ms(long ms)
{
	struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
}

/* Starts s_server in its own process group, output to log_path; it dies
 * with this process should a failed assertion end the test early. */
static pid_t spawn_server(const char *const argv[], const char *log_path, const char *conf_assignment)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int null_fd = open("/dev/null", O_RDONLY);
	if (log_fd < 0 || null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		_exit(126);
	putenv((char *)conf_assignment);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

static void stop_server(tls_server *server)
{
	if (server->pid <= 0)
		return;
	kill(-server->pid, SIGKILL);
	kill(server->pid, SIGKILL);
	waitpid(server->pid, NULL, 0);
	server->pid = -1;
}

static void print_server_log(const tls_server *server)
{
	char *log = (char *)akm_interop_read_file(server->log_path, NULL);
	fprintf(stderr, "--- s_server output (port %d) ---\n%s\n--- end of s_server output ---\n", server->port,
	        log ? log : "(none)");
	free(log);
}

/* Starts `openssl s_server -www -naccept 1` with the token key and waits
 * until it listens (it prints "ACCEPT"); retries on another port if the one
 * picked was taken meanwhile.  Returns false if it never came up. */
static bool start_server(tls_server *server, const akm_testenv *env, const char *conf_assignment,
                         const char *key_uri, const char *cert, const char *protocol_option)
{
	akm_interop_path(server->log_path, env, "s_server.log");
	for (int attempt = 0; attempt < 3; attempt++) {
		server->port = akm_interop_free_port();
		ck_assert_int_gt(server->port, 0);
		char accept[32];
		snprintf(accept, sizeof accept, "127.0.0.1:%d", server->port);
		const char *const argv[] = {"openssl", "s_server", "-accept", accept, "-engine", "pkcs11",
		                            "-keyform", "engine", "-key", key_uri, "-cert", cert,
		                            "-naccept", "1", "-www", protocol_option, NULL};
		fprintf(stderr, "$ %s", conf_assignment);
		for (size_t i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, " &\n");
		server->pid = spawn_server(argv, server->log_path, conf_assignment);
		ck_assert_int_gt(server->pid, 0);
		setpgid(server->pid, server->pid);

		for (long waited_ms = 0; waited_ms < SERVER_START_TIMEOUT_S * 1000L; waited_ms += 100) {
			char *log = (char *)akm_interop_read_file(server->log_path, NULL);
			bool listening = log && strstr(log, "ACCEPT");
			free(log);
			if (listening)
				return true;
			int status;
			if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
				server->pid = -1;
				break;
			}
			sleep_ms(100);
		}
		print_server_log(server);
		stop_server(server);
	}
	return false;
}

/* Waits (bounded) for the server to exit after its one connection. */
static int wait_server_exit(tls_server *server)
{
	for (long waited_ms = 0; waited_ms < SERVER_EXIT_TIMEOUT_S * 1000L; waited_ms += 100) {
		int status;
		if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
			server->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(100);
	}
	stop_server(server);
	return -1;
}

static void check_handshake(const char *token_label, const char *protocol_option, const char *protocol_name)
{
	unsetenv("OPENSSL_CONF");
	akm_testenv env;
	akm_interop_env_create(&env, token_label);
	char conf[PATH_MAX], conf_assignment[PATH_MAX + 16], pub_pem[PATH_MAX], cert[PATH_MAX],
		cert_pub[PATH_MAX], uri[PATH_MAX];
	akm_interop_path(conf, &env, "openssl-akm.cnf");
	akm_interop_path(pub_pem, &env, "pub.pem");
	akm_interop_path(cert, &env, "cert.pem");
	akm_interop_path(cert_pub, &env, "cert-pub.pem");
	akm_interop_make_engine_ec_key(&env, KEY_LABEL, KEY_ID, pub_pem, conf);
	snprintf(conf_assignment, sizeof conf_assignment, "OPENSSL_CONF=%s", conf);
	akm_interop_private_key_uri(uri, &env, KEY_LABEL, AKM_TEST_USER_PIN);
	char *out = NULL;

	/* A self-signed certificate for the token key, signed by the token. */
	const char *const req[] = {"env", conf_assignment, "openssl", "req", "-new", "-x509", "-engine", "pkcs11",
	                           "-keyform", "engine", "-key", uri, "-subj", "/CN=akm-pkcs11 interop",
	                           "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-sha256",
	                           "-out", cert, NULL};
	ck_assert_int_eq(akm_interop_run(req, NULL, &out), 0);
	free(out);
	const char *const verify_cert[] = {"openssl", "verify", "-CAfile", cert, cert, NULL};
	ck_assert_int_eq(akm_interop_run(verify_cert, NULL, &out), 0);
	free(out);
	const char *const cert_key[] = {"openssl", "x509", "-in", cert, "-noout", "-pubkey", "-out", cert_pub, NULL};
	ck_assert_int_eq(akm_interop_run(cert_key, NULL, &out), 0);
	free(out);
	ck_assert_msg(akm_interop_files_equal(cert_pub, pub_pem), "certificate key is not the token key");

	tls_server server = {.pid = -1};
	bool started = start_server(&server, &env, conf_assignment, uri, cert, protocol_option);
	ck_assert_msg(started, "openssl s_server with the token key did not start");

	char connect[32];
	snprintf(connect, sizeof connect, "127.0.0.1:%d", server.port);
	const char *const client[] = {"openssl", "s_client", "-connect", connect, "-CAfile", cert,
	                              "-verify_return_error", "-verify_ip", "127.0.0.1", "-ign_eof",
	                              protocol_option, NULL};
	int client_status = akm_interop_run(client, "GET / HTTP/1.0\r\n\r\n", &out);
	int server_status = wait_server_exit(&server);
	print_server_log(&server);
	stop_server(&server);

	ck_assert_int_eq(client_status, 0);
	ck_assert_msg(strstr(out, "Verify return code: 0 (ok)"), "server certificate not verified");
	char negotiated[64];
	snprintf(negotiated, sizeof negotiated, "New, %s, Cipher is ", protocol_name);
	const char *cipher = strstr(out, negotiated);
	ck_assert_msg(cipher, "no %s session negotiated", protocol_name);
	ck_assert_msg(strncmp(cipher + strlen(negotiated), "(NONE)", 6) != 0, "no cipher negotiated");
	ck_assert_msg(strstr(out, "HTTP/1.0 200 ok"), "no response over the TLS connection");
	/* The server proved possession of the token key. */
	ck_assert_msg(strstr(out, "Peer signature type: ECDSA"), "server did not sign with ECDSA");
	ck_assert_int_eq(server_status, 0);
	free(out);
	akm_testenv_destroy(&env);
}

START_TEST(tls13_handshake_with_token_key)
{
	check_handshake("akm-tls13", "-tls1_3", "TLSv1.3");
}
END_TEST

START_TEST(tls12_handshake_with_token_key)
{
	/* TLS 1.2 signs the ServerKeyExchange with ECDSA over SHA-256. */
	check_handshake("akm-tls12", "-tls1_2", "TLSv1.2");
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *suite = suite_create("TLS with the key in the token");
	TCase *handshake = tcase_create("handshake");
	tcase_set_timeout(handshake, AKM_INTEROP_CASE_TIMEOUT_S);
	tcase_add_test(handshake, tls13_handshake_with_token_key);
	tcase_add_test(handshake, tls12_handshake_with_token_key);
	suite_add_tcase(suite, handshake);
	return suite;
}

int main(void)
{
	return akm_interop_engine_main(tls_suite);
}
