/*
 * test_bs.c - the "sendmail -bs" server: exact replies for whole
 * sessions, pipelined and interactive clients, dot-unstuffing and the
 * final dot across every buffer split, several messages per session,
 * errors, the relay's verdict passed through, end of input mid-DATA.
 *
 * Sessions run bs_serve() on a script in a temporary file (the whole
 * client side at once: the most pipelined client there is), on a pipe
 * fed in small pieces by a child, or on a socketpair with the test as
 * an interactive client that waits for each reply.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "bs.h"

#define HOST	"mx.test"
#define GREET	"220 mx.test ESMTP smtpsend\r\n"
#define EHLO_R	"250-mx.test\r\n250-PIPELINING\r\n250-SIZE\r\n" \
		"250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n" \
		"250 HELP\r\n"
#define GO	"354 End data with <CR><LF>.<CR><LF>\r\n"
#define BYE	"221 2.0.0 Bye\r\n"
#define QUEUED	"250 2.0.0 Ok: queued as X\r\n"

#define BADR	"501 5.1.3 Bad recipient address syntax: "
#define NOREPLY	"451 4.3.0 Error: no valid reply from the relay"

#define MAXMSG	4

/* What the fake relay saw, per message. */
struct seen {
	char	*sender;
	char	*rcpts;		/* joined with "," */
	char	*data;
	size_t	 len;
	off_t	 pos;		/* offset of fd when called */
};

struct relay {
	const char	*answer;	/* reply to give */
	int		 calls;
	struct seen	 m[MAXMSG];
};

struct run {
	int	 rc;
	struct fail f;
	char	*out;
	size_t	 outlen;
};

static void
fake_relay(void *arg, const char *sender, const struct strv *rcpts, int fd,
    char *reply, size_t cap)
{
	struct relay *r = arg;
	struct seen *s;
	size_t n = 0, cap2 = 4096;
	ssize_t got;
	char *buf;

	CHECK(cap == BS_REPLY_MAX && reply[0] == '\0');
	if (r->calls >= MAXMSG) {
		r->calls++;
		return;
	}
	s = &r->m[r->calls++];
	s->sender = xstrdup(sender);
	s->rcpts = xstrdup("");
	for (size_t i = 0; i < rcpts->n; i++) {
		size_t l = strlen(s->rcpts);

		s->rcpts = xrealloc(s->rcpts, l + strlen(rcpts->v[i]) + 2);
		sprintf(s->rcpts + l, "%s%s", i ? "," : "", rcpts->v[i]);
	}
	s->pos = lseek(fd, 0, SEEK_CUR);
	buf = xmalloc(cap2);
	while ((got = read(fd, buf + n, cap2 - n)) > 0) {
		n += (size_t)got;
		if (n == cap2)
			buf = xrealloc(buf, cap2 *= 2);
	}
	s->data = buf;
	s->len = n;
	if (r->answer != NULL)
		xstrlcpy(reply, r->answer, cap);
}

static void
relay_free(struct relay *r)
{
	for (int i = 0; i < MAXMSG && i < r->calls; i++) {
		free(r->m[i].sender);
		free(r->m[i].rcpts);
		free(r->m[i].data);
	}
	memset(r, 0, sizeof(*r));
}

static int
tmpfd(void)
{
	char path[] = "/tmp/test_bs.XXXXXX";
	int fd = mkstemp(path);

	if (fd == -1) {
		perror("mkstemp");
		exit(2);
	}
	unlink(path);
	return fd;
}

static char *
slurp(int fd, size_t *lenp)
{
	size_t n = 0, cap = 4096;
	char *buf = xmalloc(cap);
	ssize_t got;

	lseek(fd, 0, SEEK_SET);
	while ((got = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)got;
		if (n + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

/* Output goes to a regular file, read back at the end. */
static void
serve(int in, struct relay *r, struct run *run, const char *host)
{
	int out = tmpfd();

	fail_reset(&run->f);
	run->rc = bs_serve(in, out, host, fake_relay, r, &run->f);
	run->out = slurp(out, &run->outlen);
	close(out);
}

/* The whole client script at once, from a file. */
static void
run_file(const char *script, size_t len, struct relay *r, struct run *run)
{
	int in = tmpfd();

	if (write(in, script, len) != (ssize_t)len)
		exit(2);
	lseek(in, 0, SEEK_SET);
	serve(in, r, run, HOST);
	close(in);
}

/* The script through a pipe, written in pieces of `chunk` bytes. */
static void
run_pipe(const char *script, size_t len, size_t chunk, struct relay *r,
    struct run *run)
{
	int p[2], status;
	pid_t pid;

	if (pipe(p) == -1 || (pid = fork()) == -1)
		exit(2);
	if (pid == 0) {
		close(p[0]);
		for (size_t o = 0; o < len; o += chunk) {
			size_t n = len - o < chunk ? len - o : chunk;

			if (write(p[1], script + o, n) != (ssize_t)n)
				_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	serve(p[0], r, run, HOST);
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define RUN(script, r, run) run_file((script), sizeof(script) - 1, (r), (run))
#define CHECK_OUT(run, want) \
	CHECK_BYTES((run)->out, (run)->outlen, (want), sizeof(want) - 1)
#define CHECK_DATA(s, want) \
	CHECK_BYTES((s)->data, (s)->len, (want), sizeof(want) - 1)

static void
test_normal(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;

	RUN("EHLO client.test\r\n"
	    "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<bob@example.net>\r\n"
	    "RCPT TO:<carol@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "body\r\n"
	    ".\r\n"
	    "QUIT\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK(run.f.cls == FAIL_NONE);
	CHECK_OUT(&run, GREET EHLO_R
	    "250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    GO QUEUED BYE);
	CHECK(r.calls == 1);
	CHECK_STR(r.m[0].sender, "alice@example.org");
	CHECK_STR(r.m[0].rcpts, "bob@example.net,carol@example.net");
	CHECK_DATA(&r.m[0], "Subject: hi\r\n\r\nbody\r\n");
	CHECK(r.m[0].pos == 0);
	free(run.out);
	relay_free(&r);

	/* HELO, lower case, a blank after the colon, trailing blanks */
	r.answer = "250 2.0.0 Ok: queued as X";
	RUN("helo client\r\n"
	    "mail from: <a@b.test>  \r\n"
	    "rcpt to:<c@d.test>\r\n"
	    "data\r\n"
	    "x\r\n"
	    ".\r\n"
	    "quit\r\n", &r, &run);
	CHECK_OUT(&run, GREET "250 mx.test\r\n250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n" GO QUEUED BYE);
	CHECK(r.calls == 1);
	CHECK_DATA(&r.m[0], "x\r\n");
	free(run.out);
	relay_free(&r);
}

/* Other commands and their exact replies. */
static void
test_misc_commands(void)
{
	struct relay r = { 0 };
	struct run run;

	RUN("NOOP\r\nNOOP hello\r\nHELP\r\nVRFY bob\r\nVRFY\r\nEXPN list\r\n"
	    "STARTTLS\r\nAUTH PLAIN\r\nBDAT 10 LAST\r\nFOO\r\n\r\n"
	    "EHLO\r\nHELO\r\nRSET x\r\nQUIT\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET
	    "250 2.0.0 Ok\r\n"
	    "250 2.0.0 Ok\r\n"
	    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
	    "VRFY HELP\r\n"
	    "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
	    "delivery\r\n"
	    "501 5.5.4 Syntax: VRFY address\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "501 5.5.4 Syntax: EHLO hostname\r\n"
	    "501 5.5.4 Syntax: HELO hostname\r\n"
	    "501 5.5.4 Syntax: RSET\r\n"
	    BYE);
	CHECK(r.calls == 0);
	free(run.out);

	/* nothing after QUIT is read */
	RUN("QUIT\r\nNOOP\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET BYE);
	free(run.out);

	/* the host name goes into replies only when printable */
	{
		int in = tmpfd();

		serve(in, &r, &run, NULL);
		CHECK_OUT(&run, "220 localhost ESMTP smtpsend\r\n");
		free(run.out);
		serve(in, &r, &run, "evil\r\n250 injected");
		CHECK_OUT(&run, "220 localhost ESMTP smtpsend\r\n");
		free(run.out);
		close(in);
	}
}

static void
test_dots(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;

	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "..x\r\n"
	    "...\r\n"
	    "..\r\n"
	    ". \r\n"
	    "x.\r\n"
	    " .\r\n"
	    ".\rx\r\n"
	    ".x\r\n"
	    "\r\n"
	    "..\n"
	    "bare\rcr\r\n"
	    ".\r\n"
	    "QUIT\r\n", &r, &run);
	CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED
	    BYE);
	CHECK(r.calls == 1);
	CHECK_DATA(&r.m[0],
	    ".x\r\n"
	    "..\r\n"
	    ".\r\n"
	    " \r\n"
	    "x.\r\n"
	    " .\r\n"
	    ".\rx\r\n"		/* a dot before a bare CR is kept */
	    "x\r\n"
	    "\r\n"
	    ".\n"
	    "bare\rcr\r\n");
	free(run.out);
	relay_free(&r);

	/* commands may end in LF; data lines too, line ends kept; but
	 * only <CRLF>.<CRLF> ends the data */
	r.answer = "250 2.0.0 Ok: queued as X";
	RUN("MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nDATA\n"
	    "line1\nline2\r\n\n.\nQUIT\n\r\n.\r\nQUIT\n", &r, &run);
	CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED
	    BYE);
	CHECK(r.calls == 1);
	CHECK_DATA(&r.m[0], "line1\nline2\r\n\n.\nQUIT\n\r\n");
	free(run.out);
	relay_free(&r);

	/* an empty message, and ".\r" + "x" is not the end */
	r.answer = "250 2.0.0 Ok: queued as X";
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    ".\r.\r\n.\r\n", &r, &run);
	CHECK(r.calls == 2);
	CHECK(r.m[0].len == 0);
	CHECK_DATA(&r.m[1], ".\r.\r\n");
	free(run.out);
	relay_free(&r);
}

/*
 * The end of the data, every variant (SMTP smuggling): only
 * <CRLF>.<CRLF> ends it; a "." line with a bare LF (or CR) before or
 * after it is data, kept with its dot; a stuffed dot is removed on
 * every line, whatever ended the previous one.  Each script runs from
 * a file and byte by byte through a pipe (state across refills).
 */
static void
test_data_end(void)
{
	static const struct {
		const char	*in;	/* after "DATA\r\n" */
		const char	*want;	/* relayed data; NULL: not relayed */
	} t[] = {
		{ "a\r\n.\r\n", "a\r\n" },
		{ ".\r\n", "" },
		{ "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n" },
		{ "a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n" },
		{ "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n" },
		{ "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n" },
		{ "a\r\n.\r\rb\r\n.\r\n", "a\r\n.\r\rb\r\n" },
		{ "a\r\n.\r\r\nb\r\n.\r\n", "a\r\n.\r\r\nb\r\n" },
		{ "a\r.\r\n.\r\n", "a\r.\r\n" },
		{ ".\n.\r\nx\r\n.\r\n", ".\n.\r\nx\r\n" },
		{ "\r\n.\n\r\n.\r\n", "\r\n.\n\r\n" },
		{ "a\r\r\n.\r\n", "a\r\r\n" },
		{ "a\n..\r\nb\r\n.\r\n", "a\n.\r\nb\r\n" },
		{ "a\n.b\n\r\n.\r\n", "a\nb\n\r\n" },
		{ "a\r\n..\nb\r\n.\r\n", "a\r\n.\nb\r\n" },
		{ "a\r\n.\rb\r\n.\r\n", "a\r\n.\rb\r\n" },
		{ "a\n\n.\n\n.\r\n", NULL },	/* then QUIT is data too */
		{ "a\n.\n", NULL },
		{ "a\n.\r\n", NULL },
		{ "a\r\n.\n", NULL },
		{ "a\r\n.\r", NULL },
		{ "a\r\n.", NULL },
	};
	static const char env[] = "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\n";
	char script[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = (size_t)snprintf(script, sizeof(script),
		    "%s%sQUIT\r\n", env, t[i].in);

		for (int kind = 0; kind < 2; kind++) {
			struct relay r = { .answer = "250 2.0.0 Ok: queued "
			    "as X" };
			struct run run;
			int before = t_fail;

			if (kind == 0)
				run_file(script, n, &r, &run);
			else
				run_pipe(script, n, 1, &r, &run);
			CHECK(run.rc == 0);
			if (t[i].want == NULL) {
				CHECK(r.calls == 0);
				CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n"
				    "250 2.1.5 Ok\r\n" GO);
			} else {
				CHECK(r.calls == 1);
				CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n"
				    "250 2.1.5 Ok\r\n" GO QUEUED BYE);
				if (r.calls == 1)
					CHECK_BYTES(r.m[0].data, r.m[0].len,
					    t[i].want, strlen(t[i].want));
			}
			if (t_fail > before)
				fprintf(stderr, "  data-end case %zu, %s\n", i,
				    kind ? "pipe" : "file");
			free(run.out);
			relay_free(&r);
		}
	}
}

/* Two messages in one session, RSET between, new envelopes. */
static void
test_two_messages(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;

	RUN("EHLO c\r\n"
	    "MAIL FROM:<a1@b.test>\r\nRCPT TO:<r1@d.test>\r\nDATA\r\n"
	    "one\r\n.\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<r2@d.test>\r\nRCPT TO:<r3@d.test>\r\n"
	    "DATA\r\ntwo\r\n.\r\n"
	    "RSET\r\n"
	    "MAIL FROM:<a3@b.test>\r\nRCPT TO:<r4@d.test>\r\nDATA\r\n"
	    "three\n3\r\n.\r\n"
	    "QUIT\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET EHLO_R
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED
	    "250 2.0.0 Ok\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED
	    BYE);
	CHECK(r.calls == 3);
	CHECK_STR(r.m[0].sender, "a1@b.test");
	CHECK_STR(r.m[0].rcpts, "r1@d.test");
	CHECK_DATA(&r.m[0], "one\r\n");
	CHECK_STR(r.m[1].sender, "");
	CHECK_STR(r.m[1].rcpts, "r2@d.test,r3@d.test");
	CHECK_DATA(&r.m[1], "two\r\n");
	CHECK_STR(r.m[2].sender, "a3@b.test");
	CHECK_STR(r.m[2].rcpts, "r4@d.test");
	CHECK_DATA(&r.m[2], "three\n3\r\n");
	free(run.out);
	relay_free(&r);
}

/* RSET and EHLO drop the transaction; out-of-order commands. */
static void
test_sequence(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;

	RUN("RCPT TO:<c@d.test>\r\n"
	    "DATA\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "DATA\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\n"
	    "RSET\r\n"
	    "DATA\r\n"
	    "RCPT TO:<c@d.test>\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\n"
	    "EHLO again\r\n"
	    "DATA\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<c@d.test>\r\n"
	    "DATA x\r\n"
	    "DATA\r\n"
	    "m\r\n.\r\n"
	    "QUIT\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "250 2.1.5 Ok\r\n"
	    "250 2.0.0 Ok\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    EHLO_R
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "501 5.5.4 Syntax: DATA\r\n"
	    GO QUEUED BYE);
	CHECK(r.calls == 1);
	CHECK_STR(r.m[0].rcpts, "c@d.test");	/* the duplicate dropped */
	free(run.out);
	relay_free(&r);
}

/* One MAIL or RCPT line after "MAIL FROM:<a@b.test>" -> its reply. */
static void
test_syntax(void)
{
	static const struct {
		const char *cmd, *reply, *rcpt;
	} t[] = {
		{ "RCPT TO:<c@d.test>", "250 2.1.5 Ok", "c@d.test" },
		{ "RCPT TO:<root>", "250 2.1.5 Ok", "root" },
		{ "RCPT TO:<Postmaster>", "250 2.1.5 Ok", "Postmaster" },
		{ "RCPT TO:<\"a b\\\"c\"@d.test>", "250 2.1.5 Ok",
		    "\"a b\\\"c\"@d.test" },
		{ "RCPT TO:<\"a>b\"@d.test>", "250 2.1.5 Ok",
		    "\"a>b\"@d.test" },
		{ "RCPT TO:<@r1.test,@r2.test:u@d.test>", "250 2.1.5 Ok",
		    "u@d.test" },
		{ "RCPT TO:<u@[192.0.2.1]>", "250 2.1.5 Ok", "u@[192.0.2.1]" },
		{ "RCPT TO:<u@[IPv6:2001:db8::1]>", "250 2.1.5 Ok",
		    "u@[IPv6:2001:db8::1]" },
		{ "RCPT TO:<j\xc3\xb6@\xe4\xbe\x8b\xe3\x81\x88.jp>",
		    "250 2.1.5 Ok", "j\xc3\xb6@\xe4\xbe\x8b\xe3\x81\x88.jp" },
		{ "RCPT TO:<a+tag.x-y@sub-1.d.test>", "250 2.1.5 Ok",
		    "a+tag.x-y@sub-1.d.test" },
		{ "RCPT TO:c@d.test", "501 5.5.4 Syntax: RCPT TO:<address>",
		    0 },
		{ "RCPT TO:<c@d.test", "501 5.5.4 Syntax: RCPT TO:<address>",
		    0 },
		{ "RCPT TO:<c@d.test>x", "501 5.5.4 Syntax: RCPT TO:<address>",
		    0 },
		{ "RCPT FROM:<c@d.test>",
		    "501 5.5.4 Syntax: RCPT TO:<address>", 0 },
		{ "RCPT", "501 5.5.4 Syntax: RCPT TO:<address>", 0 },
		{ "RCPT TO:<>",
		    BADR "empty address", 0 },
		{ "RCPT TO:<a b@d.test>",
		    BADR "bad character ' ' in the local part", 0 },
		{ "RCPT TO:<a<b@d.test>",
		    BADR "bad character '<' in the local part", 0 },
		{ "RCPT TO:<c@>",
		    BADR "empty domain", 0 },
		{ "RCPT TO:<c@.d.test>",
		    BADR "empty label in the domain", 0 },
		{ "RCPT TO:<c@d..test>",
		    BADR "empty label in the domain", 0 },
		{ "RCPT TO:<c@d_x.test>",
		    BADR "bad character '_' in the domain", 0 },
		{ "RCPT TO:<c@[1.2.3.4>",
		    BADR "bad address literal (not closed by ']')", 0 },
		{ "RCPT TO:<c@[]>",
		    BADR "bad address literal (empty)", 0 },
		{ "RCPT TO:<@d.test>", "501 5.5.4 Syntax: RCPT TO:<address>",
		    0 },
		{ "RCPT TO:<@r.test:>", "501 5.1.3 Bad recipient address "
		    "syntax: empty address", 0 },
		{ "RCPT TO:<@r.test>", "501 5.5.4 Syntax: RCPT TO:<address>",
		    0 },
		{ "RCPT TO:<\"ab@d.test>", "501 5.5.4 Syntax: "
		    "RCPT TO:<address>", 0 },
		{ "RCPT TO:<\"ab>@d.test", "501 5.5.4 Syntax: "
		    "RCPT TO:<address>", 0 },
		{ "RCPT TO:<\"a\"b@d.test>",
		    BADR "bad character 'b' after the quoted local part", 0 },
		{ "RCPT TO:<\xff@d.test>",
		    BADR "invalid UTF-8 at octet 1", 0 },
		{ "RCPT TO:<\xc0\xaf@d.test>",
		    BADR "invalid UTF-8 at octet 1", 0 },
		{ "RCPT TO:<\xed\xa0\x80@d.test>",
		    BADR "invalid UTF-8 at octet 1", 0 },
		{ "RCPT TO:<a\x01@d.test>",
		    "501 5.5.2 Syntax error: control character in command", 0 },
		{ "RCPT TO:<a\r@d.test>",
		    "501 5.5.2 Syntax error: control character in command", 0 },
		{ "RCPT TO:<a\x7f@d.test>",
		    "501 5.5.2 Syntax error: control character in command", 0 },
		{ "RCPT TO:<a\t@d.test>",
		    "501 5.5.2 Syntax error: control character in command", 0 },
		{ "RCPT TO:<c@d.test> NOTIFY=NEVER",
		    "555 5.5.4 Unsupported option: NOTIFY", 0 },
		{ "MAIL FROM:<x@y.test>",
		    "503 5.5.1 Error: nested MAIL command", 0 },
	};
	static const char pre[] = "MAIL FROM:<a@b.test>\r\n";
	char script[1024], want[1024];
	struct relay r = { 0 };
	struct run run;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(script, sizeof(script), "%s%s\r\n%s", pre,
		    t[i].cmd, t[i].rcpt ? "DATA\r\nm\r\n.\r\n" : "");
		int wn = snprintf(want, sizeof(want), "%s250 2.1.0 Ok\r\n"
		    "%s\r\n%s", GREET, t[i].reply, t[i].rcpt ? GO "451 4.3.0 "
		    "Error: no valid reply from the relay\r\n" : "");

		run_file(script, (size_t)n, &r, &run);
		CHECK(run.rc == 0);
		CHECK_BYTES(run.out, run.outlen, want, (size_t)wn);
		if (t[i].rcpt != NULL) {
			CHECK(r.calls == 1);
			if (r.calls == 1)
				CHECK_STR(r.m[0].rcpts, t[i].rcpt);
		} else
			CHECK(r.calls == 0);
		if (run.outlen != (size_t)wn || r.calls != (t[i].rcpt != 0))
			fprintf(stderr, "  case %zu: %s\n", i, t[i].cmd);
		free(run.out);
		relay_free(&r);
	}

	/* a NUL inside a command line */
	RUN("NOOP\0x\r\nMAIL FROM:<a\0@b.test>\r\n", &r, &run);
	CHECK_OUT(&run, GREET
	    "501 5.5.2 Syntax error: control character in command\r\n"
	    "501 5.5.2 Syntax error: control character in command\r\n");
	free(run.out);
}

static void
test_mail_params(void)
{
	static const struct {
		const char *cmd, *reply, *sender;
	} t[] = {
		{ "MAIL FROM:<a@b.test>", "250 2.1.0 Ok", "a@b.test" },
		{ "MAIL FROM:<>", "250 2.1.0 Ok", "" },
		{ "MAIL FROM:<root>", "250 2.1.0 Ok", "root" },
		{ "MAIL FROM:<@r.test:a@b.test>", "250 2.1.0 Ok", "a@b.test" },
		{ "MAIL FROM:<a@b.test> SIZE=12345 BODY=8BITMIME SMTPUTF8",
		    "250 2.1.0 Ok", "a@b.test" },
		{ "MAIL FROM:<a@b.test>  size=0  body=7bit", "250 2.1.0 Ok",
		    "a@b.test" },
		{ "MAIL FROM:<a@b.test> SIZE=", "501 5.5.4 Bad SIZE value", 0 },
		{ "MAIL FROM:<a@b.test> SIZE", "501 5.5.4 Bad SIZE value", 0 },
		{ "MAIL FROM:<a@b.test> SIZE=12x", "501 5.5.4 Bad SIZE value",
		    0 },
		{ "MAIL FROM:<a@b.test> SIZE=123456789012345678901",
		    "501 5.5.4 Bad SIZE value", 0 },
		{ "MAIL FROM:<a@b.test> BODY=BINARYMIME",
		    "555 5.5.4 Unsupported BODY type", 0 },
		{ "MAIL FROM:<a@b.test> SMTPUTF8=yes",
		    "501 5.5.4 SMTPUTF8 takes no value", 0 },
		{ "MAIL FROM:<a@b.test> RET=FULL",
		    "555 5.5.4 Unsupported option: RET", 0 },
		{ "MAIL FROM:<a@b.test> AUTH=<>",
		    "555 5.5.4 Unsupported option: AUTH", 0 },
		{ "MAIL FROM:a@b.test", "501 5.5.4 Syntax: MAIL FROM:<address>",
		    0 },
		{ "MAIL TO:<a@b.test>", "501 5.5.4 Syntax: MAIL FROM:<address>",
		    0 },
		{ "MAIL", "501 5.5.4 Syntax: MAIL FROM:<address>", 0 },
		{ "MAIL FROM:<a b@c.test>", "501 5.1.7 Bad sender address "
		    "syntax: bad character ' ' in the local part", 0 },
	};
	char script[1024], want[1024];
	struct relay r = { 0 };
	struct run run;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(script, sizeof(script), "%s\r\n%s", t[i].cmd,
		    t[i].sender ? "RCPT TO:<c@d.test>\r\nDATA\r\nm\r\n.\r\n" :
		    "");
		int wn = snprintf(want, sizeof(want), "%s%s\r\n%s", GREET,
		    t[i].reply, t[i].sender ? "250 2.1.5 Ok\r\n" GO
		    "451 4.3.0 Error: no valid reply from the relay\r\n" : "");

		run_file(script, (size_t)n, &r, &run);
		CHECK_BYTES(run.out, run.outlen, want, (size_t)wn);
		if (t[i].sender != NULL) {
			CHECK(r.calls == 1);
			if (r.calls == 1)
				CHECK_STR(r.m[0].sender, t[i].sender);
		} else
			CHECK(r.calls == 0);
		free(run.out);
		relay_free(&r);
	}

	/* a long unknown parameter is quoted cut, visibly, in MAIL and
	 * RCPT; the reply stays one short line */
	{
		char cmd[2 * BS_LINE_MAX], w[256];
		int n;

		n = sprintf(cmd, "MAIL FROM:<a@b.test> ");
		memset(cmd + n, 'K', 1500);
		n += 1500;
		n += sprintf(cmd + n, "\r\nMAIL FROM:<a@b.test>\r\n"
		    "RCPT TO:<c@d.test> ");
		memset(cmd + n, 'R', 1500);
		n += 1500;
		memcpy(cmd + n, "=x\r\n", 4);
		n += 4;
		memset(w, 'K', 64);
		memset(w + 128, 'R', 64);
		run_file(cmd, (size_t)n, &r, &run);
		snprintf(script, sizeof(script), "%s555 5.5.4 Unsupported "
		    "option: %.64s...\r\n250 2.1.0 Ok\r\n555 5.5.4 "
		    "Unsupported option: %.64s...\r\n", GREET, w, w + 128);
		CHECK_BYTES(run.out, run.outlen, script, strlen(script));
		free(run.out);
		relay_free(&r);
	}

	/* a path of 256 octets with its brackets passes, 257 does not
	 * (RFC 5321 4.5.3.1.3): a 64-octet local part, a 189-octet domain */
	{
		char addr[300], dom[200];
		int n;

		memset(addr, 'a', 64);
		addr[64] = '\0';
		memset(dom, 'x', 63);
		dom[63] = '.';
		memset(dom + 64, 'y', 63);
		dom[127] = '.';
		memset(dom + 128, 'z', 56);
		memcpy(dom + 184, ".test", 6);
		CHECK(strlen(addr) + 1 + strlen(dom) == 254);
		n = snprintf(script, sizeof(script), "MAIL FROM:<%s@%s>\r\n"
		    "RSET\r\nMAIL FROM:<%s@%.128sz%s>\r\n", addr, dom, addr,
		    dom, dom + 128);
		run_file(script, (size_t)n, &r, &run);
		CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"
		    "501 5.1.7 Bad sender address syntax: address over 254 "
		    "octets (255)\r\n");
		free(run.out);
	}
}

/* The relay's verdict, checked and passed through. */
static void
test_verdicts(void)
{
	static const struct {
		const char *answer, *sent;
	} t[] = {
		{ "250 2.0.0 Ok: queued as 4XyZ",
		    "250 2.0.0 Ok: queued as 4XyZ" },
		{ "550 5.1.1 <c@d.test>: Recipient address rejected: "
		    "User unknown", "550 5.1.1 <c@d.test>: Recipient address "
		    "rejected: User unknown" },
		{ "451 4.7.1 Try again later", "451 4.7.1 Try again later" },
		{ "554 Transaction failed", "554 5.0.0 Transaction failed" },
		{ "250 Ok", "250 2.0.0 Ok" },
		{ "250", "250 2.0.0" },
		{ "550 4.1.1 class mismatch",
		    "550 5.0.0 4.1.1 class mismatch" },
		{ "421 4.4.2 Connection timed out",
		    "451 4.4.2 Connection timed out" },
		{ "250 2.0.0 Ok\r\n250 injected",
		    "250 2.0.0 Ok  250 injected" },
		{ "", NOREPLY },
		{ "354 go", NOREPLY },
		{ "250-multi", NOREPLY },
		{ "25", NOREPLY },
		{ "650 x", NOREPLY },
		{ "OK", NOREPLY },
	};
	static const char script[] = "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\nm\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\nQUIT\r\n";
	char want[2048];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct relay r = { .answer = t[i].answer };
		struct run run;
		int wn = snprintf(want, sizeof(want), GREET "250 2.1.0 Ok\r\n"
		    "250 2.1.5 Ok\r\n" GO "%s\r\n250 2.1.0 Ok\r\n" BYE,
		    t[i].sent);

		RUN(script, &r, &run);
		CHECK(run.rc == 0);
		/* and the transaction is reset: MAIL is allowed again */
		CHECK_BYTES(run.out, run.outlen, want, (size_t)wn);
		CHECK(r.calls == 1);
		free(run.out);
		relay_free(&r);
	}
}

/* End of input: nothing half-received is ever relayed. */
static void
test_eof(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;

	/* mid-DATA, at a line start */
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "Subject: x\r\n\r\nbody\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK(run.f.cls == FAIL_NONE);
	CHECK(r.calls == 0);
	CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO);
	free(run.out);

	/* right after a lone "." with no line end */
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "body\r\n.", &r, &run);
	CHECK(run.rc == 0);
	CHECK(r.calls == 0);
	free(run.out);

	/* after ".\r" */
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "body\r\n.\r", &r, &run);
	CHECK(run.rc == 0);
	CHECK(r.calls == 0);
	free(run.out);

	/* without QUIT, a partial command line is dropped */
	RUN("NOOP\r\nQUI", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET "250 2.0.0 Ok\r\n");
	free(run.out);

	/* nothing at all */
	RUN("", &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET);
	free(run.out);

	/* a complete message before EOF is relayed */
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "x\r\n.\r\n", &r, &run);
	CHECK(run.rc == 0);
	CHECK(r.calls == 1);
	CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED);
	free(run.out);
	relay_free(&r);
}

/* Command lines: BS_LINE_MAX octets with the line end, no more. */
static void
test_long_lines(void)
{
	struct relay r = { 0 };
	struct run run;
	size_t big = 100000, n;
	char *s = xmalloc(big + 256);

	/* NOOP + blanks: exactly BS_LINE_MAX with CRLF, then one more */
	n = 0;
	memcpy(s, "NOOP ", 5);
	memset(s + 5, 'x', BS_LINE_MAX - 7);
	memcpy(s + BS_LINE_MAX - 2, "\r\n", 2);
	n = BS_LINE_MAX;
	memcpy(s + n, "NOOP ", 5);
	memset(s + n + 5, 'x', BS_LINE_MAX - 6);
	memcpy(s + n + BS_LINE_MAX - 1, "\r\n", 2);
	n += BS_LINE_MAX + 1;
	/* and one far beyond every buffer */
	memcpy(s + n, "NOOP ", 5);
	memset(s + n + 5, 'y', big - n);
	n = big + 5;
	memcpy(s + n, "\r\nNOOP\r\nQUIT\r\n", 14);
	n += 14;
	run_file(s, n, &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET "250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "250 2.0.0 Ok\r\n" BYE);
	free(run.out);
	/* the same through a pipe in odd pieces */
	run_pipe(s, n, 997, &r, &run);
	CHECK_OUT(&run, GREET "250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "250 2.0.0 Ok\r\n" BYE);
	free(run.out);
	/* an overlong line cut by EOF */
	run_file(s, big, &r, &run);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET "250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n");
	free(run.out);
	free(s);
}

/* Too many recipients: RFC 5321 4.5.3.1.10. */
static void
test_rcpt_limit(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;
	size_t cap = 64 * (BS_RCPT_MAX + 10), n = 0;
	char *s = xmalloc(cap), *want = xmalloc(cap);
	size_t wn = 0;

	n += (size_t)sprintf(s + n, "MAIL FROM:<a@b.test>\r\n");
	wn += (size_t)sprintf(want + wn, GREET "250 2.1.0 Ok\r\n");
	for (int i = 0; i < BS_RCPT_MAX + 2; i++) {
		n += (size_t)sprintf(s + n, "RCPT TO:<r%d@d.test>\r\n", i);
		wn += (size_t)sprintf(want + wn, "%s\r\n", i < BS_RCPT_MAX ?
		    "250 2.1.5 Ok" : "452 4.5.3 Error: too many recipients");
	}
	/* a duplicate of an accepted one is still fine */
	n += (size_t)sprintf(s + n, "RCPT TO:<r0@d.test>\r\nDATA\r\nm\r\n"
	    ".\r\nQUIT\r\n");
	wn += (size_t)sprintf(want + wn, "250 2.1.5 Ok\r\n" GO QUEUED BYE);
	run_file(s, n, &r, &run);
	CHECK_BYTES(run.out, run.outlen, want, wn);
	CHECK(r.calls == 1);
	if (r.calls == 1) {
		CHECK(strncmp(r.m[0].rcpts, "r0@d.test,r1@d.test,", 20) == 0);
		CHECK(strlen(r.m[0].rcpts) > 10 * BS_RCPT_MAX);
	}
	free(run.out);
	relay_free(&r);
	free(s);
	free(want);
}

/*
 * A large message with stuffed dots and mixed line ends, through a
 * pipe in pieces of many sizes: the bytes the relay sees are exact
 * whatever the buffer edges.
 */
/* A session with one message of about `size` bytes: stuffed dots,
 * dots inside lines, CRLF and LF, a 70000-byte line when long is set.
 * *exp gets what the relay must see. */
static size_t
build_big(char *s, char *exp, size_t size, int lng, size_t *enp)
{
	size_t n = 0, en = 0;
	unsigned seed = 12345;

	n += (size_t)sprintf(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\n");
	while (n < size) {
		size_t len;

		seed = (unsigned)((seed * 1103515245ULL + 12345) & 0xffffffffU);
		len = (seed >> 8) % 120;
		if (lng && (seed >> 4) % 97 == 0)
			len = 70000;	/* longer than every buffer */
		if ((seed >> 20) % 4 == 0) {
			s[n++] = '.';	/* the stuffing dot */
			s[n++] = '.';
			exp[en++] = '.';
		}
		for (size_t i = 0; i < len; i++) {
			char c = (char)('a' + (i + n) % 26);

			if ((seed >> 12) % 5 == 0 && i % 13 == 5)
				c = '.';
			s[n++] = exp[en++] = c;
		}
		if ((seed >> 16) % 3 == 0)
			s[n++] = exp[en++] = '\r';
		s[n++] = exp[en++] = '\n';
	}
	/* only <CRLF>.<CRLF> ends it: the last line may end in a bare LF */
	n += (size_t)sprintf(s + n, "end\r\n.\r\nQUIT\r\n");
	en += (size_t)sprintf(exp + en, "end\r\n");
	*enp = en;
	return n;
}

/*
 * Large messages through a pipe in pieces of many sizes: the bytes the
 * relay sees are exact whatever the buffer edges.
 */
static void
test_big_message(void)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 509, 4096, 16383, 65537,
	    1 << 20 };
	size_t cap = 400000, n, en;
	char *s = xmalloc(cap + 100000), *exp = xmalloc(cap + 100000);
	struct relay r = { 0 };
	struct run run;

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		/* byte by byte is slow: the same edges, a shorter message */
		if (chunks[i] < 7)
			n = build_big(s, exp, 20000, 0, &en);
		else
			n = build_big(s, exp, cap, 1, &en);
		r.answer = "250 2.0.0 Ok: queued as X";
		run_pipe(s, n, chunks[i], &r, &run);
		CHECK(run.rc == 0);
		CHECK_OUT(&run, GREET EHLO_R "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    GO QUEUED BYE);
		CHECK(r.calls == 1);
		if (r.calls == 1)
			CHECK_BYTES(r.m[0].data, r.m[0].len, exp, en);
		free(run.out);
		relay_free(&r);
	}
	/* and from a file, in one go */
	n = build_big(s, exp, cap, 1, &en);
	r.answer = "250 2.0.0 Ok: queued as X";
	run_file(s, n, &r, &run);
	CHECK(r.calls == 1);
	if (r.calls == 1)
		CHECK_BYTES(r.m[0].data, r.m[0].len, exp, en);
	free(run.out);
	relay_free(&r);
	free(s);
	free(exp);
}

/* Poll-read from fd until buf ends with `end` (5 s at most). */
static size_t
read_until(int fd, char *buf, size_t cap, const char *end)
{
	size_t n = 0, el = strlen(end);

	while (n < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, 5000) != 1)
			break;
		if ((got = read(fd, buf + n, cap - 1 - n)) <= 0)
			break;
		n += (size_t)got;
		if (n >= el && memcmp(buf + n - el, end, el) == 0)
			break;
	}
	buf[n] = '\0';
	return n;
}

static void
size_relay(void *arg, const char *sender, const struct strv *rcpts, int fd,
    char *reply, size_t cap)
{
	off_t size = lseek(fd, 0, SEEK_END);

	(void)arg;
	snprintf(reply, cap, "250 2.0.0 Ok: %s to %zu, %lld bytes", sender,
	    rcpts->n, (long long)size);
}

/*
 * An interactive client on a socket: it waits for each reply before
 * going on, so the server must flush before it blocks on input.  The
 * envelope goes in one write (RFC 2920), replies come back together.
 */
static void
test_interactive(void)
{
	int sv[2], status;
	pid_t pid;
	char buf[4096];
	size_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    (pid = fork()) == -1)
		exit(2);
	if (pid == 0) {
		struct fail f = { 0 };
		int rc;

		close(sv[0]);
		rc = bs_serve(sv[1], sv[1], HOST, size_relay, NULL, &f);
		_exit(rc == 0 ? 0 : 1);
	}
	close(sv[1]);
	n = read_until(sv[0], buf, sizeof(buf), "\r\n");
	CHECK_BYTES(buf, n, GREET, sizeof(GREET) - 1);
	CHECK(write(sv[0], "EHLO c\r\n", 8) == 8);
	n = read_until(sv[0], buf, sizeof(buf), "250 HELP\r\n");
	CHECK_BYTES(buf, n, EHLO_R, sizeof(EHLO_R) - 1);
#define ENV "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n" \
	    "RCPT TO:<e@d.test>\r\nDATA\r\n"
	CHECK(write(sv[0], ENV, sizeof(ENV) - 1) == sizeof(ENV) - 1);
	n = read_until(sv[0], buf, sizeof(buf), GO);
	CHECK_BYTES(buf, n, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    GO, sizeof("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" GO)
	    - 1);
	CHECK(write(sv[0], "hello\r\n..\r\n", 11) == 11);
	CHECK(write(sv[0], ".\r\n", 3) == 3);
	n = read_until(sv[0], buf, sizeof(buf), "\r\n");
	CHECK_STR(buf, "250 2.0.0 Ok: a@b.test to 2, 10 bytes\r\n");
	CHECK(write(sv[0], "QUIT\r\n", 6) == 6);
	n = read_until(sv[0], buf, sizeof(buf), "\r\n");
	CHECK_STR(buf, BYE);
	/* and the server is gone: EOF */
	n = read_until(sv[0], buf, sizeof(buf), "\r\n");
	CHECK(n == 0);
	close(sv[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#undef ENV
}

/* Errors: the client's side gone, the temporary directory missing. */
static void
test_io_errors(void)
{
	struct relay r = { .answer = "250 2.0.0 Ok: queued as X" };
	struct run run;
	struct fail f;
	int in[2], out[2], rc;
	char *old;

	/* output to a pipe nobody reads: FAIL_IO, -1 */
	if (pipe(in) == -1 || pipe(out) == -1)
		exit(2);
	close(out[0]);
	CHECK(write(in[1], "NOOP\r\nNOOP\r\n", 12) == 12);
	close(in[1]);
	fail_reset(&f);
	rc = bs_serve(in[0], out[1], HOST, fake_relay, &r, &f);
	CHECK(rc == -1);
	CHECK(f.cls == FAIL_IO);
	CHECK(strstr(f.msg, "writing to the SMTP client") != NULL);
	close(in[0]);
	close(out[1]);

	/* input that cannot be read: -1 */
	fail_reset(&f);
	{
		int o = tmpfd();

		rc = bs_serve(-1, o, HOST, fake_relay, &r, &f);
		close(o);
	}
	CHECK(rc == -1);
	CHECK(f.cls == FAIL_IO);
	CHECK(strstr(f.msg, "reading from the SMTP client") != NULL);

	/* no temporary file: 451 at DATA, the session goes on */
	old = getenv("TMPDIR") ? xstrdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", "/nonexistent/dir", 1);
	RUN("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "NOOP\r\nQUIT\r\n", &r, &run);
	if (old != NULL)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	CHECK(run.rc == 0);
	CHECK_OUT(&run, GREET "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "451 4.3.0 Error: temporary file: No such file or directory\r\n"
	    "250 2.0.0 Ok\r\n" BYE);
	CHECK(r.calls == 0);
	free(run.out);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_normal();
	test_misc_commands();
	test_dots();
	test_data_end();
	test_two_messages();
	test_sequence();
	test_syntax();
	test_mail_params();
	test_verdicts();
	test_eof();
	test_long_lines();
	test_rcpt_limit();
	test_big_message();
	test_interactive();
	test_io_errors();
	T_DONE("bs");
}
