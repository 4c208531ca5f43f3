/*
 * tlsio.c - OpenSSL 3 client side: context, verification on by
 * default, SNI and host check, handshake and I/O under deadlines on a
 * non-blocking socket, certificate details for --serverinfo.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tlsio.h"

/* Room for a failure in users' words plus the client certificate's
 * path (PATH_MAX is 4096, so a long path is cut, visibly). */
#define WHY_MAX		512

struct tlsio {
	SSL_CTX		*ctx;
	SSL		*ssl;
	int		 fd;
	long		 verify;	/* X509_V_OK or the error */
	int		 pinned;	/* verified by the pin */
	int		 nocheck;
	int		 alert;		/* last fatal alert received, or -1 */
	int		 cert_asked;	/* the server sent CertificateRequest */
	const char	*cert_file;	/* ours, or NULL (borrowed) */
	char		 why[WHY_MAX];	/* the last TLS failure, or "" */
	enum fail_hint	 hint;		/* what the user could change */
};

/* "SHA256:" and 32 octets as "AB:" without the last colon, NUL. */
#define FP_TEXT		(7 + 32 * 3)
/* A certificate name or date as shown (a typical subject is under 100
 * octets); longer ones are cut, visibly. */
#define SHOWN_MAX	256
/* One line of --serverinfo: at most two SHOWN_MAX texts and a label. */
#define INFO_LINE	(2 * SHOWN_MAX + 64)

static int	 wait_io(int, int, long long);
static int	 hexval(int);
static int	 parse_pin(const char *, unsigned char *);
static void	 show_cut(char *, size_t, const char *);
static void	 emit(void (*)(void *, const char *), void *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	 on_info(const SSL *, int, int);
static int	 on_cert_request(SSL *, void *);
static const char *alert_name(int);
static const char *alert_words(const struct tlsio *, int *,
	    enum fail_hint *);
static void	 set_why(struct tlsio *, unsigned long);
static int	 io_failed(struct tlsio *, int);
static int	 write_lost(struct tlsio *, int);

/* poll() the fd for what OpenSSL wants: 1 ready, 0 deadline, -1 error */
static int
wait_io(int fd, int want, long long deadline)
{
	return poll_until(fd, want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
	    deadline);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "SHA256:AB:CD..." or plain hex -> 32 bytes; -1 if malformed.  Two
 * hex digits per octet, nothing else (sscanf's %x would take a sign,
 * spaces or "0x"); more than 32 octets is an error, not cut off. */
static int
parse_pin(const char *s, unsigned char *out)
{
	size_t n = 0;

	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	while (*s) {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		if (n == 32 || (hi = hexval((unsigned char)s[0])) < 0 ||
		    (lo = hexval((unsigned char)s[1])) < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : -1;
}

/*
 * Display text s, escaped by sanitize(), into out (cap >= 4).  Text
 * that does not fit is cut at a UTF-8 character boundary and ends in
 * "...", so a reader sees it was cut (issue 9: no silent truncation).
 */
static void
show_cut(char *out, size_t cap, const char *s)
{
	size_t len = strlen(s), need, n;
	char *tmp;

	/* sanitize() writes at most 4 bytes ("\xHH") per input byte */
	need = len > (SIZE_MAX - 1) / 4 ? SIZE_MAX : 4 * len + 1;
	tmp = xmalloc(need);
	sanitize(tmp, need, s, len);
	if ((n = strlen(tmp)) < cap)
		memcpy(out, tmp, n + 1);
	else {
		n = cap - 4;
		while (n > 0 && ((unsigned char)tmp[n] & 0xc0) == 0x80)
			n--;
		memcpy(out, tmp, n);
		memcpy(out + n, "...", 4);
	}
	free(tmp);
}

/* One line to out(); a line too long for INFO_LINE is cut visibly. */
static void
emit(void (*out)(void *, const char *), void *arg, const char *fmt, ...)
{
	char line[INFO_LINE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		xstrlcpy(line, "?", sizeof(line));
	else if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	out(arg, line);
}

int
tlsio_check_opts(const struct tlsio_opts *o, struct fail *f)
{
	unsigned char pin[32];
	const char *files[3] = { o->trust_file, o->cert_file, o->key_file };
	static const char *const what[3] = { "trust file",
	    "client certificate", "key file" };
	static const enum fail_hint hint[3] = { HINT_TRUST_FILE,
	    HINT_CERT_FILE, HINT_KEY_FILE };

	if (o->fingerprint != NULL && parse_pin(o->fingerprint, pin) == -1) {
		fail_set(f, FAIL_USAGE, "invalid fingerprint: want SHA256: "
		    "and 32 hex octets");
		fail_hint(f, HINT_FINGERPRINT);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		if (files[i] != NULL && access(files[i], R_OK) != 0) {
			fail_set(f, FAIL_CONFIG, "TLS %s %s: %s", what[i],
			    files[i], strerror(errno));
			fail_hint(f, hint[i]);
			return -1;
		}
	if (o->key_file != NULL && o->cert_file == NULL) {
		fail_set(f, FAIL_USAGE, "a TLS key file needs its "
		    "certificate file");
		fail_hint(f, HINT_KEY_NEEDS_CERT);
		return -1;
	}
	return 0;
}

/* The first error in OpenSSL's queue, as text; clears the queue. */
static const char *
ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		xstrlcpy(buf, "handshake failed", cap);
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *
make_ctx(const struct tlsio_opts *o, struct fail *f)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];
	int ok = 1;

	if (ctx == NULL) {
		fail_set(f, FAIL_INTERNAL, "TLS: %s", ssl_reason(why,
		    sizeof(why)));
		return NULL;
	}
	/* Set explicitly, whatever the system's openssl.cnf says. */
	SSL_CTX_set_min_proto_version(ctx, o->min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (o->trust_file != NULL)
		ok = SSL_CTX_load_verify_file(ctx, o->trust_file);
	else if (access(X509_get_default_cert_dir(), R_OK) == 0)
		/* The hashed directory is read per lookup, lazily: no
		 * parsing of the whole bundle on every run. */
		ok = SSL_CTX_load_verify_dir(ctx, X509_get_default_cert_dir());
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (!ok) {
		fail_set(f, FAIL_CONFIG, "cannot load the trust store %s: %s",
		    o->trust_file ? o->trust_file : X509_get_default_cert_dir(),
		    ssl_reason(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (o->cert_file != NULL && (SSL_CTX_use_certificate_chain_file(ctx,
	    o->cert_file) != 1 || SSL_CTX_use_PrivateKey_file(ctx,
	    o->key_file ? o->key_file : o->cert_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)) {
		fail_set(f, FAIL_CONFIG, "cannot use client certificate %s: "
		    "%s", o->cert_file, ssl_reason(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int
is_ip(const char *h)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, h, buf) == 1 ||
	    inet_pton(AF_INET6, h, buf) == 1;
}

/* Alerts from the server, kept to name a failure: OpenSSL's error
 * queue is cleared before a caller could classify it, and a TLS 1.3
 * alert arrives after SSL_connect() already succeeded. */
static void
on_info(const SSL *ssl, int where, int val)
{
	struct tlsio *t = SSL_get_app_data(ssl);

	/* RFC 8446 6: every error alert is fatal; close_notify is not.
	 * Both bits: SSL_CB_ALERT alone also matches the alerts we send. */
	if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT &&
	    (val >> 8) == SSL3_AL_FATAL)
		t->alert = val & 0xff;
}

/* Called only when the server asks for a client certificate. */
static int
on_cert_request(SSL *ssl, void *arg)
{
	struct tlsio *t = arg;

	(void)ssl;
	t->cert_asked = 1;
	return 1;		/* go on, with or without a certificate */
}

static int
setup_ssl(struct tlsio *t, const struct tlsio_opts *o, struct fail *f)
{
	X509_VERIFY_PARAM *param;
	char why[256];
	int ok;

	if ((t->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(t->ssl, t->fd)
	    != 1) {
		fail_set(f, FAIL_INTERNAL, "TLS: %s", ssl_reason(why,
		    sizeof(why)));
		return -1;
	}
	SSL_set_app_data(t->ssl, t);
	SSL_set_info_callback(t->ssl, on_info);
	SSL_set_cert_cb(t->ssl, on_cert_request, t);
	param = SSL_get0_param(t->ssl);
	if (is_ip(o->host))
		/* RFC 6066 3: literal addresses are not sent as SNI */
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, o->host);
	else {
		/* Unchecked, a refused name (SNI is at most 255 octets)
		 * would leave the certificate's name unchecked. */
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(t->ssl, o->host) == 1 &&
		    SSL_set1_host(t->ssl, o->host) == 1;
	}
	if (!ok) {
		show_cut(why, sizeof(why), o->host);
		fail_set(f, FAIL_TLS, "TLS: cannot use %s as the server's "
		    "name", why);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* "SHA256:AB:...:EF", the pin syntax; "SHA256:?" if it fails. */
static void
fingerprint(X509 *x, char out[FP_TEXT])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *o = out + 7;

	memcpy(out, "SHA256:", 8);
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32) {
		memcpy(o, "?", 2);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ':';
		*o++ = hex[md[i] >> 4];
		*o++ = hex[md[i] & 15];
	}
	*o = '\0';
}

static void
name_line(X509_NAME *nm, char out[SHOWN_MAX])
{
	char *s = X509_NAME_oneline(nm, NULL, 0);

	show_cut(out, SHOWN_MAX, s != NULL ? s : "?");
	OPENSSL_free(s);
}

/* The failure in the words users know (issue 3: expired, unknown
 * issuer, name mismatch, pin mismatch); OpenSSL's text follows. */
static const char *
reason(long v, const char *pin)
{
	if (pin != NULL)
		return "pin mismatch";
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "not yet valid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "name mismatch";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "self-signed";
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "unknown issuer";
	default:
		return "untrusted";
	}
}

/* After the handshake: certificate present, chain or pin, name. */
static int
verify_peer(struct tlsio *t, const struct tlsio_opts *o, struct fail *f)
{
	X509 *x = SSL_get0_peer_certificate(t->ssl);
	char subj[SHOWN_MAX], iss[SHOWN_MAX], fp[FP_TEXT];
	const char *why = NULL;
	unsigned char pin[32], md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	t->verify = SSL_get_verify_result(t->ssl);
	if (x == NULL) {
		fail_set(f, FAIL_TLS, "TLS: the server sent no certificate");
		return -1;
	}
	/* --tls-certcheck=off skips the chain and name, never a pin the
	 * user gave: the pin is then the only check (issue 9). */
	if (o->nocheck && o->fingerprint == NULL)
		return 0;
	/* fits struct fail's 1024: two SHOWN_MAX, FP_TEXT, ~120 of text */
	name_line(X509_get_subject_name(x), subj);
	name_line(X509_get_issuer_name(x), iss);
	fingerprint(x, fp);
	if (o->fingerprint != NULL) {
		if (parse_pin(o->fingerprint, pin) == 0 &&
		    X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32 &&
		    CRYPTO_memcmp(md, pin, 32) == 0) {
			t->pinned = 1;
			return 0;
		}
		why = "fingerprint does not match the pin";
	} else if (t->verify != X509_V_OK)
		why = X509_verify_cert_error_string(t->verify);
	if (why == NULL)
		return 0;
	if (o->describe != NULL)	/* --serverinfo: show what it is */
		tlsio_describe(t, o->describe, o->describe_arg);
	fail_set(f, FAIL_TLS, "TLS certificate verification failed: %s%s%s "
	    "(subject %s, issuer %s, %s)", reason(t->verify, o->fingerprint),
	    o->fingerprint ? "" : ": ", o->fingerprint ? "" : why, subj, iss,
	    fp);
	return -1;
}

/* OpenSSL 3.0 has no names for TLS 1.3's new alerts (RFC 8446 6.2). */
static const char *
alert_name(int a)
{
	switch (a) {
	case SSL_AD_MISSING_EXTENSION:
		return "missing extension";
	case SSL_AD_CERTIFICATE_REQUIRED:
		return "certificate required";
	case SSL_AD_NO_APPLICATION_PROTOCOL:
		return "no application protocol";
	}
	return SSL_alert_desc_string_long(a);
}

#define NEEDS_CERT	"the server requires a client certificate"

/*
 * A fatal alert from the server in users' words (RFC 8446 6.2,
 * RFC 5246 7.2.2).  *ours is set when it is about our certificate.
 * A TLS 1.2 server that wants a certificate and gets none says only
 * handshake_failure; the CertificateRequest before it tells why.
 */
static const char *
alert_words(const struct tlsio *t, int *ours, enum fail_hint *hint)
{
	int none = t->cert_asked && t->cert_file == NULL;

	*ours = 0;
	switch (t->alert) {
	case SSL_AD_CERTIFICATE_REQUIRED:
		*hint = HINT_CERT_FILE;
		return NEEDS_CERT;
	case SSL_AD_HANDSHAKE_FAILURE:
		if (none)
			*hint = HINT_CERT_FILE;
		return none ? NEEDS_CERT : "no cipher or key exchange in "
		    "common with the server";
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
		if (none) {
			*hint = HINT_CERT_FILE;
			return NEEDS_CERT;
		}
		if (!t->cert_asked)
			break;
		*ours = 1;
		return "the server refused the client certificate";
	case SSL_AD_PROTOCOL_VERSION:
		*hint = HINT_MIN_VERSION;
		return "the server accepts none of the TLS versions offered";
	}
	return "the server ended the TLS session with an error";
}

/* t->why from the alert received, else from OpenSSL's first error. */
static void
set_why(struct tlsio *t, unsigned long err)
{
	const char *r = err ? ERR_reason_error_string(err) : NULL;
	int n, ours;

	if (r == NULL)
		r = "unknown TLS error";
	t->hint = HINT_NONE;
	if (t->alert >= 0) {
		const char *w = alert_words(t, &ours, &t->hint);

		n = snprintf(t->why, sizeof(t->why), "%s%s%s, alert \"%s\"",
		    w, ours ? " " : "", ours ? t->cert_file : "",
		    alert_name(t->alert));
	} else if (ERR_GET_LIB(err) == ERR_LIB_SSL && (ERR_GET_REASON(err) ==
	    SSL_R_UNSUPPORTED_PROTOCOL || ERR_GET_REASON(err) ==
	    SSL_R_NO_PROTOCOLS_AVAILABLE))
		n = snprintf(t->why, sizeof(t->why), "no TLS version in "
		    "common with the server (%s)", r), t->hint =
		    HINT_MIN_VERSION;
	else if (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) ==
	    SSL_R_WRONG_VERSION_NUMBER)
		n = snprintf(t->why, sizeof(t->why), "the server does not "
		    "answer in TLS (%s)", r);
	else
		n = snprintf(t->why, sizeof(t->why), "%s", r);
	if (n < 0 || (size_t)n >= sizeof(t->why))	/* cut, visibly */
		memcpy(t->why + sizeof(t->why) - 4, "...", 4);
}

/*
 * An SSL call failed with SSL_get_error() e, not WANT_*: reads the
 * error queue before clearing it.  TLSIO_EOF when the link just ended
 * (close_notify, or EOF or a reset without an alert: the peer should
 * send close_notify, RFC 8446 6.1, but many drop the link),
 * TLSIO_ERRNO for another system error (errno kept), TLSIO_ERROR for a
 * TLS failure, described in t->why.
 */
static int
io_failed(struct tlsio *t, int e)
{
	int saved = errno, rc = TLSIO_ERROR;
	unsigned long err = ERR_peek_error();

	if (t->alert < 0 && (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && err == 0) ||
	    (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) ==
	    SSL_R_UNEXPECTED_EOF_WHILE_READING))) {
		rc = TLSIO_EOF;
		if (e == SSL_ERROR_SYSCALL && saved != 0 && saved != EPIPE &&
		    saved != ECONNRESET)
			rc = TLSIO_ERRNO;
	} else
		set_why(t, err);
	ERR_clear_error();
	errno = saved;
	return rc;
}

struct tlsio *
tlsio_connect(int fd, const struct tlsio_opts *o, long long deadline,
    struct fail *f)
{
	struct tlsio *t = xcalloc(1, sizeof(*t));

	t->fd = fd;
	t->nocheck = o->nocheck;
	t->alert = -1;
	t->cert_file = o->cert_file;
	if ((t->ctx = make_ctx(o, f)) == NULL || setup_ssl(t, o, f) == -1)
		goto bad;
	for (;;) {
		int r, e, w;

		ERR_clear_error();
		if ((r = SSL_connect(t->ssl)) == 1)
			break;
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if ((w = wait_io(fd, e, deadline)) == 1)
				continue;
			fail_set(f, FAIL_TEMP, "TLS handshake %s", w == 0 ?
			    "timed out" : "failed: poll error");
			goto bad;
		}
		switch (io_failed(t, e)) {
		case TLSIO_EOF:
			fail_set(f, FAIL_TEMP, "connection lost during the TLS "
			    "handshake");
			break;
		case TLSIO_ERRNO:
			fail_set(f, FAIL_TEMP, "connection error during the "
			    "TLS handshake: %s", strerror(errno));
			break;
		default:
			fail_set(f, FAIL_TLS, "TLS handshake failed: %s",
			    t->why);
			fail_hint(f, t->hint);
		}
		goto bad;
	}
	if (verify_peer(t, o, f) == -1) {
		tlsio_close(t, now_ms() + 1000);
		return NULL;
	}
	return t;
bad:
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
	return NULL;
}

ssize_t
tlsio_read(struct tlsio *t, void *buf, size_t cap, long long deadline)
{
	for (;;) {
		size_t got = 0;
		int r, e, w;

		ERR_clear_error();	/* SSL_get_error() needs it empty */
		if ((r = SSL_read_ex(t->ssl, buf, cap, &got)) == 1)
			return (ssize_t)got;
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if ((w = wait_io(t->fd, e, deadline)) == 1)
				continue;
			return w == 0 ? TLSIO_TIMEOUT : TLSIO_ERRNO;
		}
		r = io_failed(t, e);
		return r == TLSIO_EOF ? 0 : r;
	}
}

int
tlsio_write(struct tlsio *t, const void *buf, size_t len, long long deadline)
{
	const char *p = buf;

	while (len > 0) {
		size_t put = 0;
		int r, e, w;

		ERR_clear_error();
		if ((r = SSL_write_ex(t->ssl, p, len, &put)) == 1) {
			p += put;
			len -= put;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if ((w = wait_io(t->fd, e, deadline)) == 1)
				continue;
			return w == 0 ? TLSIO_TIMEOUT : TLSIO_ERRNO;
		}
		return write_lost(t, io_failed(t, e));
	}
	return 0;
}

/*
 * A write found the link gone (rc from io_failed).  A TLS 1.3 server
 * that refuses our certificate sends its alert after our handshake
 * ended and closes, with a reset when our last records were unread;
 * if the reset beats our first write, the alert still waits in the
 * socket's receive queue.  Read it (without waiting) so the failure
 * says why; else the link was simply lost.
 */
static int
write_lost(struct tlsio *t, int rc)
{
	char scratch[512];	/* what the server sent before its alert */
	size_t got;
	int r, saved = errno;

	if (rc != TLSIO_EOF && rc != TLSIO_ERRNO)
		return rc;
	do {
		ERR_clear_error();
		r = SSL_read_ex(t->ssl, scratch, sizeof(scratch), &got);
	} while (r == 1);
	if (t->alert < 0) {
		ERR_clear_error();
		errno = saved;
		return rc;
	}
	return io_failed(t, SSL_get_error(t->ssl, r));
}

enum fail_hint
tlsio_hint(const struct tlsio *t)
{
	return t->hint;
}

const char *
tlsio_error(const struct tlsio *t)
{
	return t->why;
}

void
tlsio_close(struct tlsio *t, long long deadline)
{
	if (t == NULL)
		return;
	/* RFC 8446 6.1: send close_notify; do not wait for the peer's. */
	for (int i = 0; i < 4; i++) {
		int r = SSL_shutdown(t->ssl), e;

		if (r >= 0)
			break;
		e = SSL_get_error(t->ssl, r);
		if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
		    wait_io(t->fd, e, deadline) != 1)
			break;
	}
	ERR_clear_error();
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
}

/* The time as OpenSSL prints it ("Jan  1 00:00:00 2024 GMT"). */
static void
asn1_time(const ASN1_TIME *tm, char out[SHOWN_MAX])
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	xstrlcpy(out, "?", SHOWN_MAX);
	if (b == NULL)
		return;
	if (ASN1_TIME_print(b, tm) == 1 && (n = BIO_get_mem_data(b, &p)) >
	    0) {
		s = xstrndup(p, (size_t)n);
		show_cut(out, SHOWN_MAX, s);
		free(s);
	}
	BIO_free(b);
}

void
tlsio_describe(struct tlsio *t, void (*out)(void *, const char *), void *arg)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
	char a[SHOWN_MAX], b[SHOWN_MAX], c[FP_TEXT];

	emit(out, arg, "tls: %s, cipher %s", SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl));
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		name_line(X509_get_subject_name(x), a);
		name_line(X509_get_issuer_name(x), b);
		emit(out, arg, "certificate %d: subject %s", i, a);
		emit(out, arg, "  issuer %s", b);
		asn1_time(X509_get0_notBefore(x), a);
		asn1_time(X509_get0_notAfter(x), b);
		emit(out, arg, "  valid from %s until %s", a, b);
		fingerprint(x, c);
		emit(out, arg, "  %s", c);
	}
	if (t->pinned)
		emit(out, arg, "verification: ok (fingerprint pin)");
	else if (t->nocheck)
		emit(out, arg, "verification: skipped (certificate check "
		    "off)");
	else
		emit(out, arg, "verification: %s", t->verify == X509_V_OK ?
		    "ok" : X509_verify_cert_error_string(t->verify));
}
