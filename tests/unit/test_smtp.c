/*
 * test_smtp.c - reply line parser, enhanced codes, EHLO capabilities,
 * dot-stuffing (exact bytes, across every buffer split), the exit-code
 * map, the phase deadlines; and the engine driven against a scripted
 * server in a child process on 127.0.0.1 (command line bounds,
 * STARTTLS refusals, per-recipient outcomes).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "smtp.h"
#include "msg.h"

#include "auth.h"
#include "front.h"

/*
 * The scripted server: one child process, one connection.  Steps:
 *	"S text"	send text + CRLF
 *	"R VERB"	read a line, which must start with VERB
 *	"D"		read message data up to the "." line
 *	"E"		the client must close without sending anything
 *	"X"		drop the connection now
 * The child exits 0 when the script ran as written, else 1 (a line
 * that did not match, EOF too early, a line at "E").
 */
struct fake {
	pid_t	 pid;
	char	 port[16];
};

static int
fake_getline(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		char c;

		if (recv(fd, &c, 1, 0) != 1)
			return -1;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

static int
fake_run(int fd, const char *const *script)
{
	static char line[256 * 1024];

	for (; *script != NULL; script++) {
		const char *st = *script;

		if (st[0] == 'S') {
			if (send(fd, st + 2, strlen(st + 2), 0) < 0 ||
			    send(fd, "\r\n", 2, 0) != 2)
				return 1;
		} else if (st[0] == 'R') {
			if (fake_getline(fd, line, sizeof(line)) == -1 ||
			    strncmp(line, st + 2, strlen(st + 2)) != 0)
				return 1;
		} else if (st[0] == 'D') {
			do {
				if (fake_getline(fd, line, sizeof(line)) == -1)
					return 1;
			} while (strcmp(line, ".") != 0);
		} else if (st[0] == 'E')
			return fake_getline(fd, line, sizeof(line)) == -1 ?
			    0 : 1;
		else if (st[0] == 'X')
			return 0;
	}
	return 0;
}

static void
fake_start(struct fake *fk, const char *const *script)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls == -1 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 1) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) == -1) {
		perror("fake server");
		exit(1);
	}
	snprintf(fk->port, sizeof(fk->port), "%u", ntohs(sa.sin_port));
	fflush(NULL);
	if ((fk->pid = fork()) == 0) {
		int fd, rc;

		alarm(20);	/* never outlive a test run */
		fd = accept(ls, NULL, NULL);
		rc = fd == -1 ? 1 : fake_run(fd, script);
		_exit(rc);
	}
	close(ls);
}

/* The child's verdict: 0 if the client did what the script says. */
static int
fake_wait(struct fake *fk)
{
	int st;

	if (waitpid(fk->pid, &st, 0) == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void
fake_params(struct smtp_params *p, const char *port, enum smtp_proto proto)
{
	memset(p, 0, sizeof(*p));
	p->host = "127.0.0.1";
	p->port = port;
	p->helo = "client.test";
	p->proto = proto;
	p->tls = SMTP_TLS_OFF;
	p->timeout = 5;
	p->auth = SMTP_AUTH_OFF;
}

/* A small message, loaded from an unlinked temporary file. */
static struct msg *
fake_msg(void)
{
	static const char text[] = "Subject: t\r\n\r\nHello.\r\n";
	struct msg_opts o;
	struct fail f = { 0 };
	struct msg *m;
	int fd = tmp_file();

	memset(&o, 0, sizeof(o));
	if (fd == -1 || write(fd, text, sizeof(text) - 1) !=
	    (ssize_t)(sizeof(text) - 1) || lseek(fd, 0, SEEK_SET) != 0) {
		perror("tmp_file");
		exit(1);
	}
	m = msg_load(fd, "test", &o, &f);
	close(fd);
	if (m == NULL) {
		fprintf(stderr, "msg_load: %s\n", f.msg);
		exit(1);
	}
	return m;
}

/* Run one session of mail against script; the server's verdict. */
static int
fake_session(const char *const *script, enum smtp_proto proto,
    int allow_partial, const struct smtp_mail *ml, struct smtp_result *res,
    int *rc)
{
	struct fake fk;
	struct smtp_params p;

	fake_start(&fk, script);
	fake_params(&p, fk.port, proto);
	p.allow_partial = allow_partial;
	*rc = smtp_session(&p, ml, res);
	return fake_wait(&fk);
}

static void
test_parse_line(void)
{
	static const struct {
		const char *in;
		int code, last;
		const char *text;
	} ok[] = {
		{ "250 OK", 250, 1, "OK" },
		{ "250-PIPELINING", 250, 0, "PIPELINING" },
		{ "250 ", 250, 1, "" },
		{ "250", 250, 1, "" },
		{ "421 4.3.2 bye", 421, 1, "4.3.2 bye" },
		{ "554 no", 554, 1, "no" },
		{ "220-first", 220, 0, "first" },
		{ "559 x", 559, 1, "x" },
		{ "200 x", 200, 1, "x" },
	};
	static const char *bad[] = {
		"", "25", "2500 x", "abc", "150 x", "600 x", "099 x", "2a0 x",
		"250x", "260 x", "599 x", "25 0", " 250 x", "250\tx", "-250 x",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int last = -1;
		const char *text = NULL;
		int code = smtp_parse_line(ok[i].in, strlen(ok[i].in), &last,
		    &text);

		CHECK(code == ok[i].code);
		CHECK(last == ok[i].last);
		CHECK(text != NULL && strcmp(text, ok[i].text) == 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int last;
		const char *text;

		CHECK(smtp_parse_line(bad[i], strlen(bad[i]), &last, &text)
		    == -1);
	}
	/* a NUL inside the line is malformed */
	{
		int last;
		const char *text;
		CHECK(smtp_parse_line("250 a\0b", 7, &last, &text) == -1);
	}
}

static void
test_enh(void)
{
	static const struct {
		int code;
		const char *text, *enh;
		size_t skip;
	} t[] = {
		{ 550, "5.1.1 User unknown", "5.1.1", 6 },
		{ 250, "2.0.0 Ok: queued", "2.0.0", 6 },
		{ 451, "4.7.1 Try later", "4.7.1", 6 },
		{ 550, "4.1.1 wrong class", "", 0 },
		{ 550, "5.1 short", "", 0 },
		{ 550, "5.1234.1 long", "", 0 },
		{ 550, "5.1.1", "5.1.1", 5 },
		{ 550, "5.1.1x", "", 0 },
		{ 250, "OK", "", 0 },
		{ 552, "5.3.4 Message too big", "5.3.4", 6 },
		{ 250, "2.100.999 max", "2.100.999", 10 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char enh[16];
		size_t n = smtp_parse_enh(t[i].code, t[i].text, enh);

		CHECK(n == t[i].skip);
		CHECK_STR(enh, t[i].enh);
	}
}

static void
set_reply(struct smtp_reply *r, const char *const *lines, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->code = 250;
	for (size_t i = 0; i < n; i++)
		r->line[r->nlines++] = lines[i];
}

static void
test_caps(void)
{
	static const char *const exim[] = {
		"mail.example Hello client.test [127.0.0.1]",
		"SIZE 52428800", "8BITMIME", "PIPELINING", "PIPECONNECT",
		"CHUNKING", "STARTTLS", "AUTH PLAIN LOGIN CRAM-MD5",
		"SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "HELP",
	};
	static const char *const sink[] = {
		"sink.example", "pipelining", "size", "AUTH=LOGIN PLAIN",
		"AUTH DIGEST-MD5", "",
	};
	static const char *const bad[] = {
		"x", "SIZE abc", "SIZEX 5", "PIPELININGX", "8BITMIME=yes",
	};
	struct smtp_reply *r = calloc(1, sizeof(*r));
	struct smtp_caps c;

	set_reply(r, exim, sizeof(exim) / sizeof(exim[0]));
	smtp_parse_caps(r, &c);
	CHECK(c.ext == (SMTP_EXT_PIPELINING | SMTP_EXT_SIZE |
	    SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | SMTP_EXT_DSN |
	    SMTP_EXT_CHUNKING | SMTP_EXT_ENHANCED | SMTP_EXT_STARTTLS |
	    SMTP_EXT_AUTH));
	CHECK(c.size == 52428800ULL);
	CHECK_STR(c.auth, "PLAIN LOGIN CRAM-MD5");

	set_reply(r, sink, sizeof(sink) / sizeof(sink[0]));
	smtp_parse_caps(r, &c);
	CHECK(c.ext == (SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_AUTH));
	CHECK(c.size == 0);
	CHECK_STR(c.auth, "LOGIN PLAIN DIGEST-MD5");

	set_reply(r, bad, sizeof(bad) / sizeof(bad[0]));
	smtp_parse_caps(r, &c);
	CHECK(c.ext == SMTP_EXT_SIZE);	/* "SIZE abc": offered, no limit */
	CHECK(c.size == 0);

	/* the greeting line is never a capability */
	{
		static const char *const one[] = { "PIPELINING" };
		set_reply(r, one, 1);
		smtp_parse_caps(r, &c);
		CHECK(c.ext == 0);
	}
	free(r);
}

static void
test_reply_text(void)
{
	static const char *const l[] = { "5.1.1 first", "5.1.1 se\x1b[31mcond" };
	struct smtp_reply *r = calloc(1, sizeof(*r));
	char out[256];

	set_reply(r, l, 2);
	r->code = 550;
	smtp_reply_text(r, out, sizeof(out));
	CHECK_STR(out, "550 5.1.1 first / 5.1.1 se\\x1b[31mcond");
	free(r);
}

/* Dot-stuff in every split into two chunks and in 1-byte chunks. */
static void
check_stuff(const char *in, const char *want)
{
	size_t n = strlen(in), wn = strlen(want);
	char *out = malloc(2 * n + 2);

	for (size_t split = 0; split <= n; split++) {
		int bol = 1;
		size_t o = smtp_dotstuff(&bol, in, split, out);

		o += smtp_dotstuff(&bol, in + split, n - split, out + o);
		CHECK_BYTES(out, o, want, wn);
	}
	{
		int bol = 1;
		size_t o = 0;

		for (size_t i = 0; i < n; i++)
			o += smtp_dotstuff(&bol, in + i, 1, out + o);
		CHECK_BYTES(out, o, want, wn);
	}
	free(out);
}

static void
test_dotstuff(void)
{
	check_stuff("", "");
	check_stuff(".\r\n", "..\r\n");
	check_stuff("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n");
	check_stuff("..x\r\n", "...x\r\n");
	check_stuff("a.b\r\n", "a.b\r\n");
	check_stuff("x\r\n.\r\n.\r\n", "x\r\n..\r\n..\r\n");
	check_stuff("\r\n.\r\n", "\r\n..\r\n");
}

/* Line-end normalisation followed by dot-stuffing: the smuggling
 * sequences must come out as harmless, stuffed CRLF lines. */
static void
check_pipeline(const char *in, size_t n, const char *want)
{
	size_t wn = strlen(want);
	char *mid = malloc(2 * n + 4), *out = malloc(4 * n + 8);

	for (size_t split = 0; split <= n; split++) {
		int st = 0, bol = 1;
		size_t m = msg_crlf(&st, in, split, mid);

		m += msg_crlf(&st, in + split, n - split, mid + m);
		m += msg_crlf(&st, NULL, 0, mid + m);
		size_t o = smtp_dotstuff(&bol, mid, m, out);
		CHECK_BYTES(out, o, want, wn);
	}
	free(mid);
	free(out);
}

static void
test_smuggling(void)
{
#define P(in, want) check_pipeline(in, sizeof(in) - 1, want)
	P("a\n.\r\nb", "a\r\n..\r\nb");
	P("a\r\n.\nb", "a\r\n..\r\nb");
	P("a\r.\rb", "a\r\n..\r\nb");
	P("a\n.\nb", "a\r\n..\r\nb");
	P("a\r\n.\r\r\nb", "a\r\n..\r\n\r\nb");
	P("\n.\n", "\r\n..\r\n");
	P(".\r\r\n", "..\r\n\r\n");
#undef P
}

static void
test_exit_map(void)
{
	CHECK(front_exit_code(FAIL_NONE) == 0);
	CHECK(front_exit_code(FAIL_USAGE) == 64);
	CHECK(front_exit_code(FAIL_DATA) == 65);
	CHECK(front_exit_code(FAIL_NOINPUT) == 66);
	CHECK(front_exit_code(FAIL_RCPT) == 67);
	CHECK(front_exit_code(FAIL_RESOLVE) == 68);
	CHECK(front_exit_code(FAIL_PERM) == 69);
	CHECK(front_exit_code(FAIL_INTERNAL) == 70);
	CHECK(front_exit_code(FAIL_IO) == 74);
	CHECK(front_exit_code(FAIL_TEMP) == 75);
	CHECK(front_exit_code(FAIL_PROTOCOL) == 76);
	CHECK(front_exit_code(FAIL_AUTH) == 77);
	CHECK(front_exit_code(FAIL_TLS) == 77);
	CHECK(front_exit_code(FAIL_CONFIG) == 78);
	CHECK(front_exit_code(FAIL_MAX) == 70);
	for (int c = 0; c < FAIL_MAX; c++)
		CHECK(fail_class_names[c] != NULL);
	for (int p = 0; p < SMTP_PH_MAX; p++)
		CHECK(smtp_phase_names[p] != NULL);
}

static void
test_timeouts(void)
{
	/* RFC 5321 4.5.3.2 */
	CHECK(smtp_phase_timeout(SMTP_PH_GREETING) == 300);
	CHECK(smtp_phase_timeout(SMTP_PH_MAIL) == 300);
	CHECK(smtp_phase_timeout(SMTP_PH_RCPT) == 300);
	CHECK(smtp_phase_timeout(SMTP_PH_DATA) == 120);
	CHECK(smtp_phase_timeout(SMTP_PH_BODY) == 180);
	CHECK(smtp_phase_timeout(SMTP_PH_DOT) == 600);
	CHECK(smtp_phase_timeout(SMTP_PH_CONNECT) == 60);
}

/* 63 mechanisms on one AUTH line (about 700 octets): kept whole. */
static void
test_caps_long_auth(void)
{
	static const char *const head = "mail.example";
	char *line = malloc(4096), *want = malloc(4096);
	const char *lines[2];
	struct smtp_reply *r = calloc(1, sizeof(*r));
	struct smtp_caps *c = malloc(sizeof(*c));
	size_t o = 0, w = 0;

	o += (size_t)sprintf(line, "AUTH");
	for (int i = 0; i < 62; i++) {
		o += (size_t)sprintf(line + o, " X-MECH-%02d", i);
		w += (size_t)sprintf(want + w, "%sX-MECH-%02d", i ? " " : "",
		    i);
	}
	sprintf(line + o, " PLAIN");
	sprintf(want + w, " PLAIN");
	lines[0] = head;
	lines[1] = line;
	set_reply(r, lines, 2);
	CHECK(smtp_parse_caps(r, c) == 0);
	CHECK(strlen(line) > 256);
	CHECK_STR(c->auth, want);
	CHECK(sasl_offered(c->auth, SASL_PLAIN));
	CHECK(sasl_pick(c->auth, 0) == SASL_PLAIN);
	free(line);
	free(want);
	free(r);
	free(c);
}

/* AUTH lists that cannot fit: an error, never a cut list. */
static void
test_caps_auth_overflow(void)
{
	size_t n = SMTP_REPLY_MAX / 2;
	char *a = malloc(n + 6), *b = malloc(n + 6);
	const char *lines[3];
	struct smtp_reply *r = calloc(1, sizeof(*r));
	struct smtp_caps *c = malloc(sizeof(*c));

	memcpy(a, "AUTH ", 5);
	memset(a + 5, 'A', n);
	a[n + 5] = '\0';
	memcpy(b, "AUTH ", 5);
	memset(b + 5, 'B', n);
	b[n + 5] = '\0';
	lines[0] = "mail.example";
	lines[1] = a;
	lines[2] = b;
	set_reply(r, lines, 3);
	CHECK(smtp_parse_caps(r, c) == -1);
	CHECK(strchr(c->auth, 'B') == NULL);	/* not half of it */
	CHECK(strlen(c->auth) == n);
	free(a);
	free(b);
	free(r);
	free(c);
}

/* Display text cut to its buffer ends in "...". */
static void
test_reply_text_cut(void)
{
	char *big = malloc(3000), out[64];
	const char *lines[1];
	struct smtp_reply *r = calloc(1, sizeof(*r));

	memset(big, 'x', 2999);
	big[2999] = '\0';
	lines[0] = big;
	set_reply(r, lines, 1);
	r->code = 554;
	smtp_reply_text(r, out, sizeof(out));
	CHECK(strlen(out) == sizeof(out) - 1);
	CHECK(strncmp(out, "554 xxx", 7) == 0);
	CHECK(strcmp(out + sizeof(out) - 4, "...") == 0);
	/* one that fits has no dots */
	big[10] = '\0';
	smtp_reply_text(r, out, sizeof(out));
	CHECK_STR(out, "554 xxxxxxxxxx");
	free(big);
	free(r);
}

/* An address of n octets: "aaa...@example.org". */
static char *
long_addr(size_t n)
{
	char *a = malloc(n + 1);

	memset(a, 'a', n - 12);
	memcpy(a + n - 12, "@example.org", 13);
	return a;
}

/*
 * RFC 5321 4.5.3.1.4: a MAIL or RCPT line over 512 octets with CRLF is
 * FAIL_DATA before any of the transaction is sent (the 2,030-octet
 * sender used to overflow the stack at " SIZE=").  The server script
 * proves that nothing but QUIT followed EHLO.
 */
static void
test_long_lines(void)
{
	static const char *const nothing_sent[] = {
		"S 220 fake", "R EHLO client.test",
		"S 250-fake", "S 250-PIPELINING", "S 250 SIZE 1000000",
		"R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const sent[] = {
		"S 220 fake", "R EHLO", "S 250 fake", "R MAIL FROM:<aaa",
		"S 250 ok", "R RCPT TO:<r@example.org>", "S 250 ok",
		"R DATA", "S 354 go", "D", "S 250 ok", "R QUIT", "S 221 bye",
		"E", NULL,
	};
	/* over the limit as sender and as recipient: "MAIL FROM:<>" is
	 * 12 octets, "RCPT TO:<>" 10, so 499 and 501 are the first over */
	static const size_t sizes[] = { 2030, 100000, 501 };
	const char *rcpt[2] = { "r@example.org", NULL };
	struct smtp_mail ml;
	struct smtp_result res;
	struct msg *m = fake_msg();
	int rc;

	memset(&ml, 0, sizeof(ml));
	ml.rcpt = rcpt;
	ml.nrcpt = 1;
	ml.msg = m;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *a = long_addr(sizes[i]);

		ml.sender = a;
		CHECK(fake_session(nothing_sent, SMTP_PROTO_SMTP, 0, &ml,
		    &res, &rc) == 0);
		CHECK(rc == -1);
		CHECK(res.fail.cls == FAIL_DATA);
		CHECK(strstr(res.fail.msg, "command line too long") != NULL);
		CHECK(strlen(res.fail.msg) < 200);
		smtp_result_free(&res);
		/* the same address as the second recipient */
		ml.sender = "s@example.org";
		rcpt[1] = a;
		ml.nrcpt = 2;
		CHECK(fake_session(nothing_sent, SMTP_PROTO_SMTP, 0, &ml,
		    &res, &rc) == 0);
		CHECK(rc == -1 && res.fail.cls == FAIL_DATA);
		CHECK(res.phase == SMTP_PH_RCPT);
		smtp_result_free(&res);
		ml.nrcpt = 1;
		free(a);
	}
	/* a sender of 499: MAIL is one octet over */
	{
		char *a = long_addr(499);

		ml.sender = a;
		CHECK(fake_session(nothing_sent, SMTP_PROTO_SMTP, 0, &ml,
		    &res, &rc) == 0);
		CHECK(rc == -1 && res.fail.cls == FAIL_DATA);
		CHECK(res.phase == SMTP_PH_MAIL);
		smtp_result_free(&res);
		free(a);
	}
	/* 510 octets of text: the longest line allowed, sent */
	{
		char *a = long_addr(510 - 12);

		ml.sender = a;
		CHECK(fake_session(sent, SMTP_PROTO_SMTP, 0, &ml, &res, &rc)
		    == 0);
		CHECK(rc == 0);
		smtp_result_free(&res);
		free(a);
	}
	/* a CR LF in an address would inject a command: never sent */
	ml.sender = "a@b\r\nRCPT TO:<evil@example.org>";
	CHECK(fake_session(nothing_sent, SMTP_PROTO_SMTP, 0, &ml, &res,
	    &rc) == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_DATA);
	CHECK(strstr(res.fail.msg, "\\x0d\\x0a") != NULL);
	smtp_result_free(&res);
	msg_free(m);
}

/* RFC 3207 4: STARTTLS 4xx is temporary, 5xx permanent; no fallback. */
static void
test_starttls_refused(void)
{
	static const char *const t454[] = {
		"S 220 fake", "R EHLO", "S 250-fake", "S 250 STARTTLS",
		"R STARTTLS", "S 454 4.7.0 TLS not available", "R QUIT",
		"S 221 bye", "E", NULL,
	};
	static const char *const t554[] = {
		"S 220 fake", "R EHLO", "S 250-fake", "S 250 STARTTLS",
		"R STARTTLS", "S 554 5.7.3 no", "R QUIT", "S 221 bye", "E",
		NULL,
	};
	static const struct {
		const char *const *script;
		enum smtp_tls tls;
		enum fail_class cls;
	} t[] = {
		{ t454, SMTP_TLS_STARTTLS, FAIL_TEMP },
		{ t454, SMTP_TLS_AUTO, FAIL_TEMP },
		{ t554, SMTP_TLS_STARTTLS, FAIL_PERM },
		{ t554, SMTP_TLS_AUTO, FAIL_PERM },
	};
	const char *rcpt[] = { "r@example.org" };
	struct smtp_mail ml;
	struct msg *m = fake_msg();

	memset(&ml, 0, sizeof(ml));
	ml.sender = "s@example.org";
	ml.rcpt = rcpt;
	ml.nrcpt = 1;
	ml.msg = m;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fake fk;
		struct smtp_params p;
		struct smtp_result res;

		fake_start(&fk, t[i].script);
		fake_params(&p, fk.port, SMTP_PROTO_SMTP);
		p.tls = t[i].tls;
		CHECK(smtp_session(&p, &ml, &res) == -1);
		CHECK(fake_wait(&fk) == 0);	/* no MAIL in plaintext */
		CHECK(res.fail.cls == t[i].cls);
		CHECK(res.phase == SMTP_PH_STARTTLS);
		CHECK(!res.tls);
		smtp_result_free(&res);
	}
	msg_free(m);
}

/* The envelope of two recipients up to DATA's 354, RCPT replies given. */
#define ENV2(proto, r1, r2) \
	"S 220 fake", "R " proto, "S 250 fake", "R MAIL FROM:<s@example.org>", \
	"S 250 ok", "R RCPT TO:<a@example.org>", "S " r1, \
	"R RCPT TO:<b@example.org>", "S " r2, "R DATA", "S 354 go", "D"

static void
check_states(const struct smtp_result *res, enum smtp_rcpt_state a,
    enum smtp_rcpt_state b, int after_a, int after_b)
{
	CHECK(res->nrcpt == 2);
	CHECK(res->rcpt[0].state == a);
	CHECK(res->rcpt[1].state == b);
	CHECK(res->rcpt[0].after_data == after_a);
	CHECK(res->rcpt[1].after_data == after_b);
	CHECK(res->nrefused == res->ntemp + res->nperm);
	CHECK(res->delivered == (res->ndelivered > 0));
}

/*
 * Per-recipient outcomes (issue 9): the state of each recipient and the
 * counts the front end queues by.
 */
static void
test_rcpt_states(void)
{
	static const char *const partial451[] = {
		ENV2("EHLO", "451 4.3.0 greylisted", "250 ok"),
		"S 250 2.0.0 queued", "R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const lmtp452[] = {
		ENV2("LHLO", "250 ok", "250 ok"),
		"S 452 4.2.2 <a@example.org> over quota",
		"S 250 2.0.0 <b@example.org> delivered",
		"R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const lmtpdrop[] = {
		ENV2("LHLO", "250 ok", "250 ok"),
		"S 250 2.0.0 <a@example.org> delivered", "X", NULL,
	};
	static const char *const lmtp421[] = {
		ENV2("LHLO", "250 ok", "250 ok"),
		"S 250 2.0.0 <a@example.org> delivered",
		"S 421 4.3.2 shutting down", "E", NULL,
	};
	static const char *const lmtpall[] = {
		ENV2("LHLO", "250 ok", "250 ok"),
		"S 550 5.1.1 <a@example.org> gone",
		"S 452 4.2.2 <b@example.org> over quota",
		"R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const smtp250[] = {
		ENV2("EHLO", "250 ok", "250 ok"),
		"S 250 2.0.0 queued", "R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const smtpdrop[] = {
		ENV2("EHLO", "250 ok", "250 ok"), "X", NULL,
	};
	static const char *const smtp554[] = {
		ENV2("EHLO", "250 ok", "250 ok"),
		"S 554 5.7.1 spam", "R QUIT", "S 221 bye", "E", NULL,
	};
	static const char *const smtp550[] = {
		"S 220 fake", "R EHLO", "S 250 fake", "R MAIL", "S 250 ok",
		"R RCPT TO:<a@example.org>", "S 550 5.1.1 unknown",
		"R RCPT TO:<b@example.org>", "S 250 ok", "R QUIT",
		"S 221 bye", "E", NULL,
	};
	const char *rcpt[] = { "a@example.org", "b@example.org" };
	struct smtp_mail ml;
	struct smtp_result res;
	struct msg *m = fake_msg();
	int rc;

	memset(&ml, 0, sizeof(ml));
	ml.sender = "s@example.org";
	ml.rcpt = rcpt;
	ml.nrcpt = 2;
	ml.msg = m;

	/* --allow-partial: the 451 one is TEMPFAIL, the other delivered */
	CHECK(fake_session(partial451, SMTP_PROTO_SMTP, 1, &ml, &res, &rc)
	    == 0);
	CHECK(rc == 0 && res.fail.cls == FAIL_NONE);
	check_states(&res, SMTP_RCPT_TEMPFAIL, SMTP_RCPT_DELIVERED, 0, 0);
	CHECK(res.ntemp == 1 && res.nperm == 0 && res.ndelivered == 1);
	CHECK(res.rcpt[0].code == 451);
	CHECK(res.naccepted == 1);
	smtp_result_free(&res);

	/* LMTP 452 after the data for one, 250 for the other */
	CHECK(fake_session(lmtp452, SMTP_PROTO_LMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == 0);
	check_states(&res, SMTP_RCPT_TEMPFAIL, SMTP_RCPT_DELIVERED, 1, 0);
	CHECK(res.rcpt[0].code == 452 && res.ntemp == 1);
	CHECK(res.naccepted == 2 && res.ndelivered == 1);
	CHECK(strstr(res.final, "<b@example.org> delivered") != NULL);
	smtp_result_free(&res);

	/* LMTP: one delivered, then the link is lost: the other unknown */
	CHECK(fake_session(lmtpdrop, SMTP_PROTO_LMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_TEMP && res.maybe_delivered);
	check_states(&res, SMTP_RCPT_DELIVERED, SMTP_RCPT_UNKNOWN, 0, 0);
	CHECK(res.ndelivered == 1 && res.nunknown == 1);
	CHECK(strstr(res.fail.msg, "delivered to 1 of 2") != NULL);
	smtp_result_free(&res);

	/* LMTP: one delivered, then 421: the other a temporary failure */
	CHECK(fake_session(lmtp421, SMTP_PROTO_LMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_TEMP && !res.maybe_delivered);
	check_states(&res, SMTP_RCPT_DELIVERED, SMTP_RCPT_TEMPFAIL, 0, 1);
	CHECK(res.rcpt[1].code == 421);
	smtp_result_free(&res);

	/* LMTP: both refused after the data: nothing delivered */
	CHECK(fake_session(lmtpall, SMTP_PROTO_LMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_RCPT);
	check_states(&res, SMTP_RCPT_PERMFAIL, SMTP_RCPT_TEMPFAIL, 1, 1);
	CHECK(strstr(res.fail.msg, "refused after the data") != NULL);
	smtp_result_free(&res);

	/* SMTP: the final 250 delivers to every accepted recipient */
	CHECK(fake_session(smtp250, SMTP_PROTO_SMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == 0);
	check_states(&res, SMTP_RCPT_DELIVERED, SMTP_RCPT_DELIVERED, 0, 0);
	CHECK(res.ndelivered == 2 && res.nrefused == 0);
	smtp_result_free(&res);

	/* SMTP: link lost after the dot: both unknown */
	CHECK(fake_session(smtpdrop, SMTP_PROTO_SMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.maybe_delivered);
	check_states(&res, SMTP_RCPT_UNKNOWN, SMTP_RCPT_UNKNOWN, 0, 0);
	CHECK(res.nunknown == 2 && res.ndelivered == 0);
	smtp_result_free(&res);

	/* SMTP: the final reply refuses: reached no one */
	CHECK(fake_session(smtp554, SMTP_PROTO_SMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_PERM && !res.maybe_delivered);
	check_states(&res, SMTP_RCPT_ACCEPTED, SMTP_RCPT_ACCEPTED, 0, 0);
	CHECK(res.ndelivered == 0 && res.nunknown == 0);
	smtp_result_free(&res);

	/* all-or-nothing: one refused at RCPT, no DATA */
	CHECK(fake_session(smtp550, SMTP_PROTO_SMTP, 0, &ml, &res, &rc)
	    == 0);
	CHECK(rc == -1 && res.fail.cls == FAIL_RCPT);
	check_states(&res, SMTP_RCPT_PERMFAIL, SMTP_RCPT_ACCEPTED, 0, 0);
	CHECK(res.nperm == 1 && res.naccepted == 1);
	smtp_result_free(&res);
	msg_free(m);
	for (int i = 0; i < SMTP_RCPT_MAX; i++)
		CHECK(smtp_rcpt_state_names[i] != NULL);
}

int
main(void)
{
	test_parse_line();
	test_enh();
	test_caps();
	test_reply_text();
	test_reply_text_cut();
	test_caps_long_auth();
	test_caps_auth_overflow();
	test_long_lines();
	test_starttls_refused();
	test_rcpt_states();
	test_dotstuff();
	test_smuggling();
	test_exit_map();
	test_timeouts();
	T_DONE("smtp");
}
