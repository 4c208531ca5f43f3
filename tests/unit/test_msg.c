/*
 * test_msg.c - unit tests for msg.c: line ends across buffer edges,
 * exact output bytes of whole messages (file and pipe input, any read
 * size), -t recipients, Bcc removal, added headers, quoted-printable
 * re-encoding, long lines in multipart, mboxrd, the address parser.
 * Pipe input is written by forked children: under valgrind use
 * --child-silent-after-fork=yes (their copy of the heap is not a leak).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "t.h"

#define L(s)	s, sizeof(s) - 1
#define CHECK_LIT(got, gotlen, lit) CHECK_BYTES(got, gotlen, lit, sizeof(lit) - 1)

static char tmpdir[] = "/tmp/test_msg.XXXXXX";
static int nwarn;
static char lastwarn[256];

static void	 on_warn(void *, const char *);
static int	 input_fd(const char *, size_t, int, pid_t *);
static struct msg *load(const char *, size_t, const struct msg_opts *,
		    struct fail *, int);
static char	*read_all(struct msg *, size_t, size_t *);
static int	 wire_ok(const char *, size_t);
static size_t	 qp_decode(const char *, size_t, char *);
static int	 has(const char *, size_t, const char *);
static void	 test_crlf(void);
static void	 test_outputs(void);
static void	 test_added(void);
static void	 test_recipients(void);
static void	 test_errors(void);
static void	 test_qp(void);
static void	 test_qp_random(void);
static void	 test_multipart(void);
static void	 test_long_header(void);
static void	 test_offset(void);
static void	 test_big(void);
static void	 test_mbox(void);
static void	 test_addrlist(void);
static void	 test_addr(void);
static void	 test_qualify(void);
static void	 test_qualify_long(void);
static void	 test_huge_address(void);
static void	 test_many_recipients(void);
static void	 test_mbox_refused(void);
static void	 test_mbox_rollback(void);
static void	 test_mbox_concurrent(void);

static void
on_warn(void *arg, const char *text)
{
	(void)arg;
	nwarn++;
	snprintf(lastwarn, sizeof(lastwarn), "%s", text);
}

/* The input as a regular file (kind 0) or a pipe fed by a child (1). */
static int
input_fd(const char *in, size_t n, int kind, pid_t *pid)
{
	int fd, pfd[2];

	*pid = -1;
	if (kind == 0) {
		char path[256];

		snprintf(path, sizeof(path), "%s/in", tmpdir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd == -1 || write(fd, in, n) != (ssize_t)n)
			abort();
		unlink(path);
		lseek(fd, 0, SEEK_SET);
		return fd;
	}
	if (pipe(pfd) == -1 || (*pid = fork()) == -1)
		abort();
	if (*pid == 0) {
		size_t off = 0;

		close(pfd[0]);
		while (off < n) {
			ssize_t w = write(pfd[1], in + off, n - off);

			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(pfd[1]);
	return pfd[0];
}

static struct msg *
load(const char *in, size_t n, const struct msg_opts *o, struct fail *f,
    int kind)
{
	struct msg *m;
	pid_t pid;
	int fd = input_fd(in, n, kind, &pid);

	fail_reset(f);
	m = msg_load(fd, "test", o, f);
	close(fd);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return m;
}

/* All output, read cap bytes at a time; checks size and invariants. */
static char *
read_all(struct msg *m, size_t cap, size_t *len)
{
	struct fail f;
	char *buf = malloc(cap), *out = NULL;
	size_t n = 0, sz = 0;
	ssize_t r;

	fail_reset(&f);
	CHECK(msg_rewind(m, &f) == 0);
	while ((r = msg_read(m, buf, cap, &f)) > 0) {
		if (n + (size_t)r + 1 > sz) {
			sz = (n + (size_t)r + 1) * 2;
			out = realloc(out, sz);
		}
		memcpy(out + n, buf, (size_t)r);
		n += (size_t)r;
	}
	CHECK(r == 0);
	if (out == NULL)
		out = malloc(1);
	out[n] = '\0';
	free(buf);
	*len = n;
	CHECK((off_t)n == msg_size(m));
	CHECK(wire_ok(out, n));
	return out;
}

/* CRLF only, never bare CR or LF, lines <= 998, ends in CRLF. */
static int
wire_ok(const char *p, size_t n)
{
	size_t col = 0;

	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
		} else if (p[i] == '\n')
			return 0;
		else if (++col > 998)
			return 0;
	}
	return 1;
}

static int
has(const char *p, size_t n, const char *s)
{
	size_t k = strlen(s);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return 1;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1000;
}

/* A strict QP decoder: one failed check for anything RFC 2045 forbids
 * (a line over 76, trailing whitespace, a bad escape or octet). */
static size_t
qp_decode(const char *in, size_t n, char *out)
{
	size_t o = 0, col = 0;
	int ok = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\r') {
			ok &= col <= 76;
			ok &= i == 0 || (in[i - 1] != ' ' && in[i - 1] != '\t');
			out[o++] = '\r';
			out[o++] = '\n';
			i++;
			col = 0;
		} else if (c == '=' && i + 1 < n && in[i + 1] == '\r') {
			ok &= col + 1 <= 76;
			i += 2;
			col = 0;
		} else if (c == '=' && i + 2 < n) {
			int v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);

			ok &= v >= 0;
			out[o++] = (char)v;
			i += 2;
			col += 3;
		} else {
			ok &= (c >= 33 && c <= 126 && c != '=') || c == ' ' ||
			    c == '\t';
			out[o++] = (char)c;
			col++;
		}
	}
	CHECK(ok);
	return o;
}

/* ---- msg_crlf ---- */

static void
test_crlf(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "\n.\r\n", "\r\n.\r\n" },
		{ "\r\n.\n", "\r\n.\r\n" },
		{ "\r.\r", "\r\n.\r\n" },
		{ "\n.\n", "\r\n.\r\n" },
		{ ".\r\r\n", ".\r\n\r\n" },
		{ "a\rb\nc\r\nd", "a\r\nb\r\nc\r\nd" },
		{ "\r\r\r\n\n", "\r\n\r\n\r\n\r\n" },
		{ "", "" },
		{ "abc", "abc" },
	};

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		size_t n = strlen(t[k].in), wn = strlen(t[k].want);
		char out[64];

		/* fixed chunk sizes */
		for (size_t cs = 1; cs <= n + 1; cs++) {
			size_t o = 0;
			int st = 0;

			for (size_t i = 0; i < n; i += cs)
				o += msg_crlf(&st, t[k].in + i,
				    n - i < cs ? n - i : cs, out + o);
			o += msg_crlf(&st, NULL, 0, out + o);
			CHECK_BYTES(out, o, t[k].want, wn);
		}
		/* every pair of split points: three pieces */
		for (size_t a = 0; a <= n; a++)
			for (size_t b = a; b <= n; b++) {
				size_t o = 0;
				int st = 0;

				o += msg_crlf(&st, t[k].in, a, out + o);
				o += msg_crlf(&st, t[k].in + a, b - a, out + o);
				o += msg_crlf(&st, t[k].in + b, n - b, out + o);
				o += msg_crlf(&st, NULL, 0, out + o);
				CHECK_BYTES(out, o, t[k].want, wn);
				CHECK(st == 0);
			}
	}
}

/* ---- whole messages, exact bytes ---- */

static const struct {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*want;
	size_t		 wantlen;
	int		 eight;
} cases[] = {
	{ "crlf", L("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n"),
	    L("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n"), 0 },
	{ "lf", L("Subject: hi\nTo: a@b\n\nbody\nline2\n"),
	    L("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\nline2\r\n"), 0 },
	{ "cr", L("Subject: hi\rTo: a@b\r\rbody\r"),
	    L("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n"), 0 },
	{ "mixed", L("A: 1\r\nB: 2\n\rbody\r\r\nx\n"),
	    L("A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nx\r\n"), 0 },
	{ "cr cr lf", L("A: 1\r\n\r\n\r\r\n"),
	    L("A: 1\r\n\r\n\r\n\r\n"), 0 },
	{ "cr then crlf ends header", L("A: 1\r\r\nb\n"),
	    L("A: 1\r\n\r\nb\r\n"), 0 },
	{ "cr cr lf body", L("A: 1\n\nx\r\r\ny"),
	    L("A: 1\r\n\r\nx\r\n\r\ny\r\n"), 0 },
	{ "no final newline", L("Subject: x\n\nbody"),
	    L("Subject: x\r\n\r\nbody\r\n"), 0 },
	{ "no final newline cr", L("Subject: x\n\nbody\r\nend"),
	    L("Subject: x\r\n\r\nbody\r\nend\r\n"), 0 },
	{ "header only", L("Subject: x"), L("Subject: x\r\n\r\n"), 0 },
	{ "header only lf", L("Subject: x\n"), L("Subject: x\r\n\r\n"), 0 },
	{ "header and sep", L("Subject: x\n\n"), L("Subject: x\r\n\r\n"), 0 },
	{ "mbox from", L("From alice@x Sat Nov 28 20:38:44 2026\n"
	    "Subject: x\n\nb\n"), L("Subject: x\r\n\r\nb\r\n"), 0 },
	{ "mbox from crlf", L("From a\r\nSubject: x\r\n\r\nb\r\n"),
	    L("Subject: x\r\n\r\nb\r\n"), 0 },
	{ "mbox from only", L("From a"), L("\r\n"), 0 },
	{ "from colon kept", L("From: a@b\n\nb\n"),
	    L("From: a@b\r\n\r\nb\r\n"), 0 },
	{ "second From line is body", L("Subject: x\nFrom a\n\nb\n"),
	    L("Subject: x\r\n\r\nFrom a\r\n\r\nb\r\n"), 0 },
	{ "bcc", L("To: a@b\nBcc: c@d\nSubject: s\n\nbody\n"),
	    L("To: a@b\r\nSubject: s\r\n\r\nbody\r\n"), 0 },
	{ "bcc folded", L("To: a@b\nBcc: c@d,\n e@f,\n\tg@h\nSubject: s\n\nb\n"),
	    L("To: a@b\r\nSubject: s\r\n\r\nb\r\n"), 0 },
	{ "bcc case, resent-bcc, last", L("To: a@b\nbCC: x@y\n"
	    "Resent-Bcc: r@s\n continued\nRESENT-BCC:\n"),
	    L("To: a@b\r\n\r\n"), 0 },
	{ "bcc-ish names kept", L("X-Bcc: a\nBccx: b\n\n"),
	    L("X-Bcc: a\r\nBccx: b\r\n\r\n"), 0 },
	{ "no header", L("hello\n"), L("\r\nhello\r\n"), 0 },
	{ "no header two words", L("hello world\nbye"),
	    L("\r\nhello world\r\nbye\r\n"), 0 },
	{ "no header 8bit", L("h\xc3\xa9llo\n"), L("\r\nh\xc3\xa9llo\r\n"), 1 },
	{ "leading wsp line", L(" x: y\n"), L("\r\n x: y\r\n"), 0 },
	{ "colon first", L(":x\n"), L("\r\n:x\r\n"), 0 },
	{ "empty", L(""), L("\r\n"), 0 },
	{ "just newline", L("\n"), L("\r\n"), 0 },
	{ "just cr", L("\r"), L("\r\n"), 0 },
	{ "empty body lines", L("\n\n\n"), L("\r\n\r\n\r\n"), 0 },
	{ "header-looking body", L("Subject: x\n\nFrom: y\nBcc: z\n"),
	    L("Subject: x\r\n\r\nFrom: y\r\nBcc: z\r\n"), 0 },
	{ "junk ends header", L("Subject: x\nthis is body\nmore\n"),
	    L("Subject: x\r\n\r\nthis is body\r\nmore\r\n"), 0 },
	{ "junk ends header, 8bit first", L("Subject: x\n\xc3\xa9t\xc3\xa9\n"),
	    L("Subject: x\r\n\r\n\xc3\xa9t\xc3\xa9\r\n"), 1 },
	{ "junk no eol", L("Subject: x\nabc"),
	    L("Subject: x\r\n\r\nabc\r\n"), 0 },
	{ "continuation", L("Subject: a\n b\n\tc\n\nx"),
	    L("Subject: a\r\n b\r\n\tc\r\n\r\nx\r\n"), 0 },
	{ "wsp before colon", L("Subject : x\nTo\t: y\n\nb\n"),
	    L("Subject : x\r\nTo\t: y\r\n\r\nb\r\n"), 0 },
	{ "8bit header", L("Subject: caf\xc3\xa9\n\nb\n"),
	    L("Subject: caf\xc3\xa9\r\n\r\nb\r\n"), 1 },
	{ "dot lines untouched", L("A: b\n\n.\n..\n.x\n"),
	    L("A: b\r\n\r\n.\r\n..\r\n.x\r\n"), 0 },
	{ "998 line stays", NULL, 0, NULL, 0, 0 },
};

static void
test_outputs(void)
{
	static const size_t caps[] = { 1, 2, 7, 4096, 1 << 20 };
	struct msg_opts o;
	struct fail f;

	memset(&o, 0, sizeof(o));
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		if (cases[k].in == NULL)
			continue;
		for (int kind = 0; kind < 2; kind++) {
			struct msg *m = load(cases[k].in, cases[k].inlen, &o,
			    &f, kind);

			CHECK(m != NULL);
			if (m == NULL) {
				fprintf(stderr, "  case %s: %s\n",
				    cases[k].name, f.msg);
				continue;
			}
			for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]);
			    c++) {
				size_t n;
				char *out = read_all(m, caps[c], &n);

				CHECK_BYTES(out, n, cases[k].want,
				    cases[k].wantlen);
				if (n != cases[k].wantlen ||
				    memcmp(out, cases[k].want, n) != 0)
					fprintf(stderr, "  case %s kind %d "
					    "cap %zu\n", cases[k].name, kind,
					    caps[c]);
				free(out);
			}
			CHECK(msg_is_8bit(m) == cases[k].eight);
			CHECK(msg_recipients(m)->n == 0);
			msg_free(m);
		}
	}

	/* A line of exactly 998 octets is left alone; 999 is not. */
	{
		char in[1100], want[1100];
		struct msg *m;
		size_t n;
		char *out;

		memcpy(in, "A: b\n\n", 6);
		memset(in + 6, 'x', 998);
		in[1004] = '\n';
		memcpy(want, "A: b\r\n\r\n", 8);
		memset(want + 8, 'x', 998);
		memcpy(want + 1006, "\r\n", 2);
		m = load(in, 1005, &o, &f, 0);
		out = read_all(m, 4096, &n);
		CHECK_BYTES(out, n, want, 1008);
		CHECK(msg_header_size(m) == 8);
		free(out);
		msg_free(m);
	}
}

/* ---- added From, Date, Message-ID ---- */

static void
test_added(void)
{
	static const struct {
		const char *fullname, *from;
	} names[] = {
		{ NULL, "From: me@example.org\r\n" },
		{ "", "From: me@example.org\r\n" },
		{ "  ", "From: me@example.org\r\n" },
		{ "Joe User", "From: Joe User <me@example.org>\r\n" },
		{ "John Q. Public", "From: \"John Q. Public\" <me@example.org>\r\n" },
		{ "A \"B\" \\C", "From: \"A \\\"B\\\" \\\\C\" <me@example.org>\r\n" },
		{ "Evil\r\nBcc: x@y", "From: \"Evil  Bcc: x@y\" <me@example.org>\r\n" },
		{ "J\xc3\xb6rg M\xc3\xbcller",
		    "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <me@example.org>\r\n" },
		{ "Zo\xc3\xab", "From: =?UTF-8?B?Wm/Dqw==?= <me@example.org>\r\n" },
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\x90\x8d"
		    "\xe5\x89\x8d\xe3\x81\x8c\xe3\x81\xa8\xe3\x81\xa6\xe3\x82\x82"
		    "\xe9\x95\xb7\xe3\x81\x84\xe5\xa0\xb4\xe5\x90\x88\xe3\x81\xab"
		    "\xe3\x81\xaf\xe3\x82\xa8\xe3\x83\xb3\xe3\x82\xb3\xe3\x83\xbc"
		    "\xe3\x83\x89\xe3\x81\x95\xe3\x82\x8c\xe3\x81\x9f\xe5\x8d\x98"
		    "\xe8\xaa\x9e\xe3\x81\x8c\xe8\xa4\x87\xe6\x95\xb0\xe3\x81\xab"
		    "\xe3\x81\xaa\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x99",
		    "From: =?UTF-8?B?5pel5pys6Kqe44Gu5ZCN5YmN44GM44Go44Gm44KC6ZW344GE5aC05ZCI44Gr?=\r\n"
		    " =?UTF-8?B?44Gv44Ko44Oz44Kz44O844OJ44GV44KM44Gf5Y2Y6Kqe44GM6KSH5pWw44Gr?=\r\n"
		    " =?UTF-8?B?44Gq44KK44G+44GZ?= <me@example.org>\r\n" },
	};
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	size_t n;
	char *out;

	memset(&o, 0, sizeof(o));
	o.add_from = 1;
	o.from_addr = "me@example.org";
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		char want[1024];
		int wl;

		o.fullname = names[k].fullname;
		m = load(L("Subject: s\n\nbody\n"), &o, &f, 0);
		out = read_all(m, 7, &n);
		wl = snprintf(want, sizeof(want), "Subject: s\r\n%s\r\nbody\r\n",
		    names[k].from);
		CHECK_BYTES(out, n, want, (size_t)wl);
		CHECK(msg_is_8bit(m) == 0);
		CHECK_STR(msg_from_addr(m), "me@example.org");
		free(out);
		msg_free(m);
	}

	/* All three added, at the end of the header section. */
	o.fullname = "Me";
	o.add_date = o.add_msgid = 1;
	o.msgid_domain = "host.example.org";
	m = load(L("Subject: s\nTo: x@y\n\nbody\n"), &o, &f, 1);
	out = read_all(m, 4096, &n);
	{
		const char *p = out, *d, *id;
		int day, year, hh, mm, ss, zone;
		char wd[4], mon[4], sign;

		CHECK(strncmp(p, "Subject: s\r\nTo: x@y\r\n"
		    "From: Me <me@example.org>\r\nDate: ", 54) == 0);
		d = p + 54 - 6;
		CHECK(sscanf(d, "Date: %3s, %d %3s %d %2d:%2d:%2d %c%4d",
		    wd, &day, mon, &year, &hh, &mm, &ss, &sign, &zone) == 9);
		CHECK(strstr("SunMonTueWedThuFriSat", wd) != NULL);
		CHECK(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) != NULL);
		CHECK(year >= 2024 && (sign == '+' || sign == '-'));
		/* "Date: Sat, 28 Nov 2026 20:38:44 +0000" */
		CHECK(strstr(d, "\r\n") - d == 36 + (day >= 10));
		id = strstr(p, "\r\nMessage-ID: <");
		CHECK(id != NULL);
		if (id != NULL) {
			const char *e = strstr(id + 2, "\r\n");

			CHECK(e != NULL && e - id > 40);
			CHECK(e != NULL && memcmp(e - 18, "@host.example.org>",
			    18) == 0);
			CHECK(e != NULL && strcmp(e, "\r\n\r\nbody\r\n") == 0);
		}
		CHECK(msg_header_size(m) == n - 6);
	}
	/* Two messages get two different Message-IDs. */
	{
		struct msg *m2 = load(L("Subject: s\nTo: x@y\n\nbody\n"), &o,
		    &f, 0);
		size_t n2;
		char *out2 = read_all(m2, 4096, &n2);
		const char *a = strstr(out, "Message-ID:");
		const char *b = strstr(out2, "Message-ID:");

		CHECK(a != NULL && b != NULL && strncmp(a, b, 60) != 0);
		free(out2);
		msg_free(m2);
	}
	free(out);
	msg_free(m);

	/* Present headers are not added again (any case). */
	m = load(L("from: a@b\nDATE: x\nmessage-id: <1@2>\n\nb\n"), &o, &f, 0);
	out = read_all(m, 4096, &n);
	CHECK_BYTES(out, n, "from: a@b\r\nDATE: x\r\nmessage-id: <1@2>\r\n\r\nb\r\n",
	    (size_t)44);
	CHECK_STR(msg_from_addr(m), "a@b");
	free(out);
	msg_free(m);

	/* A From header's first address, display name and all. */
	memset(&o, 0, sizeof(o));
	m = load(L("From: \"Doe, J\" <j@d.example> (x), k@e\n\nb\n"), &o, &f, 0);
	CHECK_STR(msg_from_addr(m), "j@d.example");
	msg_free(m);
	m = load(L("Subject: s\n\nb\n"), &o, &f, 0);
	CHECK(msg_from_addr(m) == NULL);
	msg_free(m);

	/* Null sender: no From can be added. */
	o.add_from = 1;
	o.from_addr = "";
	m = load(L("Subject: s\n\nb\n"), &o, &f, 0);
	out = read_all(m, 4096, &n);
	CHECK_BYTES(out, n, "Subject: s\r\n\r\nb\r\n", (size_t)17);
	free(out);
	msg_free(m);
	/* An address with a line end cannot be put in a header. */
	o.from_addr = "a@b\r\nBcc: x@y";
	m = load(L("Subject: s\n\nb\n"), &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA);
	/* Empty input with everything added. */
	memset(&o, 0, sizeof(o));
	o.add_date = o.add_msgid = 1;
	m = load(L(""), &o, &f, 1);
	out = read_all(m, 3, &n);
	CHECK(strncmp(out, "Date: ", 6) == 0 && has(out, n, "@localhost>\r\n\r\n"));
	free(out);
	msg_free(m);
}

/* ---- -t ---- */

static void
check_rcpts(const struct strv *sv, const char *const *want)
{
	size_t k = 0;

	for (; want[k] != NULL; k++) {
		CHECK(k < sv->n);
		if (k < sv->n)
			CHECK_STR(sv->v[k], want[k]);
	}
	CHECK(sv->n == k);
}

static void
test_recipients(void)
{
	static const char in[] =
	    "From: me@x\n"
	    "To: Alice <alice@example.org>, \"Bob, Jr.\" <bob@example.org>\n"
	    "Cc: team: carol@example.org, (comment) dave@example.org;,\n"
	    "  Erin\n"
	    "   <erin@EXAMPLE.org>\n"
	    "Subject: hi\n"
	    "Bcc: \"john doe\"@example.org, alice@EXAMPLE.ORG,\n"
	    " undisclosed-recipients:;\n"
	    "cc: <@relay.example:frank@example.net>, Alice@example.org\n"
	    "\n"
	    "To: not@header.example\n";
	static const char *const want[] = { "alice@example.org",
	    "bob@example.org", "carol@example.org", "dave@example.org",
	    "erin@EXAMPLE.org", "\"john doe\"@example.org",
	    "frank@example.net", "Alice@example.org", NULL };
	static const char resent[] =
	    "To: a@example.org\n"
	    "Bcc: b@example.org\n"
	    "Resent-To: r1@example.org\n"
	    "Resent-Cc: r2@example.org, r1@EXAMPLE.ORG\n"
	    "Resent-Bcc: r3@example.org\n"
	    "Subject: fwd\n"
	    "\n"
	    "b\n";
	static const char *const rwant[] = { "r1@example.org", "r2@example.org",
	    "r3@example.org", NULL };
	static const char *const none[] = { NULL };
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	size_t n;
	char *out;

	memset(&o, 0, sizeof(o));
	o.read_recipients = 1;
	m = load(in, sizeof(in) - 1, &o, &f, 1);
	CHECK(m != NULL);
	check_rcpts(msg_recipients(m), want);
	out = read_all(m, 1, &n);
	CHECK(!has(out, n, "Bcc") && !has(out, n, "john doe") &&
	    !has(out, n, "undisclosed"));
	CHECK(has(out, n, "\r\nSubject: hi\r\ncc: <@relay"));
	CHECK(has(out, n, "\r\n\r\nTo: not@header.example\r\n"));
	free(out);
	msg_free(m);

	m = load(resent, sizeof(resent) - 1, &o, &f, 0);
	check_rcpts(msg_recipients(m), rwant);
	out = read_all(m, 4096, &n);
	CHECK_LIT(out, n, ("To: a@example.org\r\nResent-To: r1@example.org\r\n"
	    "Resent-Cc: r2@example.org, r1@EXAMPLE.ORG\r\nSubject: fwd\r\n"
	    "\r\nb\r\n"));
	free(out);
	msg_free(m);

	/* Without -t nothing is collected (and nothing parsed), but Bcc
	 * still goes. */
	o.read_recipients = 0;
	m = load(L("To: <broken\nBcc: x@y\n\nb\n"), &o, &f, 0);
	CHECK(m != NULL);
	check_rcpts(msg_recipients(m), none);
	out = read_all(m, 4096, &n);
	CHECK_BYTES(out, n, "To: <broken\r\n\r\nb\r\n", (size_t)18);
	free(out);
	msg_free(m);

	/* A -t header with a bad address is a data error naming it. */
	o.read_recipients = 1;
	m = load(L("To: a@b\nCc: Bob <bob@x\n\nb\n"), &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA);
	CHECK(strstr(f.msg, "Cc:") != NULL && strstr(f.msg, "Bob <bob@x") != NULL);
	m = load(L("To: a\x01z@b\n\nb\n"), &o, &f, 1);
	CHECK(m == NULL && f.cls == FAIL_DATA && strstr(f.msg, "To:") != NULL);
	CHECK(strstr(f.msg, "\\x01") != NULL);
	m = load(L("Bcc: a@b, <>\n\nb\n"), &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA && strstr(f.msg, "Bcc:") != NULL);
	/* Bad addresses in other headers do not matter. */
	m = load(L("To: a@b\nReply-To: <bad\n\nb\n"), &o, &f, 0);
	CHECK(m != NULL);
	msg_free(m);
}

/* ---- load failures ---- */

static void
test_errors(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char *big;
	size_t n, i;

	memset(&o, 0, sizeof(o));
	for (int kind = 0; kind < 2; kind++) {
		m = load(L("Subject: x\n\nab\0c\n"), &o, &f, kind);
		CHECK(m == NULL && f.cls == FAIL_DATA);
		CHECK(strstr(f.msg, "NUL byte") != NULL);
		m = load(L("Subj\0ect: x\n\n"), &o, &f, kind);
		CHECK(m == NULL && f.cls == FAIL_DATA);
		m = load(L("\0"), &o, &f, kind);
		CHECK(m == NULL && f.cls == FAIL_DATA);
	}
	/* A header section over MSG_HDR_MAX. */
	n = MSG_HDR_MAX + 4096;
	big = malloc(n);
	for (i = 0; i + 100 <= n; i += 100) {
		memcpy(big + i, "X-Filler: ", 10);
		memset(big + i + 10, 'a', 89);
		big[i + 99] = '\n';
	}
	m = load(big, i, &o, &f, 1);
	CHECK(m == NULL && f.cls == FAIL_DATA && strstr(f.msg, "header") != NULL);
	/* The same size as one body line is fine (constant memory); it is
	 * re-encoded, so only the MIME headers are there. */
	memset(big, 'a', n);
	m = load(big, n, &o, &f, 0);
	CHECK(m != NULL);
	if (m != NULL) {
		CHECK(msg_header_size(m) == 19 + 45 + 2);
		msg_free(m);
	}
	free(big);
	/* Unreadable input. */
	fail_reset(&f);
	CHECK(msg_load(-1, "x", &o, &f) == NULL && f.cls == FAIL_IO);
}

/* ---- quoted-printable ---- */

static void
test_qp(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char in[8192], body[8192], dec[16384];
	size_t n, bl = 0, hl;
	char *out, *b;

	memset(&o, 0, sizeof(o));
	o.warn = on_warn;
	/* Trailing space, tab, '=', 8-bit, a long line, a short one. */
	bl += (size_t)sprintf(body + bl, "short line with trailing space \r\n");
	bl += (size_t)sprintf(body + bl, "tab at end\t\r\n");
	bl += (size_t)sprintf(body + bl, "a=b ==\r\n");
	bl += (size_t)sprintf(body + bl, "caf\xc3\xa9\r\n");
	for (int i = 0; i < 1500; i++)
		body[bl++] = (char)(i % 7 == 0 ? ' ' : 'a' + i % 26);
	memcpy(body + bl, "\r\n", 2);
	bl += 2;
	bl += (size_t)sprintf(body + bl, "   \r\n\r\nlast");
	n = (size_t)sprintf(in, "Subject: q\nContent-Type: text/plain; "
	    "charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
	/* Same body with LF line ends. */
	for (size_t i = 0; i < bl; i++)
		if (body[i] != '\r')
			in[n++] = body[i];
	nwarn = 0;
	m = load(in, n, &o, &f, 1);
	CHECK(m != NULL && nwarn == 0);
	out = read_all(m, 7, &n);
	hl = msg_header_size(m);
	CHECK_LIT(out, hl, ("Subject: q\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	    "MIME-Version: 1.0\r\n\r\n"));
	b = out + hl;
	CHECK(has(b, n - hl, "short line with trailing space=20\r\n"));
	CHECK(has(b, n - hl, "tab at end=09\r\n"));
	CHECK(has(b, n - hl, "a=3Db =3D=3D\r\n"));
	CHECK(has(b, n - hl, "caf=C3=A9\r\n"));
	CHECK(has(b, n - hl, "  =20\r\n\r\nlast\r\n"));
	CHECK(msg_is_8bit(m) == 0);
	memcpy(body + bl, "\r\n", 2);
	bl += 2;
	{
		size_t dl = qp_decode(b, n - hl, dec);

		CHECK_BYTES(dec, dl, body, bl);
	}
	free(out);
	msg_free(m);

	/* No MIME headers at all: both added. */
	n = (size_t)sprintf(in, "Subject: q\n\n");
	memset(in + n, 'x', 2000);
	n += 2000;
	m = load(in, n, &o, &f, 0);
	out = read_all(m, 4096, &n);
	CHECK(msg_header_size(m) == 78);
	CHECK(strncmp(out, "Subject: q\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", 78) == 0);
	CHECK(qp_decode(out + 78, n - 78, dec) == 2002);
	free(out);
	msg_free(m);
}

/* Random bodies: encode, decode, compare; sizes exact. */
static void
test_qp_random(void)
{
	struct msg_opts o;
	struct fail f;
	unsigned seed = 12345;
	char *in = malloc(40000), *want = malloc(80000), *dec = malloc(200000);

	memset(&o, 0, sizeof(o));
	for (int round = 0; round < 40; round++) {
		size_t n = 0, wl = 0, lines = 1 + (size_t)round % 7, dl, ol;
		struct msg *m;
		char *out;

		n = (size_t)sprintf(in, "Subject: r\n\n");
		for (size_t l = 0; l < lines; l++) {
			size_t len = (seed = seed * 1103515245 + 12345) % 2500;

			if (l == 0)
				len = 999 + (size_t)round;
			for (size_t i = 0; i < len; i++) {
				char c;

				seed = seed * 1103515245 + 12345;
				c = (char)((seed >> 16) % 256);
				if (c == '\0' || c == '\r' || c == '\n')
					c = (seed >> 8) & 1 ? ' ' : '\t';
				in[n++] = c;
				want[wl++] = c;
			}
			seed = seed * 1103515245 + 12345;
			switch ((seed >> 16) % 3) {
			case 0:
				in[n++] = '\n';
				break;
			case 1:
				in[n++] = '\r';
				break;
			default:
				in[n++] = '\r';
				in[n++] = '\n';
				break;
			}
			want[wl++] = '\r';
			want[wl++] = '\n';
		}
		m = load(in, n, &o, &f, round % 2);
		CHECK(m != NULL);
		if (m == NULL)
			continue;
		out = read_all(m, (size_t)round * 13 + 1, &ol);
		dl = qp_decode(out + msg_header_size(m), ol -
		    msg_header_size(m), dec);
		CHECK_BYTES(dec, dl, want, wl);
		free(out);
		msg_free(m);
	}
	free(in);
	free(want);
	free(dec);
}

/* ---- multipart: lines broken, one warning ---- */

static void
test_multipart(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char in[8000], want[8000];
	size_t n, wl;
	char *out;
	static const char *const hdrs[] = {
	    "Content-Type: multipart/mixed; boundary=x\n",
	    "Content-Type: (c) Multipart/Alternative; boundary=x\n",
	    "Content-Type: message/rfc822\n",
	    "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n",
	};

	memset(&o, 0, sizeof(o));
	o.warn = on_warn;
	for (size_t h = 0; h < sizeof(hdrs) / sizeof(hdrs[0]); h++) {
		size_t hl = strlen(hdrs[h]);

		n = (size_t)sprintf(in, "%s\n--x\n", hdrs[h]);
		wl = 0;
		for (size_t i = 0; i < hl; i++) {
			if (hdrs[h][i] == '\n')
				want[wl++] = '\r';
			want[wl++] = hdrs[h][i];
		}
		wl += (size_t)sprintf(want + wl, "\r\n--x\r\n");
		/* 2500 octets: 998 + 998 + 504; then exactly 1996. */
		memset(in + n, 'y', 2500);
		n += 2500;
		in[n++] = '\n';
		memset(in + n, 'z', 1996);
		n += 1996;
		memset(want + wl, 'y', 998);
		memcpy(want + wl + 998, "\r\n", 2);
		memset(want + wl + 1000, 'y', 998);
		memcpy(want + wl + 1998, "\r\n", 2);
		memset(want + wl + 2000, 'y', 504);
		memcpy(want + wl + 2504, "\r\n", 2);
		wl += 2506;
		memset(want + wl, 'z', 998);
		memcpy(want + wl + 998, "\r\n", 2);
		memset(want + wl + 1000, 'z', 998);
		memcpy(want + wl + 1998, "\r\n", 2);
		wl += 2000;
		nwarn = 0;
		lastwarn[0] = '\0';
		m = load(in, n, &o, &f, (int)h % 2);
		CHECK(m != NULL);
		CHECK(nwarn == 1);
		CHECK_STR(lastwarn, "line longer than 998 octets broken");
		out = read_all(m, 1, &n);
		CHECK_BYTES(out, n, want, wl);
		free(out);
		out = read_all(m, 5000, &n);
		CHECK_BYTES(out, n, want, wl);
		free(out);
		msg_free(m);
	}
	/* Short lines in multipart: no warning. */
	nwarn = 0;
	m = load(L("Content-Type: multipart/mixed\n\nabc\n"), &o, &f, 0);
	CHECK(m != NULL && nwarn == 0);
	msg_free(m);
}

/* ---- overlong header lines ---- */

static void
test_long_header(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char in[5000];
	size_t n;
	char *out;

	memset(&o, 0, sizeof(o));
	o.warn = on_warn;
	/* Words: folded before a space, value unchanged once unfolded. */
	n = (size_t)sprintf(in, "Subject:");
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(in + n, " word%03d", i);
	n += (size_t)sprintf(in + n, "\n\nb\n");
	nwarn = 0;
	m = load(in, n, &o, &f, 0);
	out = read_all(m, 4096, &n);
	CHECK(nwarn == 1 && strstr(lastwarn, "folded") != NULL);
	{
		/* unfold: drop CRLF before WSP */
		char u[5000];
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (out[i] == '\r' && out[i + 2] == ' ')
				i++;
			else
				u[k++] = out[i];
		}
		CHECK(k == (size_t)(strlen(in) + 3));
		CHECK(strncmp(u, in, 8 + 300 * 8) == 0);
	}
	free(out);
	msg_free(m);
	/* One 3000-octet word: broken, warned. */
	n = (size_t)sprintf(in, "X-Long: ");
	memset(in + n, 'w', 3000);
	n += 3000;
	n += (size_t)sprintf(in + n, "\n\nb\n");
	nwarn = 0;
	m = load(in, n, &o, &f, 1);
	out = read_all(m, 4096, &n);
	/* folded after "X-Long:", then broken three times */
	CHECK(nwarn == 2 && strstr(lastwarn, "broken") != NULL);
	CHECK(has(out, n, "X-Long:\r\n www") && n == 3026);
	free(out);
	msg_free(m);
}

/* ---- a regular file read from its current offset ---- */

static void
test_offset(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char path[256];
	size_t n;
	char *out;
	int fd;

	memset(&o, 0, sizeof(o));
	snprintf(path, sizeof(path), "%s/off", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, "garbageSubject: x\n\nb\n", 21) == 21);
	lseek(fd, 7, SEEK_SET);
	fail_reset(&f);
	m = msg_load(fd, "off", &o, &f);
	close(fd);
	unlink(path);
	out = read_all(m, 4096, &n);
	CHECK_BYTES(out, n, "Subject: x\r\n\r\nb\r\n", (size_t)17);
	free(out);
	msg_free(m);
}

/* ---- 50 MB through a pipe and a file ---- */

static uint64_t
fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

static size_t
big_line(size_t i, char *buf)
{
	size_t len = (i + 1) * 37 % 900;	/* 0 only past the header */

	memset(buf, 'a' + (int)(i % 26), len);
	return len;
}

static void
test_big(void)
{
	const size_t total = 50u * 1024 * 1024;
	struct msg_opts o;
	struct fail f;
	char line[1024], *buf = malloc(65536);
	uint64_t hw = 14695981039346656037ULL;
	off_t wantsize = 0;
	size_t lines = 0, n = 0;

	memset(&o, 0, sizeof(o));
	/* The expected output, hashed. */
	hw = fnv(hw, "Subject: big\r\n\r\n", 16);
	wantsize = 16;
	for (n = 13; n < total; lines++) {
		size_t len = big_line(lines, line);

		hw = fnv(hw, line, len);
		hw = fnv(hw, "\r\n", 2);
		wantsize += (off_t)len + 2;
		n += len + 1;
	}
	for (int kind = 0; kind < 2; kind++) {
		int pfd[2], fd;
		pid_t pid = -1;
		char path[256];
		struct msg *m;
		uint64_t h = 14695981039346656037ULL;
		off_t got = 0;
		ssize_t r;

		if (kind == 1) {
			if (pipe(pfd) == -1 || (pid = fork()) == -1)
				abort();
		} else {
			snprintf(path, sizeof(path), "%s/big", tmpdir);
			pfd[1] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			pfd[0] = open(path, O_RDONLY);
			unlink(path);
		}
		if (pid <= 0) {
			FILE *w = fdopen(pfd[1], "w");

			if (kind == 1)
				close(pfd[0]);
			fputs("Subject: big\n", w);
			for (size_t i = 0; i < lines; i++) {
				size_t len = big_line(i, line);

				line[len] = '\n';
				fwrite(line, 1, len + 1, w);
			}
			fclose(w);
			if (pid == 0)
				_exit(0);
		} else
			close(pfd[1]);
		fd = pfd[0];
		fail_reset(&f);
		m = msg_load(fd, "big", &o, &f);
		close(fd);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		CHECK(m != NULL);
		if (m == NULL)
			continue;
		CHECK(msg_size(m) == wantsize);
		while ((r = msg_read(m, buf, 65536 - kind * 1000, &f)) > 0) {
			h = fnv(h, buf, (size_t)r);
			got += r;
		}
		CHECK(r == 0 && got == wantsize && h == hw);
		msg_free(m);
	}
	free(buf);
}

/* ---- mboxrd ---- */

static void
test_mbox(void)
{
	static const char in[] =
	    "From sender@x Sat Nov 28 20:38:44 2026\r\n"
	    "Subject: m\r\n"
	    "Bcc: kept@in.mbox\r\n"
	    "\r\n"
	    "From here\r"
	    ">From there\n"
	    ">>From everywhere\r\n"
	    "Fromage\n"
	    "From\n"
	    ">From\n"
	    "> From x\n"
	    "\n"
	    "F\n"
	    ">>\n"
	    "end >From";
	static const char want[] =
	    "Subject: m\n"
	    "Bcc: kept@in.mbox\n"
	    "\n"
	    ">From here\n"
	    ">>From there\n"
	    ">>>From everywhere\n"
	    "Fromage\n"
	    "From\n"
	    ">From\n"
	    "> From x\n"
	    "\n"
	    "F\n"
	    ">>\n"
	    "end >From\n"
	    "\n";
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char path[256], got[4096];
	struct stat sb;
	ssize_t r;
	int fd;
	char *nl, *second;

	memset(&o, 0, sizeof(o));
	snprintf(path, sizeof(path), "%s/dead.letter", tmpdir);
	m = load(in, sizeof(in) - 1, &o, &f, 1);
	CHECK(m != NULL);
	fail_reset(&f);
	CHECK(msg_save_mbox(m, path, "bob@example.org", &f) == 0);
	CHECK(msg_save_mbox(m, path, "", &f) == 0);
	msg_free(m);
	m = load(L("x"), &o, &f, 0);
	CHECK(msg_save_mbox(m, path, "a b", &f) == 0);
	msg_free(m);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	fd = open(path, O_RDONLY);
	r = read(fd, got, sizeof(got) - 1);
	close(fd);
	CHECK(r > 0);
	got[r > 0 ? r : 0] = '\0';
	CHECK(strncmp(got, "From bob@example.org ", 21) == 0);
	nl = strchr(got, '\n');
	CHECK(nl != NULL && nl - got == 21 + 24);
	CHECK(nl != NULL && strncmp(nl + 1, want, sizeof(want) - 1) == 0);
	second = nl + sizeof(want);
	CHECK(strncmp(second, "From MAILER-DAEMON ", 19) == 0);
	nl = strchr(second, '\n');
	CHECK(nl != NULL && strncmp(nl + 1, want, sizeof(want) - 1) == 0);
	second = nl + sizeof(want);
	CHECK(strncmp(second, "From a_b ", 9) == 0);
	nl = strchr(second, '\n');
	CHECK(nl != NULL && strcmp(nl + 1, "x\n\n") == 0);
	unlink(path);
	/* Unwritable place: FAIL_IO naming it. */
	m = load(L("x"), &o, &f, 0);
	fail_reset(&f);
	CHECK(msg_save_mbox(m, "/nonexistent/dir/mbox", "", &f) == -1);
	CHECK(f.cls == FAIL_IO && strstr(f.msg, "/nonexistent/dir/mbox") != NULL);
	msg_free(m);
}

/* ---- qualification of header addresses ---- */

static void
test_qualify(void)
{
	static const struct {
		const char	*in;	/* one header line, without LF */
		const char	*want;	/* as output, without CRLF */
	} t[] = {
		{ "From: root", "From: root@mx.test" },
		{ "From: Cron Daemon <root>", "From: Cron Daemon <root@mx.test>" },
		{ "From: root (Cron Daemon)", "From: root@mx.test (Cron Daemon)" },
		{ "To: root, bob@x", "To: root@mx.test, bob@x" },
		{ "To: bob@x, root", "To: bob@x, root@mx.test" },
		{ "Cc: root,alice,bob@x", "Cc: root@mx.test,alice@mx.test,bob@x" },
		{ "To: Team: root, bob@x, \"Al B\" <al>;",
		    "To: Team: root@mx.test, bob@x, \"Al B\" <al@mx.test>;" },
		{ "To: undisclosed-recipients:;", "To: undisclosed-recipients:;" },
		{ "To: postmaster", "To: postmaster" },
		{ "To: PostMaster, root", "To: PostMaster, root@mx.test" },
		{ "To: postmaster@x", "To: postmaster@x" },
		{ "To: \"john doe\"", "To: \"john doe\"@mx.test" },
		{ "To: \"J. D.\" <\"john doe\">",
		    "To: \"J. D.\" <\"john doe\"@mx.test>" },
		{ "Sender: www-data", "Sender: www-data@mx.test" },
		{ "Resent-From: root", "Resent-From: root@mx.test" },
		{ "Resent-Sender: root", "Resent-Sender: root@mx.test" },
		{ "Resent-To: root", "Resent-To: root@mx.test" },
		{ "Resent-Cc: root", "Resent-Cc: root@mx.test" },
		{ "to:  root  ", "to:  root@mx.test  " },
		{ "To: <@relay.x:root>", "To: <@relay.x:root@mx.test>" },
		{ "To: root@[127.0.0.1]", "To: root@[127.0.0.1]" },
		/* other fields: never rewritten */
		{ "Reply-To: root", "Reply-To: root" },
		{ "Subject: root", "Subject: root" },
		{ "X-Cron-Env: <USER=root>", "X-Cron-Env: <USER=root>" },
		{ "Bcc: root", "Bcc: root" },
		/* what does not parse is left as written */
		{ "To: John Doe", "To: John Doe" },
		{ "From: root <", "From: root <" },
		{ "To: a@b, c", "To: a@b, c@mx.test" },
	};
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char in[512], want[512];
	size_t n, wl;
	char *out;

	memset(&o, 0, sizeof(o));
	o.keep_bcc = 1;
	o.read_recipients = 1;
	o.qualify_domain = "mx.test";
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = (size_t)snprintf(in, sizeof(in), "%s\nSubject: s\n\nb\n",
		    t[i].in);
		wl = (size_t)snprintf(want, sizeof(want),
		    "%s\r\nSubject: s\r\n\r\nb\r\n", t[i].want);
		m = load(in, n, &o, &f, 0);
		if (m == NULL && strstr(t[i].in, "To:") != NULL) {
			/* -t refuses an unparsable To: itself */
			o.read_recipients = 0;
			m = load(in, n, &o, &f, 0);
			o.read_recipients = 1;
		}
		CHECK(m != NULL);
		if (m == NULL)
			continue;
		out = read_all(m, 5, &n);
		CHECK_BYTES(out, n, want, wl);
		free(out);
		msg_free(m);
	}

	/* folded: the fold and the rest stay, each mailbox qualified */
	m = load(L("To: root,\n\tCron Daemon\n <cron> (the daemon),\n"
	    " \"x y\"@z\n\nb\n"), &o, &f, 1);
	out = read_all(m, 3, &n);
	CHECK_LIT(out, n, "To: root@mx.test,\r\n\tCron Daemon\r\n "
	    "<cron@mx.test> (the daemon),\r\n \"x y\"@z\r\n\r\nb\r\n");
	/* -t recipients stay as written: the caller qualifies them */
	CHECK(msg_recipients(m)->n == 3);
	CHECK_STR(msg_recipients(m)->v[0], "root");
	CHECK_STR(msg_recipients(m)->v[1], "cron");
	free(out);
	msg_free(m);
	/* msg_from_addr too */
	m = load(L("From: Cron Daemon <root>\n\nb\n"), &o, &f, 0);
	CHECK_STR(msg_from_addr(m), "root");
	out = read_all(m, 64, &n);
	CHECK_LIT(out, n, "From: Cron Daemon <root@mx.test>\r\n\r\nb\r\n");
	free(out);
	msg_free(m);
	/* off (NULL): untouched */
	o.qualify_domain = NULL;
	m = load(L("From: root\n\nb\n"), &o, &f, 0);
	out = read_all(m, 64, &n);
	CHECK_LIT(out, n, "From: root\r\n\r\nb\r\n");
	free(out);
	msg_free(m);
	/* a domain that could inject header text is refused */
	o.qualify_domain = "x\r\nBcc: evil@x";
	m = load(L("From: root\n\nb\n"), &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA);
	o.qualify_domain = "a b";
	m = load(L("From: root\n\nb\n"), &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA);
}

/*
 * Qualifying makes lines longer: none may pass 998 octets, and a list
 * without blanks is folded after a comma, never broken in an address.
 */
static void
test_qualify_long(void)
{
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char in[8000], *out, *u;
	size_t n, k = 0;

	memset(&o, 0, sizeof(o));
	o.warn = on_warn;
	o.qualify_domain = "a-rather-long-mail-domain.example.org";
	/* "To: u000,u001,..." : 900 octets before, about 4600 after */
	n = (size_t)sprintf(in, "To: ");
	for (int i = 0; i < 120; i++)
		n += (size_t)sprintf(in + n, "%su%03d", i ? "," : "", i);
	n += (size_t)sprintf(in + n, "\n\nb\n");
	nwarn = 0;
	m = load(in, n, &o, &f, 0);
	out = read_all(m, 4096, &n);	/* read_all checks 998 */
	CHECK(nwarn == 0);
	/* unfolded, it is the qualified list */
	u = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '\r' && i + 2 < n && out[i + 2] == ' ')
			i += 2;		/* the fold: CRLF and its space */
		u[k++] = out[i];
	}
	u[k] = '\0';
	CHECK(strncmp(u, "To: u000@a-rather-long-mail-domain.example.org,"
	    "u001@a-rather-long-mail-domain.example.org,", 90) == 0);
	CHECK(strstr(u, ",u119@a-rather-long-mail-domain.example.org\r\n"
	    "\r\nb\r\n") != NULL);
	CHECK(has(out, n, ",\r\n u"));
	free(u);
	free(out);
	msg_free(m);
}

/*
 * A -t message whose From: and To: hold 100,000-character addresses:
 * no crash, the addresses come back whole (the caller refuses them as
 * too long, 65), the output keeps every line within 998 octets; also
 * with qualification on.  A bad one deep in a long list is named.
 */
static void
test_huge_address(void)
{
	enum { BIG = 100000 };
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	char *in = malloc(3 * BIG), *out;
	size_t n, k;

	memset(&o, 0, sizeof(o));
	o.read_recipients = 1;
	o.warn = on_warn;
	for (int q = 0; q < 2; q++) {
		o.qualify_domain = q ? "mx.test" : NULL;
		n = (size_t)sprintf(in, "From: Big <");
		memset(in + n, 'f', BIG);
		n += BIG;
		n += (size_t)sprintf(in + n, "%s>\nTo: ", q ? "" : "@x.test");
		memset(in + n, 't', BIG);
		n += BIG;
		n += (size_t)sprintf(in + n, "@y.test\n\nbody\n");
		m = load(in, n, &o, &f, q);
		CHECK(m != NULL);
		if (m == NULL)
			continue;
		CHECK(msg_from_addr(m) != NULL &&
		    strlen(msg_from_addr(m)) == BIG + (q ? 0 : 7));
		CHECK(msg_recipients(m)->n == 1 &&
		    strlen(msg_recipients(m)->v[0]) == BIG + 7);
		out = read_all(m, 65536, &k);	/* checks 998 per line */
		CHECK(k > 2 * BIG);
		free(out);
		msg_free(m);
	}
	/* a bad address far into a long header: named, quoted short */
	n = (size_t)sprintf(in, "Resent-To: ");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(in + n, "a%d@b, ", i);
	n += (size_t)sprintf(in + n, "<x@\n\nbody\n");
	m = load(in, n, &o, &f, 0);
	CHECK(m == NULL && f.cls == FAIL_DATA);
	CHECK(strstr(f.msg, "bad address in Resent-To: header: unbalanced "
	    "'<' in \"<x@\"") != NULL);
	free(in);
}

/*
 * -t with 60,000 To: addresses, each twice (the second time with its
 * domain in upper case) and a Cc: repeating them: de-duplication is
 * linear (a scan per address took about 7 s here), the result exact
 * and in order.
 */
static void
test_many_recipients(void)
{
	enum { N = 60000 };
	struct msg_opts o;
	struct fail f;
	struct msg *m;
	struct timespec a, b;
	char *in = malloc((size_t)N * 60 + 100);
	const struct strv *r;
	size_t n = 0;
	double secs;
	int ok = 1;

	memset(&o, 0, sizeof(o));
	o.read_recipients = 1;
	n += (size_t)sprintf(in, "To: ");
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(in + n, "u%d@example.org, u%d@EXAMPLE.org,"
		    "\n ", i, i);
	n += (size_t)sprintf(in + n, "x@y\nCc: u7@example.org, U7@example.org"
	    "\n\nbody\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	m = load(in, n, &o, &f, 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	CHECK(m != NULL);
	if (m == NULL) {
		free(in);
		return;
	}
	r = msg_recipients(m);
	CHECK(r->n == N + 2);	/* x@y, and U7 (local parts are exact) */
	for (int i = 0; i < N && ok; i++) {
		char want[32];

		snprintf(want, sizeof(want), "u%d@example.org", i);
		ok = strcmp(r->v[i], want) == 0;
	}
	CHECK(ok);
	CHECK_STR(r->v[N], "x@y");
	CHECK_STR(r->v[N + 1], "U7@example.org");
	CHECK(secs < 2.5);
	if (secs >= 2.5)
		fprintf(stderr, "  %d recipients took %.2f s\n", N, secs);
	msg_free(m);
	free(in);
}

/* ---- dead.letter: what msg_save_mbox (append_open) refuses ---- */

static void
put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, text, strlen(text)) !=
	    (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* The file holds exactly text. */
static int
file_is(const char *path, const char *text)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd == -1)
		return 0;
	r = read(fd, buf, sizeof(buf));
	close(fd);
	return r == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)r) == 0;
}

/* Saving m to path fails with FAIL_IO naming path and why. */
static void
refused(struct msg *m, const char *path, const char *why)
{
	struct fail f;

	fail_reset(&f);
	CHECK(msg_save_mbox(m, path, "a@b", &f) == -1);
	CHECK(f.cls == FAIL_IO);
	CHECK(strncmp(f.msg, path, strlen(path)) == 0);
	CHECK(strstr(f.msg, why) != NULL);
	if (strstr(f.msg, why) == NULL)
		fprintf(stderr, "  got \"%s\", want \"%s\"\n", f.msg, why);
}

static void
test_mbox_refused(void)
{
	char dl[256], target[256], other[256];
	struct msg_opts o;
	struct fail f;
	struct stat sb;
	struct msg *m;
	mode_t um;

	memset(&o, 0, sizeof(o));
	m = load(L("Subject: x\n\nbody\n"), &o, &f, 0);
	snprintf(dl, sizeof(dl), "%s/dead.letter", tmpdir);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	snprintf(other, sizeof(other), "%s/other", tmpdir);

	/* a symbolic link is not followed: its target stays as it was */
	put_file(target, "precious\n");
	CHECK(symlink(target, dl) == 0);
	refused(m, dl, ": is a symbolic link (not followed)");
	CHECK(file_is(target, "precious\n"));
	CHECK(lstat(dl, &sb) == 0 && S_ISLNK(sb.st_mode));
	unlink(dl);
	/* nor a dangling one: nothing is created where it points */
	CHECK(symlink(other, dl) == 0);
	refused(m, dl, ": is a symbolic link (not followed)");
	CHECK(access(other, F_OK) == -1 && errno == ENOENT);
	unlink(dl);

	/* a FIFO (opening it must not wait for a reader), a directory */
	CHECK(mkfifo(dl, 0600) == 0);
	refused(m, dl, ": is not a regular file");
	unlink(dl);
	CHECK(mkdir(dl, 0700) == 0);
	refused(m, dl, ": is not a regular file");
	rmdir(dl);

	/* a second name for a file of ours elsewhere */
	CHECK(link(target, dl) == 0);
	refused(m, dl, ": has 2 hard links");
	CHECK(file_is(target, "precious\n"));
	unlink(dl);

	/* owned by someone else (root can chown: the tests run as root) */
	put_file(dl, "theirs\n");
	if (geteuid() == 0) {
		CHECK(chown(dl, 65534, 65534) == 0);
		refused(m, dl, ": is owned by uid 65534, not by uid 0");
		CHECK(file_is(dl, "theirs\n"));
	}
	unlink(dl);
	unlink(target);

	/* created 0600 whatever the umask: it holds mail */
	um = umask(0);
	fail_reset(&f);
	CHECK(msg_save_mbox(m, dl, "a@b", &f) == 0);
	umask(um);
	CHECK(stat(dl, &sb) == 0 && (sb.st_mode & 07777) == 0600);
	unlink(dl);
	msg_free(m);
}

/*
 * A write that fails half-way (here: the file size limit) leaves no
 * half entry behind: the mbox is as it was before.
 */
static void
test_mbox_rollback(void)
{
	char dl[256], *big;
	size_t n = 300000;
	struct stat sb;
	pid_t pid;
	int status;

	snprintf(dl, sizeof(dl), "%s/dead.letter", tmpdir);
	put_file(dl, "From old Mon Jan  1 00:00:00 2024\nold\n\n");
	big = malloc(n);
	memcpy(big, "Subject: big\n\n", 14);
	for (size_t i = 14; i < n; i++)
		big[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 100000, 100000 };
		struct msg_opts o;
		struct fail f;
		struct msg *m;
		int rc;

		memset(&o, 0, sizeof(o));
		signal(SIGXFSZ, SIG_IGN);
		m = load(big, n, &o, &f, 0);
		if (m == NULL || setrlimit(RLIMIT_FSIZE, &rl) == -1)
			_exit(2);
		fail_reset(&f);
		rc = msg_save_mbox(m, dl, "a@b", &f);
		_exit(rc == -1 && f.cls == FAIL_IO &&
		    strstr(f.msg, ": write: ") != NULL ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat(dl, &sb) == 0 && sb.st_size == 39);
	CHECK(file_is(dl, "From old Mon Jan  1 00:00:00 2024\nold\n\n"));
	unlink(dl);
	free(big);
}

/* Message i of the concurrency test: "Subject: i", then lines "i:...". */
static char *
conc_msg(int i, size_t n, size_t *lenp)
{
	char *s = malloc(n + 64);
	size_t o = (size_t)sprintf(s, "Subject: %d\n\n", i);

	while (o < n)
		o += (size_t)sprintf(s + o, "%d:%0100d\n", i, i);
	*lenp = o;
	return s;
}

/* Every line of entry i (after its From line and header) is "i:...". */
static int
conc_entry_ok(const char *e, size_t len, int *id)
{
	const char *p = e, *end = e + len, *nl;
	char want[32];
	size_t wl, lines = 0;

	if (sscanf(e, "From a@b %*s %*s %*s %*s %*s\nSubject: %d\n", id) != 1)
		return 0;
	wl = (size_t)snprintf(want, sizeof(want), "%d:", *id);
	p = strstr(e, "\n\n");
	if (p == NULL)
		return 0;
	for (p += 2; p < end && *p != '\n'; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    (size_t)(nl - p) != wl + 100 || memcmp(p, want, wl) != 0)
			return 0;
		lines++;
	}
	return lines > 2000 && p + 1 == end;
}

/*
 * Twenty runs failing at once (a cron burst) append to one dead.letter:
 * every entry is whole, none interleaved with another.  Each message is
 * several write(2)s long, so without the lock they would mix.
 */
static void
test_mbox_concurrent(void)
{
	enum { N = 20 };
	char dl[256], *all;
	int go[2], seen[N] = { 0 }, good = 0, entries = 0, fd;
	struct stat sb;
	pid_t pids[N];
	char *p, *next;

	snprintf(dl, sizeof(dl), "%s/dead.letter", tmpdir);
	unlink(dl);
	if (pipe(go) == -1)
		abort();
	for (int i = 0; i < N; i++) {
		if ((pids[i] = fork()) == 0) {
			struct msg_opts o;
			struct fail f;
			struct msg *m;
			size_t len;
			char *s = conc_msg(i, 300000, &len), c;

			memset(&o, 0, sizeof(o));
			close(go[1]);
			/* a pipe: the file input of load() is one shared path */
			m = load(s, len, &o, &f, 1);
			/* all start together: wait for the pipe to close */
			if (m == NULL || read(go[0], &c, 1) != 0)
				_exit(2);
			fail_reset(&f);
			_exit(msg_save_mbox(m, dl, "a@b", &f) == 0 ? 0 : 1);
		}
	}
	close(go[0]);
	usleep(200000);
	close(go[1]);
	for (int i = 0; i < N; i++) {
		int status;

		CHECK(waitpid(pids[i], &status, 0) == pids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(stat(dl, &sb) == 0 && sb.st_size > 0);
	all = malloc((size_t)sb.st_size + 1);
	fd = open(dl, O_RDONLY);
	CHECK(fd != -1 && read(fd, all, (size_t)sb.st_size) == sb.st_size);
	close(fd);
	all[sb.st_size] = '\0';
	/* entries start at "From " at the start of the file or after the
	 * blank line that ends the previous one */
	for (p = all; p != NULL && *p != '\0'; p = next) {
		int id = -1;

		next = strstr(p, "\n\nFrom a@b ");
		if (next != NULL)
			next += 2;
		entries++;
		if (conc_entry_ok(p, next ? (size_t)(next - p) :
		    strlen(p), &id) && id >= 0 && id < N && !seen[id]++)
			good++;
	}
	CHECK(entries == N);
	CHECK(good == N);
	if (good != N)
		fprintf(stderr, "  %d entries, %d intact\n", entries, good);
	free(all);
	unlink(dl);
}

/* ---- the address parser ---- */

static const struct {
	const char	*in;
	const char	*want;	/* addresses joined by '|'; NULL: error */
	const char	*err;	/* part of the error message */
} addrs[] = {
	{ "a@b", "a@b", NULL },
	{ "Name <a@b>", "a@b", NULL },
	{ "\"Quoted, Name\" <a@b>", "a@b", NULL },
	{ "a@b (comment)", "a@b", NULL },
	{ "(x (nested) y) a@b", "a@b", NULL },
	{ "a(c)@(d)b", "a@b", NULL },
	{ "\"john doe\"@x", "\"john doe\"@x", NULL },
	{ "\"john\"@x", "john@x", NULL },
	{ "\"a\\\"b\"@x", "\"a\\\"b\"@x", NULL },
	{ "\"a\\\\b\"@x", "\"a\\\\b\"@x", NULL },
	{ "\"\"@x", "\"\"@x", NULL },
	{ "Team: a@b, c@d;", "a@b|c@d", NULL },
	{ "undisclosed-recipients:;", "", NULL },
	{ "Team: a@b, c@d;, e@f", "a@b|c@d|e@f", NULL },
	{ "Team: a@b", "a@b", NULL },
	{ "G: <x@y>, Z <z@w> ;", "x@y|z@w", NULL },
	{ "<@r1,@r2:a@b>", "a@b", NULL },
	{ "Name <@r1:a@b>", "a@b", NULL },
	{ "a@b,,c@d,", "a@b|c@d", NULL },
	{ ",a@b", "a@b", NULL },
	{ "a@[127.0.0.1]", "a@[127.0.0.1]", NULL },
	{ "a@[IPv6:::1]", "a@[IPv6:::1]", NULL },
	{ "root", "root", NULL },
	{ "Root <root>", "root", NULL },
	{ "j\xc3\xb6rg@ex\xc3\xa4mple.de", "j\xc3\xb6rg@ex\xc3\xa4mple.de", NULL },
	{ "a@b, A@B", "a@b|A@B", NULL },
	{ "a@b, a@B, <a@b>", "a@b", NULL },
	{ "John Q. Public <jqp@x>", "jqp@x", NULL },
	{ "a@b , c@d", "a@b|c@d", NULL },
	{ "  a@b  ", "a@b", NULL },
	{ "a . b @ x . y", "a.b@x.y", NULL },
	{ "Joe <a@b>, \"Smith, J\" <c@d>", "a@b|c@d", NULL },
	{ "Group:;", "", NULL },
	{ "<a@b>", "a@b", NULL },
	{ "a+tag@b.example", "a+tag@b.example", NULL },
	{ "", "", NULL },
	{ "x@y\t,\tz@w", "x@y|z@w", NULL },
	{ "\"a@b\"@c", "\"a@b\"@c", NULL },
	{ "a@b <c@d>", "c@d", NULL },
	{ "(only a comment)", "", NULL },
	{ "a@b\r\nc@d", NULL, "CR or LF" },
	{ "a@b\r\n c@d", NULL, "CR or LF" },
	{ "a@b\n", NULL, "CR or LF" },
	{ "a@b\r", NULL, "CR or LF" },
	{ "a\x01@b", NULL, "control character in \"a\\x01@b\"" },
	{ "a@b\x7f", NULL, "control character" },
	{ "\"a\x1b\"@b", NULL, "control character" },
	{ "Name <a@b", NULL, "unbalanced '<' in \"Name <a@b\"" },
	{ "x@y, Name <a@b, c@d>", NULL, "malformed address in \"a@b, c@d\"" },
	{ "x@y, Name <a@b, c@d", NULL, "unbalanced '<'" },
	{ "(comment a@b", NULL, "unbalanced '('" },
	{ "a@b (x (y)", NULL, "unbalanced '('" },
	{ "\"unterminated@b", NULL, "unbalanced '\"'" },
	{ "a@b, <>", NULL, "empty address in \"<>\"" },
	{ "Name <>", NULL, "empty address" },
	{ "Name < (c) >", NULL, "empty address" },
	{ "a@", NULL, "malformed address in \"a@\"" },
	{ "@b", NULL, "malformed address" },
	{ "x@y, John Doe", NULL, "malformed address in \"John Doe\"" },
	{ "a@b c@d", NULL, "malformed address" },
	{ "a@b@c", NULL, "malformed address" },
	{ "a@b)", NULL, "unbalanced ')'" },
	{ "a@b>", NULL, "" },
	{ "G: a@b, H: c@d;;", NULL, "nested group" },
	{ "a@.b", NULL, "malformed domain" },
	{ "a@b..c", NULL, "malformed domain" },
	{ "a@b.", NULL, "malformed domain" },
	{ "a@[1.2.3.4", NULL, "unbalanced '['" },
	{ "Name <a@b> junk", NULL, "malformed address" },
	{ "a@b;", NULL, "malformed address" },
	{ "a@\"b\"", NULL, "malformed address" },
	{ "[1.2.3.4]@b", NULL, "malformed address" },
	{ "a\\b@c", NULL, "unexpected character" },
	{ "<a@b, c@d>", NULL, "malformed address" },
	{ "<@r1,@r2 a@b>", NULL, "malformed route" },
};

static void
test_addrlist(void)
{
	for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++) {
		struct strv sv = { NULL, 0, 0 };
		struct fail f;
		char joined[512] = "";
		int rc;

		fail_reset(&f);
		rc = msg_parse_addrlist(addrs[k].in, strlen(addrs[k].in), &sv,
		    &f);
		for (size_t i = 0; i < sv.n; i++) {
			if (i > 0)
				strcat(joined, "|");
			strcat(joined, sv.v[i]);
		}
		if (addrs[k].want != NULL) {
			CHECK(rc == 0);
			if (rc != 0)
				fprintf(stderr, "  \"%s\": %s\n", addrs[k].in,
				    f.msg);
			CHECK_STR(joined, addrs[k].want);
		} else {
			CHECK(rc == -1 && f.cls == FAIL_DATA);
			CHECK(strstr(f.msg, addrs[k].err) != NULL);
			if (rc != -1 || strstr(f.msg, addrs[k].err) == NULL)
				fprintf(stderr, "  \"%s\": got \"%s\" (%s)\n",
				    addrs[k].in, f.msg, joined);
		}
		strv_free(&sv);
	}
	/* Appends to what is there, without duplicates. */
	{
		struct strv sv = { NULL, 0, 0 };
		struct fail f;

		fail_reset(&f);
		CHECK(msg_parse_addrlist(L("a@b, c@d"), &sv, &f) == 0);
		CHECK(msg_parse_addrlist(L("C@D, e@f"), &sv, &f) == 0);
		CHECK(sv.n == 4);
		CHECK(msg_parse_addrlist(L("c@D"), &sv, &f) == 0);
		CHECK(sv.n == 4 && strcmp(sv.v[3], "e@f") == 0);
		/* length, not NUL, ends the input */
		CHECK(msg_parse_addrlist("x@y, z@w", 3, &sv, &f) == 0);
		CHECK(sv.n == 5 && strcmp(sv.v[4], "x@y") == 0);
		CHECK(msg_parse_addrlist("x@y\0z", 5, &sv, &f) == -1);
		strv_free(&sv);
	}
	/* A long bad address is quoted shortened, and still sanitized. */
	{
		char in[600];
		struct strv sv = { NULL, 0, 0 };
		struct fail f;

		memset(in, 'a', sizeof(in));
		in[0] = '<';
		in[sizeof(in) - 1] = '\0';
		fail_reset(&f);
		CHECK(msg_parse_addrlist(in, strlen(in), &sv, &f) == -1);
		CHECK(strlen(f.msg) < 200 && strstr(f.msg, "...") != NULL);
	}
}

static void
test_addr(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "", "" },
		{ "<>", "" },
		{ " <> ", "" },
		{ "  ", "" },
		{ "a@b", "a@b" },
		{ "<a@b>", "a@b" },
		{ "Name <a@b>", "a@b" },
		{ "\"x y\"@b", "\"x y\"@b" },
		{ "a@b (me)", "a@b" },
		{ "root", "root" },
		{ "a@b, c@d", NULL },
		{ "G: a@b;", NULL },
		{ "a@b\n", NULL },
		{ "a@b\r\n X", NULL },
		{ "<a@b", NULL },
		{ "< >x", NULL },
		{ "John Doe", NULL },
	};

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct fail f;
		char *out = (char *)1;
		int rc;

		fail_reset(&f);
		rc = msg_parse_addr(t[k].in, &out, &f);
		if (t[k].want != NULL) {
			CHECK(rc == 0);
			CHECK_STR(out, t[k].want);
		} else {
			CHECK(rc == -1 && f.cls == FAIL_DATA && out == NULL);
			if (rc != -1)
				fprintf(stderr, "  \"%s\" gave \"%s\"\n",
				    t[k].in, out);
		}
		free(out);
	}
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setenv("TMPDIR", tmpdir, 1);
	test_crlf();
	test_outputs();
	test_added();
	test_recipients();
	test_errors();
	test_qp();
	test_qp_random();
	test_multipart();
	test_long_header();
	test_offset();
	test_big();
	test_mbox();
	test_addrlist();
	test_addr();
	test_qualify();
	test_qualify_long();
	test_huge_address();
	test_many_recipients();
	test_mbox_refused();
	test_mbox_rollback();
	test_mbox_concurrent();
	rmdir(tmpdir);
	T_DONE("msg");
}
