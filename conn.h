/*
 * conn.h - one client connection: resolve (IDN via libidn2), connect
 * under a deadline, buffered line input, write-all, every read and
 * write bounded by an absolute deadline (a trickle of bytes never
 * extends it).  Knows nothing about SMTP.
 */
#ifndef SMTPSEND_CONN_H
#define SMTPSEND_CONN_H

#include <stddef.h>
#include "util.h"

struct tlsio_opts;

enum conn_status {
	CONN_OK,
	CONN_TIMEOUT,		/* deadline passed */
	CONN_EOF,		/* peer closed */
	CONN_ERRNO,		/* see conn_errno() */
	CONN_TOOLONG,		/* a line longer than the caller's bound */
	CONN_TLSERR,		/* TLS failure on the established session
				   (an alert): see conn_error() */
};

struct conn;

/*
 * Resolve host (a name, possibly an IDN U-label, an IPv4 or an IPv6
 * literal, with or without brackets) and connect to the first address
 * that answers before the deadline (milliseconds, absolute, now_ms()).
 * source: a local address to bind to first (--source-ip), or NULL.
 * FAIL_RESOLVE when the name does not resolve, FAIL_TEMP when no
 * address accepts the connection.
 */
struct conn	*conn_open(const char *host, const char *port,
		    const char *source, long long deadline, struct fail *);
void		 conn_close(struct conn *);

/*
 * Next line, without its LF (a CR before it is kept for the caller to
 * judge).  *line points into the input buffer until the next call.
 * Lines over max bytes give CONN_TOOLONG.
 */
enum conn_status conn_getline(struct conn *, long long deadline, size_t max,
		    char **line, size_t *len);
/* Write all of buf. */
enum conn_status conn_write(struct conn *, const void *, size_t,
		    long long deadline);
/*
 * Switch to TLS (STARTTLS after its 220, or implicit TLS right after
 * connecting).  Any byte already received is refused as FAIL_PROTOCOL:
 * it was sent before the handshake and must never be read as a reply
 * afterwards (CVE-2021-22947, CVE-2011-0411 class).  FAIL_TLS or
 * FAIL_TEMP from the handshake.  With implicit set, bytes already
 * there mean a server speaking plaintext: FAIL_TLS with a hint.
 */
int		 conn_starttls(struct conn *, const struct tlsio_opts *,
		    long long deadline, int implicit, struct fail *);
/* TLS details for --serverinfo, one line per call (nothing if plain). */
void		 conn_tls_describe(struct conn *,
		    void (*)(void *, const char *), void *);
/* Bytes received and not yet consumed by conn_getline(). */
size_t		 conn_pending(const struct conn *);
/*
 * Whether the peer sent anything not yet read: bytes in the input
 * buffer, or application data that can be read now (a TLS record with
 * no data, such as a session ticket, and an EOF do not count).  Never
 * blocks.  It may read into the input buffer: the line last returned
 * by conn_getline() is no longer valid afterwards.
 */
int		 conn_has_input(struct conn *);
int		 conn_errno(const struct conn *);
/* The peer is on a loopback address (127.0.0.0/8, ::1). */
int		 conn_is_loopback(const struct conn *);
/*
 * After CONN_TLSERR: what failed, in users' words with the TLS alert's
 * name (e.g. a TLS 1.3 server refusing a missing client certificate,
 * which it says only after the handshake).  "" when there was none.
 */
const char	*conn_error(const struct conn *);
/* The hint (util.h) that goes with it, or HINT_NONE. */
enum fail_hint	 conn_hint(const struct conn *);

#endif
