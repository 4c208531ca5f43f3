/*
 * auth.c - SASL client mechanisms (RFC 4422) for SMTP AUTH (RFC 4954):
 * PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/-256, XOAUTH2, OAUTHBEARER,
 * EXTERNAL, and strict base64.  No I/O: the engine carries the lines.
 *
 * Every buffer that held a secret or a key derived from one is wiped
 * with OPENSSL_cleanse() before it is freed or goes out of scope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"

/* Random bytes in a SCRAM client nonce: RFC 5802 5.1 asks for a
 * "sequence of random printable characters"; 192 bits (32 base64
 * characters) makes a repeat negligible. */
#define SCRAM_NONCE_BYTES	24
/* Iteration count: RFC 7677 4 asks servers for at least 4096, but old
 * Cyrus sasldb entries used fewer, so any count >= 1 is taken (the
 * server holds the password's equivalent anyway).  The upper bound caps
 * the CPU a hostile server can make us burn: PBKDF2-SHA-256 at 10^6
 * rounds takes about half a second. */
#define SCRAM_ITER_MAX		1000000
/* Digits in an iteration count: enough for SCRAM_ITER_MAX. */
#define SCRAM_ITER_DIGITS	7
/* Decoded challenge bytes accepted: a SCRAM server-first message is
 * about 100 bytes, an OAuth error JSON a few hundred; smtp.h's
 * SMTP_REPLY_MAX (16 KiB) bounds a reply anyway. */
#define SASL_CHAL_MAX		(16 * 1024)
/* Bytes of a server's OAuth error kept for the user (after escaping). */
#define SASL_ERR_MAX		512

struct sasl {
	enum sasl_mech	 mech;
	int		 started;	/* sasl_start() was called */
	int		 step;		/* challenges answered */
	int		 complete;
	char		*user;
	char		*secret;
	char		*host;
	unsigned	 port;
	char		*nonce;		/* SCRAM client nonce */
	char		*cfirst;	/* SCRAM client-first-message-bare */
	unsigned char	 ssig[EVP_MAX_MD_SIZE];	/* expected ServerSignature */
	size_t		 ssiglen;
	char		*resp;		/* last response, base64 */
	char		 err[SASL_ERR_MAX];
	int		 has_err;
};

/* A growable byte buffer whose old storage is wiped when it moves. */
struct buf {
	char	*p;
	size_t	 n, cap;
};

static void	 buf_add(struct buf *, const void *, size_t);
static void	 buf_adds(struct buf *, const char *);
static void	 buf_saslname(struct buf *, const char *);
static void	 buf_wipe(struct buf *);
static void	 wipe_free(void *, size_t);
static void	 set_resp(struct sasl *, const void *, size_t);
static int	 bad_chars(const char *, int space_too);
static const char *shown(char *, size_t, const void *, size_t);
static int	 check_creds(struct sasl *, struct fail *);
static int	 b64val(unsigned char);
static int	 chal_decode(const char *, size_t, unsigned char **,
		    size_t *);
static int	 plain_start(struct sasl *);
static int	 oauth_start(struct sasl *);
static int	 scram_start(struct sasl *, struct fail *);
static const EVP_MD *scram_md(const struct sasl *);
static const char *scram_attr(const char **, char, size_t *);
static int	 scram_iter(const char *, size_t);
static int	 scram_parse_first(struct sasl *, const char *,
		    const char **, size_t *, unsigned char **, size_t *,
		    int *, struct fail *);
static int	 scram_keys(struct sasl *, const unsigned char *, size_t,
		    int, const struct buf *, unsigned char *, struct fail *);
static int	 scram_first(struct sasl *, const char *, size_t,
		    struct fail *);
static int	 scram_final(struct sasl *, const char *, size_t,
		    struct fail *);
static int	 cram_step(struct sasl *, const unsigned char *, size_t,
		    struct fail *);
static int	 login_step(struct sasl *);
static int	 oauth_step(struct sasl *, const unsigned char *, size_t,
		    int);

const char *const sasl_mech_names[SASL_MAX] = {
	[SASL_PLAIN] = "PLAIN",
	[SASL_LOGIN] = "LOGIN",
	[SASL_CRAM_MD5] = "CRAM-MD5",
	[SASL_SCRAM_SHA_1] = "SCRAM-SHA-1",
	[SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[SASL_XOAUTH2] = "XOAUTH2",
	[SASL_OAUTHBEARER] = "OAUTHBEARER",
	[SASL_EXTERNAL] = "EXTERNAL",
};

int
sasl_mech_parse(const char *name)
{
	for (int m = 0; m < SASL_MAX; m++)
		if (strcasecmp(name, sasl_mech_names[m]) == 0)
			return m;
	return -1;
}

int
sasl_needs_secret(enum sasl_mech m)
{
	return m != SASL_EXTERNAL;
}

int
sasl_is_oauth(enum sasl_mech m)
{
	return m == SASL_XOAUTH2 || m == SASL_OAUTHBEARER;
}

int
sasl_offered(const char *list, enum sasl_mech m)
{
	const char *name = sasl_mech_names[m];
	size_t nlen = strlen(name);

	while (*list != '\0') {
		size_t n;

		list += strspn(list, " \t");
		n = strcspn(list, " \t");
		if (n == nlen && strncasecmp(list, name, n) == 0)
			return 1;
		list += n;
	}
	return 0;
}

int
sasl_pick(const char *list, unsigned flags)
{
	/* Strongest first: SCRAM never shows the server the password and
	 * proves the server knows it; CRAM-MD5 hides it at least. */
	static const enum sasl_mech pass[] = {
		SASL_SCRAM_SHA_256, SASL_SCRAM_SHA_1, SASL_CRAM_MD5,
		SASL_PLAIN, SASL_LOGIN,
	};
	/* RFC 7628 is the standard; XOAUTH2 is its older Google form. */
	static const enum sasl_mech token[] = {
		SASL_OAUTHBEARER, SASL_XOAUTH2,
	};
	const enum sasl_mech *order = pass;
	size_t n = sizeof(pass) / sizeof(pass[0]);

	if (flags & SASL_PICK_TOKEN) {
		order = token;
		n = sizeof(token) / sizeof(token[0]);
	}
	if (!(flags & SASL_PICK_NOPASS))
		for (size_t i = 0; i < n; i++)
			if (sasl_offered(list, order[i]))
				return order[i];
	if ((flags & SASL_PICK_CERT) && sasl_offered(list, SASL_EXTERNAL))
		return SASL_EXTERNAL;
	return -1;
}

struct sasl *
sasl_new(enum sasl_mech m, const char *user, const char *secret,
    const char *host, unsigned port)
{
	struct sasl *s = xcalloc(1, sizeof(*s));

	s->mech = m;
	s->user = user ? xstrdup(user) : NULL;
	s->secret = secret ? xstrdup(secret) : NULL;
	s->host = host ? xstrdup(host) : NULL;
	s->port = port;
	return s;
}

void
sasl_set_nonce(struct sasl *s, const char *nonce)
{
	free(s->nonce);
	s->nonce = xstrdup(nonce);
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	sasl_secret_free(s->user);
	sasl_secret_free(s->secret);
	free(s->host);
	free(s->nonce);
	sasl_secret_free(s->cfirst);
	sasl_secret_free(s->resp);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

void
sasl_secret_free(char *p)
{
	if (p != NULL)
		wipe_free(p, strlen(p) + 1);
}

int
sasl_complete(const struct sasl *s)
{
	return s->complete;
}

const char *
sasl_server_error(const struct sasl *s)
{
	return s->has_err ? s->err : NULL;
}

int
sasl_start(struct sasl *s, const char **resp, struct fail *f)
{
	int rc = 0;

	*resp = NULL;
	if (s->started) {
		fail_set(f, FAIL_INTERNAL, "AUTH %s started twice",
		    sasl_mech_names[s->mech]);
		return -1;
	}
	s->started = 1;
	if (check_creds(s, f) == -1)
		return -1;
	switch (s->mech) {
	case SASL_PLAIN:
		rc = plain_start(s);
		break;
	case SASL_LOGIN:
	case SASL_CRAM_MD5:
		return 0;	/* they wait for the server's challenge */
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
		rc = scram_start(s, f);
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		rc = oauth_start(s);
		break;
	case SASL_EXTERNAL:
		/* An empty authorization identity: the server derives it
		 * from the certificate.  RFC 4954 4: a zero-length initial
		 * response is sent as "=". */
		set_resp(s, "", 0);
		s->complete = 1;
		break;
	default:
		fail_set(f, FAIL_INTERNAL, "unknown SASL mechanism %d",
		    (int)s->mech);
		return -1;
	}
	if (rc == -1)
		return -1;
	*resp = s->resp[0] != '\0' ? s->resp : "=";
	return 0;
}

int
sasl_step(struct sasl *s, const char *chal, size_t len, const char **resp,
    struct fail *f)
{
	const char *mname = sasl_mech_names[s->mech];
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	int ok, rc = -2;	/* -2: no challenge expected now */

	*resp = NULL;
	if (!s->started) {
		fail_set(f, FAIL_INTERNAL, "AUTH %s: step before start", mname);
		return -1;
	}
	/* LOGIN ignores the prompt, so a prompt that is not base64 (or
	 * ends in a NUL, aiosmtpd) does not matter. */
	ok = s->mech == SASL_LOGIN ? 0 :
	    chal_decode(chal, len, &raw, &rawlen);
	switch (s->mech) {
	case SASL_LOGIN:
		rc = login_step(s);
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		/* An error challenge we cannot decode is still one. */
		if (s->step == 0)
			rc = oauth_step(s, raw, rawlen, ok);
		break;
	case SASL_PLAIN:
	case SASL_EXTERNAL:
		break;		/* everything was in the initial response */
	default:
		if (ok == -1) {
			fail_set(f, FAIL_PROTOCOL, "AUTH %s: the server's "
			    "challenge is not valid base64", mname);
			return -1;
		}
		if (s->mech == SASL_CRAM_MD5)
			rc = cram_step(s, raw, rawlen, f);
		else if (s->step == 0)
			rc = scram_first(s, (char *)raw, rawlen, f);
		else if (s->step == 1)
			rc = scram_final(s, (char *)raw, rawlen, f);
		break;
	}
	if (raw != NULL)
		wipe_free(raw, rawlen);
	if (rc == -1)
		return -1;
	if (rc != 0 || s->resp == NULL) {
		fail_set(f, FAIL_PROTOCOL, "AUTH %s: unexpected 334 challenge "
		    "after the last response", mname);
		return -1;
	}
	s->step++;
	*resp = s->resp;
	return 0;
}

int
sasl_finish(struct sasl *s, const char *text, size_t len, struct fail *f)
{
	const char *mname = sasl_mech_names[s->mech];
	unsigned char *raw;
	size_t rawlen;

	if (!s->started) {
		fail_set(f, FAIL_INTERNAL, "AUTH %s: finish before start",
		    mname);
		return -1;
	}
	if (s->mech != SASL_SCRAM_SHA_1 && s->mech != SASL_SCRAM_SHA_256) {
		s->complete = 1;
		return 0;
	}
	if (s->complete)
		return 0;
	/* The server-final message may ride on the 235 itself. */
	if (s->step == 1 && chal_decode(text, len, &raw, &rawlen) == 0) {
		struct fail tmp = { 0 };
		int rc = scram_final(s, (char *)raw, rawlen, &tmp);

		wipe_free(raw, rawlen);
		if (rc == 0)
			return 0;
		if (tmp.cls == FAIL_AUTH) {
			fail_set(f, tmp.cls, "%s", tmp.msg);
			return -1;
		}
	}
	fail_set(f, FAIL_AUTH, "AUTH %s: the server said 235 without "
	    "proving it knows the password (no SCRAM server signature); "
	    "not trusting it", mname);
	return -1;
}

/*
 * Credentials the mechanism can carry: no control bytes in a user name
 * (they would break the line or the SCRAM/OAuth syntax); an OAuth token
 * is a single RFC 6750 b64token.
 */
static int
check_creds(struct sasl *s, struct fail *f)
{
	const char *mname = sasl_mech_names[s->mech];

	if (s->mech != SASL_EXTERNAL &&
	    (s->user == NULL || s->user[0] == '\0')) {
		fail_set(f, FAIL_CONFIG, "AUTH %s needs a user name", mname);
		fail_hint(f, HINT_USER);
		return -1;
	}
	if (s->user != NULL && bad_chars(s->user, 0)) {
		fail_set(f, FAIL_CONFIG, "the user name contains a control "
		    "character");
		return -1;
	}
	if (sasl_needs_secret(s->mech) && s->secret == NULL) {
		fail_set(f, FAIL_CONFIG, "AUTH %s needs a %s", mname,
		    sasl_is_oauth(s->mech) ? "token" : "password");
		return -1;
	}
	if (sasl_is_oauth(s->mech) &&
	    (s->secret[0] == '\0' || bad_chars(s->secret, 1))) {
		fail_set(f, FAIL_CONFIG, "the OAuth token is empty or holds "
		    "a space or control character (does the password command "
		    "print more than the token?)");
		return -1;
	}
	return 0;
}

static int
bad_chars(const char *p, int space_too)
{
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || (space_too && c == ' '))
			return 1;
	}
	return 0;
}

/* RFC 4616 2: [authzid] NUL authcid NUL passwd; authzid left empty. */
static int
plain_start(struct sasl *s)
{
	struct buf b = { 0 };

	buf_add(&b, "", 1);
	buf_adds(&b, s->user);
	buf_add(&b, "", 1);
	buf_adds(&b, s->secret);
	set_resp(s, b.p, b.n);
	buf_wipe(&b);
	s->complete = 1;
	return 0;
}

/* Answer by step, whatever the prompt says: user, then password. */
static int
login_step(struct sasl *s)
{
	if (s->step == 0)
		set_resp(s, s->user, strlen(s->user));
	else if (s->step == 1) {
		set_resp(s, s->secret, strlen(s->secret));
		s->complete = 1;
	} else
		return -2;
	return 0;
}

/* RFC 2195 2: user SP lowercase-hex(HMAC-MD5(secret, challenge)). */
static int
cram_step(struct sasl *s, const unsigned char *chal, size_t len,
    struct fail *f)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char digest[2 * EVP_MAX_MD_SIZE];
	struct buf b = { 0 };

	if (s->step != 0)
		return -2;
	if (len == 0) {
		fail_set(f, FAIL_PROTOCOL, "AUTH CRAM-MD5: empty challenge");
		return -1;
	}
	if (HMAC(EVP_md5(), s->secret, (int)strlen(s->secret), chal, len,
	    mac, &maclen) == NULL) {
		fail_set(f, FAIL_INTERNAL, "AUTH CRAM-MD5: HMAC-MD5 is not "
		    "available (FIPS mode?); choose another mechanism");
		return -1;
	}
	for (unsigned int i = 0; i < maclen; i++) {
		digest[2 * i] = hex[mac[i] >> 4];
		digest[2 * i + 1] = hex[mac[i] & 15];
	}
	buf_adds(&b, s->user);
	buf_add(&b, " ", 1);
	buf_add(&b, digest, 2 * (size_t)maclen);
	set_resp(s, b.p, b.n);
	buf_wipe(&b);
	OPENSSL_cleanse(mac, sizeof(mac));
	s->complete = 1;
	return 0;
}

/*
 * XOAUTH2 (Google's "OAuth 2.0 Mechanism" page):
 *	"user=" user ^A "auth=Bearer " token ^A ^A
 * OAUTHBEARER (RFC 7628 3.1): a GS2 header naming the user, then
 * kvpairs, each ended by ^A, and a final ^A:
 *	"n,a=" saslname "," ^A "host=" h ^A "port=" p ^A "auth=Bearer " t ^A ^A
 */
static int
oauth_start(struct sasl *s)
{
	struct buf b = { 0 };

	if (s->mech == SASL_XOAUTH2) {
		buf_adds(&b, "user=");
		buf_adds(&b, s->user);
	} else {
		buf_adds(&b, "n,a=");
		buf_saslname(&b, s->user);
		buf_adds(&b, ",");
		if (s->host != NULL && s->host[0] != '\0') {
			buf_adds(&b, "\001host=");
			buf_adds(&b, s->host);
		}
		if (s->port != 0) {
			char port[32];	/* ^A "port=" 10 digits NUL: 17 */

			snprintf(port, sizeof(port), "\001port=%u", s->port);
			buf_adds(&b, port);
		}
	}
	buf_adds(&b, "\001auth=Bearer ");
	buf_adds(&b, s->secret);
	buf_adds(&b, "\001\001");
	set_resp(s, b.p, b.n);
	buf_wipe(&b);
	s->complete = 1;
	return 0;
}

/*
 * A 334 after the token is the server's error (JSON with "status").
 * RFC 7628 3.2.3: answer with a lone ^A so the server can finish with
 * a failure; XOAUTH2 (Google) wants an empty line.
 */
static int
oauth_step(struct sasl *s, const unsigned char *raw, size_t len, int ok)
{
	if (ok == 0)
		shown(s->err, sizeof(s->err), raw, len);
	else
		xstrlcpy(s->err, "(not valid base64)", sizeof(s->err));
	s->has_err = 1;
	s->complete = 0;
	if (s->mech == SASL_OAUTHBEARER)
		set_resp(s, "\001", 1);
	else
		set_resp(s, "", 0);
	return 0;
}

static const EVP_MD *
scram_md(const struct sasl *s)
{
	return s->mech == SASL_SCRAM_SHA_1 ? EVP_sha1() : EVP_sha256();
}

/*
 * RFC 5802 7: client-first-message = gs2-header client-first-bare, with
 * gs2-header "n,," (no channel binding, no authzid) and
 * client-first-bare = "n=" saslname ",r=" c-nonce.
 */
static int
scram_start(struct sasl *s, struct fail *f)
{
	struct buf b = { 0 };

	if (s->nonce == NULL) {
		unsigned char rnd[SCRAM_NONCE_BYTES];

		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			fail_set(f, FAIL_INTERNAL, "AUTH %s: no random bytes "
			    "for the nonce", sasl_mech_names[s->mech]);
			return -1;
		}
		s->nonce = b64_encode(rnd, sizeof(rnd));
	}
	buf_adds(&b, "n=");
	buf_saslname(&b, s->user);
	buf_adds(&b, ",r=");
	buf_adds(&b, s->nonce);
	s->cfirst = xstrndup(b.p, b.n);
	buf_wipe(&b);
	buf_adds(&b, "n,,");
	buf_adds(&b, s->cfirst);
	set_resp(s, b.p, b.n);
	buf_wipe(&b);
	return 0;
}

/*
 * One "X=value" attribute at *pp (RFC 5802 5.1); advances past its
 * comma.  NULL when the next attribute is not X.
 */
static const char *
scram_attr(const char **pp, char name, size_t *vlen)
{
	const char *p = *pp, *v;

	if (p[0] != name || p[1] != '=')
		return NULL;
	v = p + 2;
	*vlen = strcspn(v, ",");
	*pp = v + *vlen + (v[*vlen] == ',');
	return v;
}

/* RFC 5802 7: iteration-count = posit-number (no sign, no leading 0). */
static int
scram_iter(const char *v, size_t len)
{
	int n = 0;

	if (len == 0 || len > SCRAM_ITER_DIGITS || v[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n <= SCRAM_ITER_MAX ? n : -1;
}

/*
 * RFC 5802 7: server-first-message = [reserved-mext ","] nonce ","
 * salt "," iteration-count ["," extensions].  The nonce must extend
 * ours (5.1: else a replayed or foreign exchange).
 */
static int
scram_parse_first(struct sasl *s, const char *msg, const char **nonce,
    size_t *nlen, unsigned char **salt, size_t *saltlen, int *iter,
    struct fail *f)
{
	const char *p = msg, *v;
	size_t vlen, cn = strlen(s->nonce);

	if ((v = scram_attr(&p, 'r', nlen)) == NULL) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: no nonce from the server");
		return -1;
	}
	*nonce = v;
	if (*nlen <= cn || memcmp(v, s->nonce, cn) != 0) {
		fail_set(f, FAIL_AUTH, "SCRAM: the server nonce does not "
		    "extend ours (replayed or foreign exchange)");
		return -1;
	}
	for (size_t i = 0; i < *nlen; i++)
		if (v[i] < 0x21 || v[i] > 0x7e) {
			fail_set(f, FAIL_PROTOCOL, "SCRAM: bad server nonce");
			return -1;
		}
	if ((v = scram_attr(&p, 's', &vlen)) == NULL || vlen == 0 ||
	    b64_decode(v, vlen, salt, saltlen) == -1 || *saltlen == 0) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: missing or bad salt");
		return -1;
	}
	if ((v = scram_attr(&p, 'i', &vlen)) == NULL ||
	    (*iter = scram_iter(v, vlen)) == -1) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: iteration count missing or "
		    "outside 1..%d", SCRAM_ITER_MAX);
		free(*salt);
		*salt = NULL;
		return -1;
	}
	return 0;		/* extensions after i= are ignored */
}

static int
scram_first(struct sasl *s, const char *msg, size_t len, struct fail *f)
{
	const char *nonce;
	size_t nlen, saltlen;
	unsigned char *salt = NULL, proof[EVP_MAX_MD_SIZE];
	struct buf cfinal = { 0 }, amsg = { 0 }, out = { 0 };
	int iter, rc;
	char *p64;

	if (memchr(msg, '\0', len) != NULL) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: NUL in server-first "
		    "message");
		return -1;
	}
	if (strncmp(msg, "e=", 2) == 0) {	/* RFC 5802 erratum 5271 */
		char err[256];	/* shown on one line */

		fail_set(f, FAIL_AUTH, "SCRAM: server error: %s",
		    shown(err, sizeof(err), msg + 2, len - 2));
		return -1;
	}
	if (strncmp(msg, "m=", 2) == 0) {
		fail_set(f, FAIL_AUTH, "SCRAM: the server requires an "
		    "extension we do not know (m=)");
		return -1;
	}
	if (scram_parse_first(s, msg, &nonce, &nlen, &salt, &saltlen, &iter,
	    f) == -1)
		return -1;
	/* client-final-message-without-proof: "c=biws" is base64("n,,"). */
	buf_adds(&cfinal, "c=biws,r=");
	buf_add(&cfinal, nonce, nlen);
	/* RFC 5802 3: AuthMessage = client-first-message-bare + "," +
	 * server-first-message + "," + client-final-message-without-proof */
	buf_adds(&amsg, s->cfirst);
	buf_add(&amsg, ",", 1);
	buf_add(&amsg, msg, len);
	buf_add(&amsg, ",", 1);
	buf_add(&amsg, cfinal.p, cfinal.n);
	rc = scram_keys(s, salt, saltlen, iter, &amsg, proof, f);
	if (rc == 0) {
		p64 = b64_encode(proof, (size_t)EVP_MD_get_size(scram_md(s)));
		buf_add(&out, cfinal.p, cfinal.n);
		buf_adds(&out, ",p=");
		buf_adds(&out, p64);
		set_resp(s, out.p, out.n);
		sasl_secret_free(p64);
	}
	free(salt);
	buf_wipe(&cfinal);
	buf_wipe(&amsg);
	buf_wipe(&out);
	OPENSSL_cleanse(proof, sizeof(proof));
	return rc;
}

/*
 * RFC 5802 3:
 *	SaltedPassword  := Hi(Normalize(password), salt, i)	(PBKDF2)
 *	ClientKey       := HMAC(SaltedPassword, "Client Key")
 *	StoredKey       := H(ClientKey)
 *	ClientSignature := HMAC(StoredKey, AuthMessage)
 *	ClientProof     := ClientKey XOR ClientSignature
 *	ServerKey       := HMAC(SaltedPassword, "Server Key")
 *	ServerSignature := HMAC(ServerKey, AuthMessage)	(kept to verify)
 * Normalize() is SASLprep (RFC 4013); we use the password's bytes as
 * they are, which is the same for ASCII passwords.
 */
static int
scram_keys(struct sasl *s, const unsigned char *salt, size_t saltlen,
    int iter, const struct buf *amsg, unsigned char *proof, struct fail *f)
{
	const EVP_MD *md = scram_md(s);
	int hlen = EVP_MD_get_size(md);
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
	unsigned char skey[EVP_MAX_MD_SIZE];
	unsigned int l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0;
	int ok;

	ok = PKCS5_PBKDF2_HMAC(s->secret, (int)strlen(s->secret), salt,
	    (int)saltlen, iter, md, hlen, salted) == 1 &&
	    HMAC(md, salted, hlen, (const unsigned char *)"Client Key", 10,
	    ckey, &l1) != NULL &&
	    EVP_Digest(ckey, (size_t)hlen, stored, &l2, md, NULL) == 1 &&
	    HMAC(md, stored, hlen, (const unsigned char *)amsg->p, amsg->n,
	    csig, &l3) != NULL &&
	    HMAC(md, salted, hlen, (const unsigned char *)"Server Key", 10,
	    skey, &l4) != NULL &&
	    HMAC(md, skey, hlen, (const unsigned char *)amsg->p, amsg->n,
	    s->ssig, &l5) != NULL;
	if (ok)
		for (int i = 0; i < hlen; i++)
			proof[i] = ckey[i] ^ csig[i];
	s->ssiglen = l5;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(skey, sizeof(skey));
	if (!ok) {
		fail_set(f, FAIL_INTERNAL, "AUTH %s: OpenSSL could not derive "
		    "the keys", sasl_mech_names[s->mech]);
		return -1;
	}
	return 0;
}

/*
 * RFC 5802 7: server-final-message = (server-error / verifier)
 * ["," extensions].  A wrong verifier means the server does not know
 * the password: an impostor, even with a valid certificate.
 */
static int
scram_final(struct sasl *s, const char *msg, size_t len, struct fail *f)
{
	const char *p = msg, *v;
	unsigned char *sig;
	size_t vlen, siglen;
	int good;

	if (memchr(msg, '\0', len) != NULL) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: NUL in server-final "
		    "message");
		return -1;
	}
	if ((v = scram_attr(&p, 'e', &vlen)) != NULL) {
		char err[256];	/* shown on one line */

		fail_set(f, FAIL_AUTH, "SCRAM: server error: %s",
		    shown(err, sizeof(err), v, vlen));
		return -1;
	}
	if ((v = scram_attr(&p, 'v', &vlen)) == NULL ||
	    b64_decode(v, vlen, &sig, &siglen) == -1) {
		fail_set(f, FAIL_PROTOCOL, "SCRAM: malformed server-final "
		    "message");
		return -1;
	}
	good = s->ssiglen > 0 && siglen == s->ssiglen &&
	    CRYPTO_memcmp(sig, s->ssig, siglen) == 0;
	free(sig);
	if (!good) {
		fail_set(f, FAIL_AUTH, "AUTH %s: server signature mismatch "
		    "(the server does not know the password)",
		    sasl_mech_names[s->mech]);
		return -1;
	}
	s->complete = 1;
	set_resp(s, "", 0);	/* RFC 4954 4: an empty response to finish */
	return 0;
}

/* The text of a 334 (or 235) reply: base64, blanks around it ignored. */
static int
chal_decode(const char *p, size_t len, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	while (len > 0 && (p[0] == ' ' || p[0] == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
	    p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len / 4 * 3 > SASL_CHAL_MAX)
		return -1;
	return b64_decode(p, len, out, outlen);
}

/*
 * A server's text for a person (error messages): made safe for a
 * terminal, and cut to cap visibly, ending in "...".  len is bounded
 * by SASL_CHAL_MAX.
 */
static const char *
shown(char *out, size_t cap, const void *p, size_t len)
{
	/* sanitize() writes at most "\xHH" (4 octets) per input octet */
	size_t tcap = 4 * len + 1, n;
	char *t = xmalloc(tcap);

	sanitize(t, tcap, p, len);
	n = strlen(t);
	if (n >= cap) {
		n = cap - 1;
		if (cap >= 4)
			memcpy(t + cap - 4, "...", 3);
	}
	memcpy(out, t, n);
	out[n] = '\0';
	free(t);
	return out;
}

/* Replace the last response by base64(raw), wiping the old one. */
static void
set_resp(struct sasl *s, const void *raw, size_t n)
{
	sasl_secret_free(s->resp);
	s->resp = b64_encode(raw, n);
}

static void
wipe_free(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
	free(p);
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *np;

		while (cap < b->n + n + 1)
			cap *= 2;
		np = xmalloc(cap);
		if (b->n > 0)
			memcpy(np, b->p, b->n);
		if (b->p != NULL)
			wipe_free(b->p, b->cap);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* RFC 5802 5.1 / RFC 5801 4: in a saslname, "," is "=2C" and "=" is
 * "=3D".  No SASLprep (RFC 4013): ASCII names, the usual case, are
 * unchanged by it; other UTF-8 goes as it is. */
static void
buf_saslname(struct buf *b, const char *name)
{
	for (; *name != '\0'; name++) {
		if (*name == ',')
			buf_adds(b, "=2C");
		else if (*name == '=')
			buf_adds(b, "=3D");
		else
			buf_add(b, name, 1);
	}
}

static void
buf_wipe(struct buf *b)
{
	if (b->p != NULL)
		wipe_free(b->p, b->cap);
	b->p = NULL;
	b->n = b->cap = 0;
}

/* RFC 4648 4: the base64 alphabet. */
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
b64_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = b64chars[(v >> 18) & 63];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	size_t pad = 0, o = 0;
	unsigned char *buf;

	*out = NULL;
	*outlen = 0;
	if (len % 4 != 0)	/* RFC 4648 3.2: padding is required */
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	buf = xmalloc(len / 4 * 3 + 1);
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int last = i + 4 == len;

		for (int j = 0; j < 4; j++) {
			v[j] = b64val((unsigned char)in[i + j]);
			if (v[j] == -1 && last && j >= 4 - (int)pad)
				v[j] = 0;
			if (v[j] == -1)
				goto bad;
		}
		/* RFC 4648 3.5: bits beyond the data must be zero */
		if ((last && pad == 2 && (v[1] & 15) != 0) ||
		    (last && pad == 1 && (v[2] & 3) != 0))
			goto bad;
		buf[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!last || pad < 2)
			buf[o++] = (unsigned char)((v[1] & 15) << 4 |
			    v[2] >> 2);
		if (!last || pad < 1)
			buf[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
bad:
	wipe_free(buf, len / 4 * 3 + 1);
	return -1;
}
