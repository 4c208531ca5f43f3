/*
 * tlsio.h - the TLS seam (OpenSSL 3), used only by conn.c.
 *
 * Verification is on by default: a certificate is required, the chain
 * must lead to the trust store (the system's hashed CA directory,
 * loaded lazily, or --tls-trust-file), the name must match (partial
 * wildcards off; an IP literal is checked as an address and never sent
 * as SNI).  A SHA-256 pin replaces the chain and name check, and is
 * enforced with --tls-certcheck=off too.  The handshake runs
 * with OpenSSL's verification recording but not aborting, so that a
 * failure can name the reason and the certificate; nothing is sent
 * over a connection that failed.  No OpenSSL type leaks past here.
 */
#ifndef SMTPSEND_TLSIO_H
#define SMTPSEND_TLSIO_H

#include <sys/types.h>
#include "util.h"

struct tlsio_opts {
	const char	*host;		/* relay name or IP literal; conn.c
					   hands tlsio_connect the A-label */
	const char	*trust_file;	/* CA bundle; NULL = system store */
	const char	*cert_file;	/* client certificate (chain); borrowed
					   for the connection's life */
	const char	*key_file;	/* its key; NULL = in cert_file */
	const char	*fingerprint;	/* SHA-256 pin, hex with or without
					   colons, "SHA256:" prefix allowed */
	int		 nocheck;	/* --tls-certcheck=off */
	int		 min_version;	/* 12 or 13 */
	/* when set, a certificate that fails verification is still
	 * described (--serverinfo), one line per call */
	void		(*describe)(void *, const char *);
	void		*describe_arg;
};

struct tlsio;

/* Check the options (pin syntax, files readable) without a server:
 * FAIL_USAGE or FAIL_CONFIG. */
int		 tlsio_check_opts(const struct tlsio_opts *, struct fail *);
/*
 * Handshake on the connected non-blocking socket fd, then verify.
 * FAIL_TLS on any TLS failure (an alert from the server, a refused
 * certificate, no common version), named in users' words; FAIL_TEMP
 * on timeout, or when the link ends without an alert (SPEC: EOF
 * during the handshake is temporary).
 */
struct tlsio	*tlsio_connect(int fd, const struct tlsio_opts *,
		    long long deadline, struct fail *);
/*
 * Results of tlsio_read (which returns > 0 bytes, or 0 when the
 * stream ended: close_notify, or EOF/reset without an alert) and
 * tlsio_write (0 when all is written).  TLSIO_ERROR is a TLS failure:
 * a fatal alert (TLS 1.3 servers refuse a client certificate only
 * after the client's side of the handshake is done) or a bad record;
 * tlsio_error() says what.  TLSIO_ERRNO: a system error, in errno.
 */
#define TLSIO_ERROR	(-1)
#define TLSIO_TIMEOUT	(-2)
#define TLSIO_EOF	(-3)	/* tlsio_write only: the link is gone */
#define TLSIO_ERRNO	(-4)
ssize_t		 tlsio_read(struct tlsio *, void *, size_t, long long);
int		 tlsio_write(struct tlsio *, const void *, size_t, long long);
/* The last TLSIO_ERROR in users' words with the alert's name; "" if
 * none.  Valid until tlsio_close(). */
const char	*tlsio_error(const struct tlsio *);
/* What the user could change about that failure (util.h), or none. */
enum fail_hint	 tlsio_hint(const struct tlsio *);
/* Send close_notify (bounded by the deadline) and free. */
void		 tlsio_close(struct tlsio *, long long deadline);
/* Protocol, cipher, certificate chain (subject, issuer, validity,
 * SHA-256) and the verification result, one line per call of out. */
void		 tlsio_describe(struct tlsio *,
		    void (*out)(void *, const char *), void *);

#endif
