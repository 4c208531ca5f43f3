/*
 * test_auth.c - SASL mechanisms against their RFC examples (RFC 4616
 * PLAIN, RFC 2195 CRAM-MD5, RFC 5802 SCRAM-SHA-1, RFC 7677
 * SCRAM-SHA-256, RFC 7628 OAUTHBEARER, Google's XOAUTH2 page), the
 * SCRAM failure paths, mechanism choice, strict base64 (RFC 4648 10),
 * and the netrc lookup.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "auth.h"
#include "conf.h"

/* Base64 of a C string, for writing challenges. */
static char *
enc(const char *s)
{
	return b64_encode((const unsigned char *)s, strlen(s));
}

/* Decoded bytes of a response must equal want/wantlen. */
static void
check_resp(const char *resp, const char *want, size_t wantlen)
{
	unsigned char *raw = NULL;
	size_t n = 0;

	CHECK(resp != NULL && b64_decode(resp, strlen(resp), &raw, &n) == 0);
	if (raw != NULL)
		CHECK_BYTES((char *)raw, n, want, wantlen);
	free(raw);
}

/* Feed a plain-text challenge; returns sasl_step's result. */
static int
step_text(struct sasl *s, const char *chal, const char **resp,
    struct fail *f)
{
	char *c = enc(chal);
	int rc = sasl_step(s, c, strlen(c), resp, f);

	free(c);
	return rc;
}

static void
test_names(void)
{
	CHECK(sasl_mech_parse("scram-sha-256") == SASL_SCRAM_SHA_256);
	CHECK(sasl_mech_parse("Cram-MD5") == SASL_CRAM_MD5);
	CHECK(sasl_mech_parse("xoauth2") == SASL_XOAUTH2);
	CHECK(sasl_mech_parse("DIGEST-MD5") == -1);
	CHECK(sasl_mech_parse("") == -1);
	CHECK(sasl_mech_parse("SCRAM-SHA-256-PLUS") == -1);
	for (int m = 0; m < SASL_MAX; m++)
		CHECK(sasl_mech_parse(sasl_mech_names[m]) == m);
	CHECK(sasl_needs_secret(SASL_PLAIN));
	CHECK(!sasl_needs_secret(SASL_EXTERNAL));
	CHECK(sasl_is_oauth(SASL_XOAUTH2) && sasl_is_oauth(SASL_OAUTHBEARER));
	CHECK(!sasl_is_oauth(SASL_PLAIN));
}

static void
test_pick(void)
{
	static const struct {
		const char *list;
		unsigned flags;
		int want;
	} t[] = {
		{ "PLAIN LOGIN", 0, SASL_PLAIN },
		{ "LOGIN PLAIN", 0, SASL_PLAIN },
		{ "LOGIN", 0, SASL_LOGIN },
		{ "login plain cram-md5", 0, SASL_CRAM_MD5 },
		{ "PLAIN SCRAM-SHA-1 SCRAM-SHA-256", 0, SASL_SCRAM_SHA_256 },
		{ "SCRAM-SHA-1 PLAIN", 0, SASL_SCRAM_SHA_1 },
		{ "SCRAM-SHA-256-PLUS PLAIN", 0, SASL_PLAIN },
		{ "PLAINX LOGIN", 0, SASL_LOGIN },
		{ "  PLAIN\tLOGIN  ", 0, SASL_PLAIN },
		{ "GSSAPI NTLM DIGEST-MD5", 0, -1 },
		{ "", 0, -1 },
		/* OAuth only when the secret is a token, and then only */
		{ "XOAUTH2 OAUTHBEARER", 0, -1 },
		{ "XOAUTH2 OAUTHBEARER PLAIN", 0, SASL_PLAIN },
		{ "XOAUTH2 OAUTHBEARER PLAIN", SASL_PICK_TOKEN,
		    SASL_OAUTHBEARER },
		{ "XOAUTH2 PLAIN LOGIN", SASL_PICK_TOKEN, SASL_XOAUTH2 },
		{ "PLAIN LOGIN", SASL_PICK_TOKEN, -1 },
		/* EXTERNAL only with a certificate, after password ones */
		{ "EXTERNAL", 0, -1 },
		{ "EXTERNAL", SASL_PICK_CERT, SASL_EXTERNAL },
		{ "EXTERNAL PLAIN", SASL_PICK_CERT, SASL_PLAIN },
		{ "EXTERNAL PLAIN", SASL_PICK_CERT | SASL_PICK_NOPASS,
		    SASL_EXTERNAL },
		{ "PLAIN", SASL_PICK_NOPASS, -1 },
		{ "EXTERNAL XOAUTH2", SASL_PICK_CERT | SASL_PICK_TOKEN,
		    SASL_XOAUTH2 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = sasl_pick(t[i].list, t[i].flags);

		if (got != t[i].want)
			fprintf(stderr, "  pick \"%s\" %#x: got %d want %d\n",
			    t[i].list, t[i].flags, got, t[i].want);
		CHECK(got == t[i].want);
	}
	CHECK(sasl_offered("plain LOGIN", SASL_PLAIN));
	CHECK(!sasl_offered("PLAIN-CLIENTTOKEN", SASL_PLAIN));
	CHECK(!sasl_offered("SCRAM-SHA-1", SASL_SCRAM_SHA_256));
}

static void
test_b64(void)
{
	/* RFC 4648 10 */
	static const char *vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *bad[] = {
		"Zg", "Zg=", "Zg===", "Z===", "====", "=Zg=", "Zg==Zg==",
		"Zm9v\n", "Zm 9v", "Zm9v!AAA", "Zm9-", "Zm9_", "Zh==",
		"Zm9=", "Zm8", "\xc3\xa9\x41\x41", "A", "AB=C",
	};
	unsigned char all[256], *out;
	size_t n;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *e = enc(vec[i][0]);

		CHECK_STR(e, vec[i][1]);
		free(e);
		CHECK(b64_decode(vec[i][1], strlen(vec[i][1]), &out, &n) == 0);
		CHECK_BYTES((char *)out, n, vec[i][0], strlen(vec[i][0]));
		CHECK(out[n] == '\0');
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (unsigned char *)"x";
		CHECK(b64_decode(bad[i], strlen(bad[i]), &out, &n) == -1);
		CHECK(out == NULL);
	}
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(all); len++) {
		char *e = b64_encode(all, len);

		CHECK(strlen(e) == (len + 2) / 3 * 4);
		CHECK(b64_decode(e, strlen(e), &out, &n) == 0 && n == len &&
		    memcmp(out, all, len) == 0);
		free(out);
		free(e);
	}
	/* an embedded NUL ends nothing: length counts */
	CHECK(b64_decode("Zm9v\0AAA", 8, &out, &n) == -1);
}

/* RFC 4616 4: "\0tim\0tanstaaftanstaaf", authzid empty. */
static void
test_plain(void)
{
	struct fail f = { 0 };
	struct sasl *s = sasl_new(SASL_PLAIN, "tim", "tanstaaftanstaaf",
	    NULL, 0);
	const char *r;

	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, "\0tim\0tanstaaftanstaaf", 21);
	CHECK_STR(r, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	CHECK(sasl_complete(s));
	/* nothing more to say: a challenge now is a protocol error */
	CHECK(sasl_step(s, "", 0, &r, &f) == -1 && f.cls == FAIL_PROTOCOL);
	CHECK(r == NULL);
	fail_reset(&f);
	CHECK(sasl_finish(s, "", 0, &f) == 0);
	sasl_free(s);

	/* RFC 4616 4 second example's password with a user, UTF-8 kept */
	s = sasl_new(SASL_PLAIN, "Kurt", "xipj3plmq", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, "\0Kurt\0xipj3plmq", 15);
	sasl_free(s);
}

static void
login_run(const char *p1, const char *p2, int encode)
{
	struct fail f = { 0 };
	struct sasl *s = sasl_new(SASL_LOGIN, "alice", "s3cr=t", NULL, 0);
	const char *r = "x";
	char *c;

	CHECK(sasl_start(s, &r, &f) == 0 && r == NULL);
	c = encode ? enc(p1) : xstrdup(p1);
	CHECK(sasl_step(s, c, strlen(c), &r, &f) == 0);
	free(c);
	check_resp(r, "alice", 5);
	CHECK(!sasl_complete(s));
	c = encode ? enc(p2) : xstrdup(p2);
	CHECK(sasl_step(s, c, strlen(c), &r, &f) == 0);
	free(c);
	check_resp(r, "s3cr=t", 6);
	CHECK(sasl_complete(s));
	/* a third prompt is out of order */
	CHECK(sasl_step(s, "VXNlcm5hbWU6", 12, &r, &f) == -1);
	CHECK(f.cls == FAIL_PROTOCOL);
	sasl_free(s);
}

/* LOGIN answers by step; the prompt text never matters. */
static void
test_login(void)
{
	login_run("Username:", "Password:", 1);
	/* aiosmtpd: "User Name\0", "Password\0" */
	login_run("VXNlciBOYW1lAA==", "UGFzc3dvcmQA", 0);
	/* prompts in the wrong order, garbage, empty */
	login_run("Password:", "Username:", 1);
	login_run("%%% not base64 !!", "\x01\x02", 0);
	login_run("", "", 0);
}

/* RFC 2195 2 example. */
static void
test_cram(void)
{
	struct fail f = { 0 };
	struct sasl *s = sasl_new(SASL_CRAM_MD5, "tim", "tanstaaftanstaaf",
	    NULL, 0);
	const char *chal =
	    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
	const char *r = "x";

	CHECK(sasl_start(s, &r, &f) == 0 && r == NULL);
	CHECK(sasl_step(s, chal, strlen(chal), &r, &f) == 0);
	CHECK_STR(r, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	check_resp(r, "tim b913a602c7eda7a495b4e6e7334d3890", 36);
	CHECK(sasl_complete(s));
	CHECK(sasl_step(s, chal, strlen(chal), &r, &f) == -1);
	CHECK(f.cls == FAIL_PROTOCOL);
	sasl_free(s);

	/* a challenge that is not base64, or empty, is refused */
	fail_reset(&f);
	s = sasl_new(SASL_CRAM_MD5, "tim", "x", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(sasl_step(s, "<1896.697@x>", 12, &r, &f) == -1);
	CHECK(f.cls == FAIL_PROTOCOL);
	sasl_free(s);
	fail_reset(&f);
	s = sasl_new(SASL_CRAM_MD5, "tim", "x", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(sasl_step(s, "", 0, &r, &f) == -1 && f.cls == FAIL_PROTOCOL);
	sasl_free(s);
}

struct scram_vec {
	enum sasl_mech	 mech;
	const char	*nonce, *cfirst, *sfirst, *cfinal, *sfinal;
};

/* RFC 5802 5 and RFC 7677 3: user "user", password "pencil". */
static const struct scram_vec sha1 = {
	SASL_SCRAM_SHA_1, "fyko+d2lbbFgONRv9qkxdawL",
	"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
	    "i=4096",
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};
static const struct scram_vec sha256 = {
	SASL_SCRAM_SHA_256, "rOprNGfwEbeRWgbNEkqO",
	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/* A SCRAM session through the client-final message. */
static struct sasl *
scram_to_final(const struct scram_vec *v, struct fail *f)
{
	struct sasl *s = sasl_new(v->mech, "user", "pencil", NULL, 0);
	const char *r;

	sasl_set_nonce(s, v->nonce);
	CHECK(sasl_start(s, &r, f) == 0);
	check_resp(r, v->cfirst, strlen(v->cfirst));
	CHECK(step_text(s, v->sfirst, &r, f) == 0);
	check_resp(r, v->cfinal, strlen(v->cfinal));
	CHECK(!sasl_complete(s));
	return s;
}

static void
scram_full(const struct scram_vec *v)
{
	struct fail f = { 0 };
	struct sasl *s = scram_to_final(v, &f);
	const char *r;
	char *c;

	/* the server-final message in a 334, answered by an empty line */
	CHECK(step_text(s, v->sfinal, &r, &f) == 0);
	CHECK_STR(r, "");
	CHECK(sasl_complete(s));
	CHECK(sasl_finish(s, "", 0, &f) == 0);
	CHECK(f.cls == FAIL_NONE);
	CHECK(step_text(s, v->sfinal, &r, &f) == -1);
	CHECK(f.cls == FAIL_PROTOCOL);
	sasl_free(s);

	/* the server-final message as 235 additional data */
	fail_reset(&f);
	s = scram_to_final(v, &f);
	c = enc(v->sfinal);
	CHECK(sasl_finish(s, c, strlen(c), &f) == 0 && sasl_complete(s));
	free(c);
	sasl_free(s);

	/* 235 with no server-final at all: not trusted */
	s = scram_to_final(v, &f);
	CHECK(sasl_finish(s, "Authentication successful", 25, &f) == -1);
	CHECK(f.cls == FAIL_AUTH && strstr(f.msg, "235") != NULL);
	CHECK(!sasl_complete(s));
	sasl_free(s);
}

static void
test_scram_rfc(void)
{
	scram_full(&sha1);
	scram_full(&sha256);
}

/* Expect the step on a server-first message to fail with cls. */
static void
scram_bad_first(enum sasl_mech m, const char *sfirst, enum fail_class cls,
    const char *in_msg)
{
	struct fail f = { 0 };
	struct sasl *s = sasl_new(m, "user", "pencil", NULL, 0);
	const char *r;

	sasl_set_nonce(s, "abcdef");
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(step_text(s, sfirst, &r, &f) == -1);
	if (f.cls != cls || strstr(f.msg, in_msg) == NULL)
		fprintf(stderr, "  \"%s\": got %s \"%s\"\n", sfirst,
		    fail_class_names[f.cls], f.msg);
	CHECK(f.cls == cls && strstr(f.msg, in_msg) != NULL);
	CHECK(r == NULL);
	CHECK(sasl_finish(s, "", 0, &f) == -1);
	sasl_free(s);
}

static void
test_scram_bad(void)
{
	struct fail f = { 0 };
	struct sasl *s;
	const char *r;
	char sig[] = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

	/* a tampered server signature: one bit, then a truncated one */
	sig[5] ^= 1;
	s = scram_to_final(&sha1, &f);
	CHECK(step_text(s, sig, &r, &f) == -1);
	CHECK(f.cls == FAIL_AUTH &&
	    strstr(f.msg, "server signature mismatch") != NULL);
	CHECK(!sasl_complete(s));
	fail_reset(&f);
	CHECK(sasl_finish(s, "", 0, &f) == -1 && f.cls == FAIL_AUTH);
	sasl_free(s);
	fail_reset(&f);
	s = scram_to_final(&sha1, &f);
	CHECK(step_text(s, "v=rmF9pqV8S7suAoZWja4d", &r, &f) == -1);
	CHECK(f.cls == FAIL_AUTH);
	sasl_free(s);
	/* a signature for SHA-1 on a SHA-256 exchange */
	fail_reset(&f);
	s = scram_to_final(&sha256, &f);
	CHECK(step_text(s, sha1.sfinal, &r, &f) == -1 && f.cls == FAIL_AUTH);
	sasl_free(s);
	/* tampered signature riding on the 235 */
	fail_reset(&f);
	s = scram_to_final(&sha1, &f);
	{
		char *c = enc(sig);

		CHECK(sasl_finish(s, c, strlen(c), &f) == -1);
		CHECK(strstr(f.msg, "server signature mismatch") != NULL);
		free(c);
	}
	sasl_free(s);
	/* e= in the server-final message (RFC 5802 7 server-error) */
	fail_reset(&f);
	s = scram_to_final(&sha256, &f);
	CHECK(step_text(s, "e=invalid-proof", &r, &f) == -1);
	CHECK(f.cls == FAIL_AUTH && strstr(f.msg, "invalid-proof") != NULL);
	sasl_free(s);
	/* a long e= error: cut visibly, never silently */
	fail_reset(&f);
	s = scram_to_final(&sha256, &f);
	{
		char *big = malloc(2003);

		memcpy(big, "e=", 2);
		memset(big + 2, 'q', 2000);
		big[2002] = '\0';
		CHECK(step_text(s, big, &r, &f) == -1 && f.cls == FAIL_AUTH);
		CHECK(strlen(f.msg) > 3 &&
		    strcmp(f.msg + strlen(f.msg) - 3, "...") == 0);
		free(big);
	}
	sasl_free(s);
	fail_reset(&f);
	s = scram_to_final(&sha256, &f);
	CHECK(step_text(s, "x=what", &r, &f) == -1 && f.cls == FAIL_PROTOCOL);
	sasl_free(s);
	fail_reset(&f);
	s = scram_to_final(&sha256, &f);
	CHECK(sasl_step(s, "not base64!", 11, &r, &f) == -1);
	CHECK(f.cls == FAIL_PROTOCOL);
	sasl_free(s);

	/* the server-first message */
	scram_bad_first(SASL_SCRAM_SHA_256, "r=zzzzzzXYZ,s=c2FsdA==,i=4096",
	    FAIL_AUTH, "nonce");
	scram_bad_first(SASL_SCRAM_SHA_256, "r=abcdef,s=c2FsdA==,i=4096",
	    FAIL_AUTH, "nonce");
	scram_bad_first(SASL_SCRAM_SHA_256, "r=abcde,s=c2FsdA==,i=4096",
	    FAIL_AUTH, "nonce");
	scram_bad_first(SASL_SCRAM_SHA_1, "s=c2FsdA==,i=4096",
	    FAIL_PROTOCOL, "nonce");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,i=4096",
	    FAIL_PROTOCOL, "salt");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=,i=4096",
	    FAIL_PROTOCOL, "salt");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2Fsd,i=4096",
	    FAIL_PROTOCOL, "salt");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=0",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=04096",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=1000001",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=99999999",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=-1",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdefX,s=c2FsdA==,i=40x6",
	    FAIL_PROTOCOL, "iteration");
	scram_bad_first(SASL_SCRAM_SHA_1, "r=abcdef\x7f,s=c2FsdA==,i=4096",
	    FAIL_PROTOCOL, "nonce");
	scram_bad_first(SASL_SCRAM_SHA_1, "e=other-error", FAIL_AUTH,
	    "other-error");
	scram_bad_first(SASL_SCRAM_SHA_1, "m=ext,r=abcdefX,s=c2FsdA==,i=1",
	    FAIL_AUTH, "extension");

	/* i=1 and trailing extensions are accepted */
	fail_reset(&f);
	s = sasl_new(SASL_SCRAM_SHA_1, "user", "pencil", NULL, 0);
	sasl_set_nonce(s, "abcdef");
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(step_text(s, "r=abcdefX,s=c2FsdA==,i=1,x=future", &r, &f) == 0);
	sasl_free(s);
	/* surrounding blanks around a challenge are ignored */
	s = sasl_new(SASL_SCRAM_SHA_256, "user", "pencil", NULL, 0);
	sasl_set_nonce(s, sha256.nonce);
	CHECK(sasl_start(s, &r, &f) == 0);
	{
		char *c = enc(sha256.sfirst), buf[256];

		snprintf(buf, sizeof(buf), " %s \r\n", c);
		CHECK(sasl_step(s, buf, strlen(buf), &r, &f) == 0);
		check_resp(r, sha256.cfinal, strlen(sha256.cfinal));
		free(c);
	}
	sasl_free(s);
	CHECK(f.cls == FAIL_NONE);
}

static void
test_scram_misc(void)
{
	struct fail f = { 0 };
	struct sasl *s, *t;
	const char *r;
	char *first;

	/* RFC 5802 5.1: "," and "=" in a user name are escaped */
	s = sasl_new(SASL_SCRAM_SHA_256, "a,b=c", "pw", NULL, 0);
	sasl_set_nonce(s, "N");
	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, "n,,n=a=2Cb=3Dc,r=N", 18);
	sasl_free(s);

	/* random nonces: 32 base64 characters, different every time */
	s = sasl_new(SASL_SCRAM_SHA_256, "user", "pw", NULL, 0);
	t = sasl_new(SASL_SCRAM_SHA_256, "user", "pw", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	first = xstrdup(r);
	CHECK(sasl_start(t, &r, &f) == 0);
	CHECK(strcmp(first, r) != 0);
	{
		unsigned char *raw;
		size_t n;

		CHECK(b64_decode(first, strlen(first), &raw, &n) == 0);
		CHECK(n == strlen("n,,n=user,r=") + 32);
		CHECK(strncmp((char *)raw, "n,,n=user,r=", 12) == 0);
		CHECK(strchr((char *)raw + 12, ',') == NULL);
		free(raw);
	}
	free(first);
	sasl_free(s);
	sasl_free(t);

	/* misuse: step before start, start twice */
	s = sasl_new(SASL_SCRAM_SHA_1, "user", "pw", NULL, 0);
	CHECK(sasl_step(s, "", 0, &r, &f) == -1 && f.cls == FAIL_INTERNAL);
	fail_reset(&f);
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(sasl_start(s, &r, &f) == -1 && f.cls == FAIL_INTERNAL);
	sasl_free(s);
	sasl_free(NULL);
}

/* Google's XOAUTH2 page example; RFC 7628 4.1 for OAUTHBEARER. */
static void
test_oauth(void)
{
	static const char xo[] = "user=someuser@example.com\001auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";
	static const char ob[] = "n,a=user@example.com,\001host=server."
	    "example.com\001port=143\001auth=Bearer vF9dft4qmTc2Nvb3Rlck"
	    "BhbHRhdmlzdGEuY29tCg==\001\001";
	static const char err[] = "{\"status\":\"invalid_token\","
	    "\"scope\":\"example_scope\"}";
	struct fail f = { 0 };
	struct sasl *s;
	const char *r;

	s = sasl_new(SASL_XOAUTH2, "someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "ignored", 25);
	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, xo, sizeof(xo) - 1);
	CHECK_STR(r, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5"
	    "LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	CHECK(sasl_server_error(s) == NULL);
	/* an error challenge is answered by an empty line */
	CHECK(step_text(s, err, &r, &f) == 0);
	CHECK_STR(r, "");
	CHECK(!sasl_complete(s));
	CHECK(sasl_server_error(s) != NULL &&
	    strstr(sasl_server_error(s), "invalid_token") != NULL);
	CHECK(step_text(s, err, &r, &f) == -1 && f.cls == FAIL_PROTOCOL);
	sasl_free(s);

	fail_reset(&f);
	s = sasl_new(SASL_OAUTHBEARER, "user@example.com",
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	    "server.example.com", 143);
	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, ob, sizeof(ob) - 1);
	CHECK_STR(r, "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUu"
	    "Y29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhi"
	    "SFJoZG1semRHRXVZMjl0Q2c9PQEB");
	/* RFC 7628 3.2.3: the error is answered by a lone ^A */
	CHECK(step_text(s, err, &r, &f) == 0);
	check_resp(r, "\001", 1);
	CHECK(sasl_server_error(s) != NULL);
	sasl_free(s);

	/* no host or port; "," and "=" in the user escaped (RFC 5801 4) */
	s = sasl_new(SASL_OAUTHBEARER, "a,b=c", "tok", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	check_resp(r, "n,a=a=2Cb=3Dc,\001auth=Bearer tok\001\001", 32);
	/* an undecodable error challenge is still an error: ^A */
	CHECK(sasl_step(s, "{oops}", 6, &r, &f) == 0);
	check_resp(r, "\001", 1);
	CHECK(sasl_server_error(s) != NULL);
	sasl_free(s);
	/* control bytes in the JSON are escaped for the terminal */
	s = sasl_new(SASL_XOAUTH2, "u", "tok", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK(step_text(s, "{\"status\":\"401\"}\033[2J\n", &r, &f) == 0);
	CHECK_STR(sasl_server_error(s), "{\"status\":\"401\"}\\x1b[2J\\x0a");
	sasl_free(s);
	/* a long error is cut to its buffer visibly, ending in "..." */
	s = sasl_new(SASL_XOAUTH2, "u", "tok", NULL, 0);
	CHECK(sasl_start(s, &r, &f) == 0);
	{
		char *big = malloc(4001);

		memset(big, 'z', 4000);
		big[4000] = '\0';
		CHECK(step_text(s, big, &r, &f) == 0);
		CHECK(sasl_server_error(s) != NULL &&
		    strlen(sasl_server_error(s)) > 100 &&
		    strlen(sasl_server_error(s)) < 4000);
		CHECK(strcmp(sasl_server_error(s) +
		    strlen(sasl_server_error(s)) - 3, "...") == 0);
		free(big);
	}
	sasl_free(s);
	CHECK(f.cls == FAIL_NONE);
}

static void
test_external(void)
{
	struct fail f = { 0 };
	struct sasl *s = sasl_new(SASL_EXTERNAL, NULL, NULL, NULL, 0);
	const char *r;

	/* RFC 4954 4: an empty initial response is sent as "=" */
	CHECK(sasl_start(s, &r, &f) == 0);
	CHECK_STR(r, "=");
	CHECK(sasl_complete(s));
	CHECK(sasl_step(s, "", 0, &r, &f) == -1 && f.cls == FAIL_PROTOCOL);
	sasl_free(s);
}

static void
test_creds(void)
{
	static const struct {
		enum sasl_mech m;
		const char *user, *secret;
	} bad[] = {
		{ SASL_PLAIN, NULL, "pw" },
		{ SASL_PLAIN, "", "pw" },
		{ SASL_LOGIN, "u", NULL },
		{ SASL_SCRAM_SHA_256, "u\r\nMAIL FROM:<x>", "pw" },
		{ SASL_CRAM_MD5, "u\001", "pw" },
		{ SASL_XOAUTH2, "u", "tok\n" },
		{ SASL_XOAUTH2, "u", "tok en" },
		{ SASL_OAUTHBEARER, "u", "" },
		{ SASL_OAUTHBEARER, "u\001", "tok" },
		{ SASL_OAUTHBEARER, "u", NULL },
	};
	const char *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fail f = { 0 };
		struct sasl *s = sasl_new(bad[i].m, bad[i].user,
		    bad[i].secret, NULL, 0);

		CHECK(sasl_start(s, &r, &f) == -1 && f.cls == FAIL_CONFIG);
		CHECK(r == NULL);
		sasl_free(s);
	}
	/* an empty password is the user's business */
	{
		struct fail f = { 0 };
		struct sasl *s = sasl_new(SASL_PLAIN, "u", "", NULL, 0);

		CHECK(sasl_start(s, &r, &f) == 0);
		check_resp(r, "\0u\0", 3);
		sasl_free(s);
	}
}

/* ---- netrc ---- */

static char tmpdir[] = "/tmp/test_auth.XXXXXX";

static const char *
netrc_file(const char *name, const char *text, mode_t mode)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror(path);
	close(fd);
	chmod(path, mode);
	return path;
}

/* One lookup: want 1 with login/password (NULL = absent), 0, or -1. */
static void
netrc_case(const char *text, const char *host, const char *user, int want,
    const char *wlogin, const char *wpass)
{
	struct fail f = { 0 };
	char *login = (char *)"x", *pass = (char *)"x";
	const char *path = netrc_file("netrc", text, 0600);
	int rc = conf_netrc(path, host, user, &login, &pass, &f);

	if (rc != want)
		fprintf(stderr, "  netrc %s/%s: got %d (%s) want %d\n", host,
		    user ? user : "-", rc, f.msg, want);
	CHECK(rc == want);
	if (wlogin != NULL)
		CHECK_STR(login, wlogin);
	else
		CHECK(login == NULL);
	if (wpass != NULL)
		CHECK_STR(pass, wpass);
	else
		CHECK(pass == NULL);
	CHECK((rc == -1) == (f.cls == FAIL_CONFIG));
	sasl_secret_free(login);
	sasl_secret_free(pass);
}

static void
test_netrc_lookup(void)
{
	static const char two[] =
	    "machine mail.example.org login alice password a1\n"
	    "machine other.example.org login carol password c1\n"
	    "machine MAIL.example.org\n\tlogin bob\n\tpassword b1\n"
	    "default login anon password guest\n";

	netrc_case(two, "mail.example.org", NULL, 1, "alice", "a1");
	netrc_case(two, "Mail.Example.ORG", NULL, 1, "alice", "a1");
	netrc_case(two, "mail.example.org", "bob", 1, "bob", "b1");
	/* logins compare exactly, and the default's does not fit */
	netrc_case(two, "mail.example.org", "Bob", 0, NULL, NULL);
	netrc_case(two, "elsewhere", NULL, 1, "anon", "guest");
	netrc_case(two, "elsewhere", "anon", 1, "anon", "guest");
	netrc_case(two, "elsewhere", "zed", 0, NULL, NULL);
	netrc_case(two, "other.example.org", NULL, 1, "carol", "c1");
	netrc_case("", "h", NULL, 0, NULL, NULL);
	/* an entry without login fits any user; without password: NULL */
	netrc_case("machine h password p\n", "h", "u", 1, NULL, "p");
	netrc_case("machine h login u\n", "h", NULL, 1, "u", NULL);
	/* tokens on one line, tabs, CRLF, no final newline */
	netrc_case("machine a login x password y machine h login u "
	    "password p", "h", NULL, 1, "u", "p");
	netrc_case("machine\th\r\nlogin\tu\r\npassword\tp\r\n", "h", NULL, 1,
	    "u", "p");
	/* quoted tokens with escapes */
	netrc_case("machine h login \"u s\" password \"a \\\"b\\\\ c\\n\"\n",
	    "h", NULL, 1, "u s", "a \"b\\ c\n");
	netrc_case("machine \"h\" login u password \"\"\n", "h", NULL, 1, "u",
	    "");
	/* account skipped; a password may start with '#' */
	netrc_case("machine h account acct login u password #p\n", "h", NULL,
	    1, "u", "#p");
	/* comments at the start of a line */
	netrc_case("# machine h login evil password evil\n"
	    "machine h login u password p\n", "h", NULL, 1, "u", "p");
	/* macdef bodies are skipped up to an empty line */
	netrc_case("macdef init\nmachine h login evil password evil\n\n"
	    "machine h login u password p\n", "h", NULL, 1, "u", "p");
	netrc_case("machine x macdef m cd /pub\n machine h password evil\n"
	    "   \nmachine h login u password p\n", "h", NULL, 1, "u", "p");
	netrc_case("macdef init\nmachine h login evil password evil\n", "h",
	    NULL, 0, NULL, NULL);
	/* "default" before a machine entry still loses to it */
	netrc_case("default login d password dp\nmachine h login u "
	    "password p\n", "h", NULL, 1, "u", "p");
	/* unknown keywords are ignored */
	netrc_case("machine h port 587 login u password p\n", "h", NULL, 1,
	    "u", "p");
	/* errors */
	netrc_case("machine h login u password \"p\n", "h", NULL, -1, NULL,
	    NULL);
	netrc_case("machine h login u password", "h", NULL, -1, NULL, NULL);
	netrc_case("machine", "h", NULL, -1, NULL, NULL);
}

static void
test_netrc_files(void)
{
	struct fail f = { 0 };
	char *login, *pass, home[600];
	const char *path;

	/* readable by others with a password: refused */
	path = netrc_file("loose", "machine h login u password p\n", 0644);
	CHECK(conf_netrc(path, "h", NULL, &login, &pass, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, "chmod 600") != NULL &&
	    strstr(f.msg, path) != NULL && strstr(f.msg, "password") != NULL);
	CHECK(login == NULL && pass == NULL);
	fail_reset(&f);
	path = netrc_file("loose", "machine h login u password p\n", 0660);
	CHECK(conf_netrc(path, "h", NULL, &login, &pass, &f) == -1);
	fail_reset(&f);
	/* ... but fine without a password, or for another host's entry */
	path = netrc_file("loose", "machine h login u\n"
	    "machine k login v password q\n", 0644);
	CHECK(conf_netrc(path, "h", NULL, &login, &pass, &f) == 1);
	CHECK_STR(login, "u");
	CHECK(pass == NULL);
	sasl_secret_free(login);
	/* no file: not found, no error */
	snprintf(home, sizeof(home), "%s/none", tmpdir);
	CHECK(conf_netrc(home, "h", NULL, &login, &pass, &f) == 0);
	CHECK(f.cls == FAIL_NONE);
	/* not a regular file */
	CHECK(conf_netrc(tmpdir, "h", NULL, &login, &pass, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, tmpdir) != NULL);
	fail_reset(&f);
	/* a path through a file (ENOTDIR): an error, unlike ENOENT */
	snprintf(home, sizeof(home), "%s/loose/x", tmpdir);
	CHECK(conf_netrc(home, "h", NULL, &login, &pass, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, home) != NULL);
	fail_reset(&f);
	/* unreadable (root reads anything: skip then) */
	path = netrc_file("locked", "machine h password p\n", 0);
	if (geteuid() != 0) {
		CHECK(conf_netrc(path, "h", NULL, &login, &pass, &f) == -1);
		CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, path) != NULL);
		fail_reset(&f);
	}
	/* path NULL: $HOME/.netrc */
	netrc_file(".netrc", "machine h login hu password hp\n", 0600);
	setenv("HOME", tmpdir, 1);
	CHECK(conf_netrc(NULL, "h", NULL, &login, &pass, &f) == 1);
	CHECK_STR(login, "hu");
	CHECK_STR(pass, "hp");
	sasl_secret_free(login);
	sasl_secret_free(pass);
	snprintf(home, sizeof(home), "%s/nohome", tmpdir);
	setenv("HOME", home, 1);
	CHECK(conf_netrc(NULL, "h", NULL, &login, &pass, &f) == 0);
	unsetenv("HOME");
	CHECK(conf_netrc(NULL, "h", NULL, &login, &pass, &f) == 0);
	CHECK(f.cls == FAIL_NONE);
}

static void
cleanup(void)
{
	static const char *names[] = { "netrc", "loose", "locked", ".netrc" };
	char path[600];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int
main(void)
{
	test_names();
	test_pick();
	test_b64();
	test_plain();
	test_login();
	test_cram();
	test_scram_rfc();
	test_scram_bad();
	test_scram_misc();
	test_oauth();
	test_external();
	test_creds();
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_netrc_lookup();
	test_netrc_files();
	cleanup();
	T_DONE("auth");
}
