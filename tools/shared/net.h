/*
 * Sockets for the activation protocol (docs/protocol.md): addresses as the
 * tools write them, a listening socket for akm-nmmd, and the node's
 * blocking client side with deadlines.  Frames are checked with
 * lib/proto.h as soon as their header arrives.
 *
 * Address forms: "HOST:PORT" (a name or an IPv4 address), "[IPv6]:PORT",
 * "unix:PATH".
 */
#ifndef AKM_TOOLS_NET_H
#define AKM_TOOLS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/proto.h"

#define AKM_NET_DEFAULT_PORT "4433"

/* Resolves spec into *ss: 0, or -1 with a sentence in err. */
int akm_net_resolve(const char *spec, bool passive, struct sockaddr_storage *ss, socklen_t *len, char *err,
                    size_t errlen);
/* A non-blocking listening socket on spec (a Unix socket's stale file is
 * replaced only when nothing listens on it); -1 with err. */
int akm_net_listen(const char *spec, int backlog, char *err, size_t errlen);
/* The peer's address without its port ("127.0.0.1", "unix"): what lockouts
 * and audit records name. */
void akm_net_peer(const struct sockaddr_storage *ss, char out[64]);

/* Whether the address stays on this machine: 127.0.0.0/8, ::1, an
 * IPv4-mapped 127.x, or a Unix socket. */
bool akm_net_is_local(const struct sockaddr_storage *ss);

/* Milliseconds on the monotonic clock. */
uint64_t akm_net_now_ms(void);
/* Milliseconds since 1970 (the wall clock). */
uint64_t akm_net_wall_ms(void);

/* ---- the client side (blocking, each step bounded by a deadline) ---- */

/* Connects to spec by deadline (akm_net_now_ms() based): a blocking fd, or
 * -1 with err. */
int akm_net_connect(const char *spec, uint64_t deadline, char *err, size_t errlen);
/* Writes all of buf by deadline: 0 or -1 with err. */
int akm_net_send(int fd, const uint8_t *buf, size_t len, uint64_t deadline, char *err, size_t errlen);
/* Reads one frame (header checked first) into frame (room for
 * AKM_PROTO_FRAME_MAX) by deadline: 0 with *type and *len (the whole
 * frame), -1 with err (closed, timed out, or a malformed header). */
int akm_net_recv_frame(int fd, uint8_t *frame, size_t *len, uint8_t *type, uint64_t deadline, char *err,
                       size_t errlen);

#endif
