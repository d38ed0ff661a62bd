/* Sockets for the activation protocol (net.h). */
#include "shared/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t akm_net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t akm_net_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int akm_net_resolve(const char *spec, bool passive, struct sockaddr_storage *ss, socklen_t *len, char *err,
                    size_t errlen)
{
	memset(ss, 0, sizeof *ss);
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *path = spec + 5;
		if (*path == '\0' || strlen(path) >= sizeof un->sun_path) {
			snprintf(err, errlen, "%s: a Unix socket path of 1-%zu bytes is needed", spec,
			         sizeof un->sun_path - 1);
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		*len = (socklen_t)sizeof *un;
		return 0;
	}
	char host[256];
	const char *port;
	const char *colon;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host) {
			snprintf(err, errlen, "%s: not [IPv6]:PORT", spec);
			return -1;
		}
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof host || colon == spec) {
			snprintf(err, errlen, "%s: not HOST:PORT (or unix:PATH)", spec);
			return -1;
		}
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || pn < 0 || pn > 65535 || (!passive && pn == 0)) {
		snprintf(err, errlen, "%s: the port must be a number of 1-65535", spec);
		return -1;
	}
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0 || ai == NULL) {
		snprintf(err, errlen, "%s: %s", spec, g != 0 ? gai_strerror(g) : "no address");
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void akm_net_peer(const struct sockaddr_storage *ss, char out[64])
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, 64);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, 64);
	else if (ss->ss_family == AF_UNIX)
		snprintf(out, 64, "unix");
	else
		snprintf(out, 64, "?");
}

bool akm_net_is_local(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_UNIX)
		return true;
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int akm_net_listen(const char *spec, int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (akm_net_resolve(spec, true, &ss, &len, err, errlen) != 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", spec, strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_UNIX) {
		/* A stale socket file is removed; a live one (someone listening)
		 * and anything that is not a socket are left alone. */
		const char *path = ((struct sockaddr_un *)&ss)->sun_path;
		struct stat st;
		if (lstat(path, &st) == 0) {
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			bool live = probe >= 0 && connect(probe, (struct sockaddr *)&ss, len) == 0;
			if (probe >= 0)
				close(probe);
			if (!S_ISSOCK(st.st_mode) || live) {
				snprintf(err, errlen, "%s: %s", spec, live ? "another service listens there" : "exists and is not a socket");
				close(fd);
				return -1;
			}
			unlink(path);
		}
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
		snprintf(err, errlen, "%s: %s: %s", spec, "bind/listen", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for fd to be ready for `events` until deadline: 0 ready, -1 timeout
 * or error (err says which). */
static int wait_fd(int fd, short events, uint64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		uint64_t now = akm_net_now_ms();
		if (now >= deadline) {
			snprintf(err, errlen, "timed out");
			return -1;
		}
		struct pollfd p = {fd, events, 0};
		int r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

int akm_net_connect(const char *spec, uint64_t deadline, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (akm_net_resolve(spec, false, &ss, &len, err, errlen) != 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			snprintf(err, errlen, "cannot connect to %s: %s", spec, strerror(errno));
			close(fd);
			return -1;
		}
		char why[128];
		if (wait_fd(fd, POLLOUT, deadline, why, sizeof why) != 0) {
			snprintf(err, errlen, "cannot connect to %s: %s", spec, why);
			close(fd);
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr != 0) {
			snprintf(err, errlen, "cannot connect to %s: %s", spec, strerror(soerr));
			close(fd);
			return -1;
		}
	}
	if (ss.ss_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	set_nonblock(fd, true);
	return fd;
}

int akm_net_send(int fd, const uint8_t *buf, size_t len, uint64_t deadline, char *err, size_t errlen)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline, err, errlen) != 0)
				return -1;
			continue;
		}
		snprintf(err, errlen, "send: %s", w < 0 ? strerror(errno) : "nothing written");
		return -1;
	}
	return 0;
}

/* Exactly n bytes by deadline. */
static int recv_all(int fd, uint8_t *buf, size_t n, uint64_t deadline, char *err, size_t errlen)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = recv(fd, buf + off, n - off, 0);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == 0) {
			snprintf(err, errlen, "the station closed the connection");
			return -1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline, err, errlen) != 0)
				return -1;
			continue;
		}
		snprintf(err, errlen, "recv: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int akm_net_recv_frame(int fd, uint8_t *frame, size_t *len, uint8_t *type, uint64_t deadline, char *err,
                       size_t errlen)
{
	if (recv_all(fd, frame, AKM_PROTO_HDR_LEN, deadline, err, errlen) != 0)
		return -1;
	size_t body;
	akm_fmt_rc rc = akm_proto_header(frame, type, &body);
	if (rc != AKM_FMT_OK) {
		snprintf(err, errlen, "the station sent a malformed frame (%s)", akm_fmt_strerror(rc));
		return -1;
	}
	if (recv_all(fd, frame + AKM_PROTO_HDR_LEN, body, deadline, err, errlen) != 0)
		return -1;
	*len = AKM_PROTO_HDR_LEN + body;
	return 0;
}
