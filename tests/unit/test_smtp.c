/*
 * test_smtp.c - reply line parser, enhanced codes, EHLO capabilities,
 * dot-stuffing (exact bytes, across every buffer split), the exit-code
 * map, the phase deadlines.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "smtp.h"
#include "msg.h"

/* The exit-code map is static in smtpsend.c: compile it in here. */
int smtpsend_main(int, char **);
#define main smtpsend_main
#include "../../smtpsend.c"
#undef main

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
	CHECK(exit_code(FAIL_NONE) == 0);
	CHECK(exit_code(FAIL_USAGE) == 64);
	CHECK(exit_code(FAIL_DATA) == 65);
	CHECK(exit_code(FAIL_NOINPUT) == 66);
	CHECK(exit_code(FAIL_RCPT) == 67);
	CHECK(exit_code(FAIL_RESOLVE) == 68);
	CHECK(exit_code(FAIL_PERM) == 69);
	CHECK(exit_code(FAIL_INTERNAL) == 70);
	CHECK(exit_code(FAIL_IO) == 74);
	CHECK(exit_code(FAIL_TEMP) == 75);
	CHECK(exit_code(FAIL_PROTOCOL) == 76);
	CHECK(exit_code(FAIL_AUTH) == 77);
	CHECK(exit_code(FAIL_TLS) == 77);
	CHECK(exit_code(FAIL_CONFIG) == 78);
	CHECK(exit_code(FAIL_MAX) == 70);
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

int
main(void)
{
	test_parse_line();
	test_enh();
	test_caps();
	test_reply_text();
	test_dotstuff();
	test_smuggling();
	test_exit_map();
	test_timeouts();
	T_DONE("smtp");
}
