/*
 * auth.h - SASL client mechanisms for SMTP AUTH (RFC 4954), as a pure
 * library: no I/O, no printing.  The SMTP engine drives it:
 *
 *	s = sasl_new(mech, user, secret, host, port);
 *	sasl_start(s, &ir, f)		ir != NULL: "AUTH MECH ir"
 *					ir == NULL: "AUTH MECH"
 *	while the reply is 334:
 *		sasl_step(s, text, len, &resp, f)	send resp + CRLF
 *	on 235:	sasl_finish(s, text, len, f)	-1: treat as auth failure
 *	sasl_free(s)
 *
 * Everything crossing this interface is base64 text as it appears on
 * the wire (RFC 4954 4), so the engine never holds a decoded secret and
 * needs no OpenSSL: responses are owned by the struct sasl, valid until
 * the next call, and wiped on the next call and by sasl_free().
 *
 * Errors: FAIL_AUTH when the server cannot be trusted or refused us
 * (bad SCRAM signature, e= error), FAIL_PROTOCOL for a malformed or
 * unexpected challenge, FAIL_CONFIG for credentials the mechanism cannot
 * carry, FAIL_INTERNAL when OpenSSL fails (MD5 missing in FIPS mode).
 */
#ifndef SMTPSEND_AUTH_H
#define SMTPSEND_AUTH_H

#include <stddef.h>
#include "util.h"

enum sasl_mech {
	SASL_PLAIN,		/* RFC 4616 */
	SASL_LOGIN,		/* draft-murchison-sasl-login */
	SASL_CRAM_MD5,		/* RFC 2195 */
	SASL_SCRAM_SHA_1,	/* RFC 5802 */
	SASL_SCRAM_SHA_256,	/* RFC 7677 */
	SASL_XOAUTH2,		/* Google/Microsoft, no RFC */
	SASL_OAUTHBEARER,	/* RFC 7628 */
	SASL_EXTERNAL,		/* RFC 4422 appendix A */
	SASL_MAX
};

/* "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", ... as in AUTH lines. */
extern const char *const sasl_mech_names[SASL_MAX];

/* Mechanism by name, case-insensitive ("scram-sha-256"); -1 unknown. */
int		 sasl_mech_parse(const char *);

/* Whether the mechanism needs a secret (all but EXTERNAL), and whether
 * that secret is an OAuth 2.0 access token rather than a password. */
int		 sasl_needs_secret(enum sasl_mech);
int		 sasl_is_oauth(enum sasl_mech);

/* Whether the server's space-separated AUTH list offers the mechanism
 * (case-insensitive, RFC 4954 3: mechanism names are case-insensitive). */
int		 sasl_offered(const char *server_list, enum sasl_mech);

/* sasl_pick() flags. */
#define SASL_PICK_TOKEN		0x01	/* the secret is an OAuth token */
#define SASL_PICK_CERT		0x02	/* a TLS client certificate is set */
#define SASL_PICK_NOPASS	0x04	/* no password or token available */

/*
 * --auth=on: the strongest mechanism both sides have, or -1.
 *   no flags:		SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN
 *   SASL_PICK_TOKEN:	OAUTHBEARER, XOAUTH2 (a token in PLAIN never works)
 *   SASL_PICK_CERT:	EXTERNAL as the last choice
 *   SASL_PICK_NOPASS:	nothing that needs a secret (so only EXTERNAL)
 * OAuth mechanisms are never picked for a password, nor EXTERNAL
 * without a certificate; a user may still name any of them.
 */
int		 sasl_pick(const char *server_list, unsigned flags);

struct sasl;

/*
 * A new exchange.  Strings are copied (user and secret wiped on free).
 * user may be NULL for EXTERNAL; secret is the password or token; host
 * and port go into OAUTHBEARER's kvpairs (RFC 7628 3.1; NULL / 0 to
 * leave them out).  Never fails (allocation failure exits, util.h).
 */
struct sasl	*sasl_new(enum sasl_mech, const char *user,
		    const char *secret, const char *host, unsigned port);

/* Test hook: use this SCRAM client nonce instead of a random one (RFC
 * 5802 and 7677 example exchanges).  Call before sasl_start(). */
void		 sasl_set_nonce(struct sasl *, const char *);

/*
 * The initial response (RFC 4954 4), base64: *resp is "=" when it is
 * empty (EXTERNAL), NULL when the mechanism has none (LOGIN, CRAM-MD5
 * wait for a challenge).  If "AUTH MECH resp" would be too long for
 * the server (RFC 4954 4: then the initial response MUST NOT be used),
 * send "AUTH MECH" alone and answer the server's empty 334 with the
 * same text, without calling sasl_step().  0, or -1 with f set.
 */
int		 sasl_start(struct sasl *, const char **resp, struct fail *);

/*
 * Answer a 334 challenge: chal/len is the reply text after "334 "
 * (base64; surrounding blanks are ignored).  *resp is the base64 line
 * to send, possibly "" (an empty line).  LOGIN ignores the prompt text
 * entirely (aiosmtpd ends its prompts with a NUL, some servers send
 * plain text) and answers by step: user, then password.  SCRAM checks
 * the server nonce, salt and iteration count, then verifies the
 * server-final signature.  XOAUTH2 answers an error challenge with an
 * empty line, OAUTHBEARER with "\x01" (RFC 7628 3.2.3); the server
 * then fails the command, and sasl_server_error() has its JSON.
 * 0, or -1 with f set (send "*" to cancel, RFC 4954 4, or QUIT).
 */
int		 sasl_step(struct sasl *, const char *chal, size_t len,
		    const char **resp, struct fail *);

/*
 * The server said 235.  text/len: the reply text after the enhanced
 * status code (may be empty).  SCRAM is successful only once the server
 * proved it knows the password (RFC 5802 5: the client MUST verify the
 * server signature): if that has not arrived in a 334 yet, text is
 * tried as a base64 server-final message ("additional data with
 * success", RFC 4422 3.6).  -1 with FAIL_AUTH when it is still missing
 * or wrong: treat as a failed AUTH, send no MAIL.  0 otherwise.
 */
int		 sasl_finish(struct sasl *, const char *text, size_t len,
		    struct fail *);

/* Whether the exchange is verified complete (SCRAM: server signature
 * checked; other mechanisms: the last response was produced). */
int		 sasl_complete(const struct sasl *);

/* The server's OAuth error (RFC 7628 3.2.2 JSON, or XOAUTH2's), made
 * safe for a terminal; NULL if none.  Its presence means the token was
 * refused: the engine may fetch a fresh token once and retry. */
const char	*sasl_server_error(const struct sasl *);

/* Wipe (OPENSSL_cleanse) every secret, derived key and response. */
void		 sasl_free(struct sasl *);

/*
 * Base64 (RFC 4648 4), no line wrapping.  b64_encode returns a malloc'ed
 * NUL-terminated string.  b64_decode is strict: only the alphabet, the
 * length a multiple of 4, at most two '=' and only at the end, unused
 * bits zero (RFC 4648 3.5); *out is malloc'ed with a NUL after outlen
 * bytes.  -1 if invalid (nothing allocated).
 */
char		*b64_encode(const unsigned char *, size_t);
int		 b64_decode(const char *, size_t, unsigned char **out,
		    size_t *outlen);

/* Wipe a NUL-terminated secret and free it (NULL is fine). */
void		 sasl_secret_free(char *);

#endif
