/*
 * smtp.c - the SMTP/LMTP client session (RFC 5321, 2033, 2920, 1870,
 * 6152, 6531, 3461, 2034/3463).
 *
 * Blocking and straight-line: each phase sends its command(s) and reads
 * the reply under its own deadline.  The envelope is pipelined (MAIL,
 * every RCPT, DATA in one write) only when the server offers PIPELINING.
 * Nothing here prints or exits: replies go to params->on_reply, client
 * lines to params->on_send, the outcome to struct smtp_result.
 *
 * Never out of step: nothing the server sent unasked is taken as a
 * reply (checked before every command, every data block and the dot);
 * a command line is sent whole or not at all (struct cmdline); text
 * for people is cut visibly, never a command.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "conn.h"
#include "msg.h"
#include "smtp.h"
#include "tlsio.h"

/* Recipients per pipelined batch: the replies of one batch (about 50
 * octets each) must fit the socket buffers, or client and server could
 * both block writing (RFC 2920 3.1 warns of this deadlock). */
#define RCPT_BATCH	100
/* Size of one block of message data written under one deadline. */
#define DATA_CHUNK	(64 * 1024)
/* Wait for QUIT's reply at most this long: the message is already
 * delivered or abandoned, only politeness is at stake. */
#define QUIT_WAIT	10
/* Wait at most this long for the rest of a reply that came during the
 * data: only to show it, the outcome is already decided. */
#define EARLY_WAIT	2

const char *const smtp_phase_names[SMTP_PH_MAX] = {
	[SMTP_PH_CONNECT] = "connect",
	[SMTP_PH_GREETING] = "greeting",
	[SMTP_PH_EHLO] = "EHLO",
	[SMTP_PH_HELO] = "HELO",
	[SMTP_PH_STARTTLS] = "STARTTLS",
	[SMTP_PH_AUTH] = "AUTH",
	[SMTP_PH_MAIL] = "MAIL FROM",
	[SMTP_PH_RCPT] = "RCPT TO",
	[SMTP_PH_DATA] = "DATA",
	[SMTP_PH_BODY] = "message data",
	[SMTP_PH_DOT] = "end of data",
	[SMTP_PH_QUIT] = "QUIT",
};

const char *const smtp_rcpt_state_names[SMTP_RCPT_MAX] = {
	[SMTP_RCPT_NOTTRIED] = "not tried",
	[SMTP_RCPT_ACCEPTED] = "accepted",
	[SMTP_RCPT_DELIVERED] = "delivered",
	[SMTP_RCPT_TEMPFAIL] = "temporary failure",
	[SMTP_RCPT_PERMFAIL] = "permanent failure",
	[SMTP_RCPT_UNKNOWN] = "unknown",
};

/* One connection, one or more messages. */
struct smtp_conn {
	const struct smtp_params *p;	/* the caller's, until smtp_close */
	const struct smtp_mail	*m;	/* the message being sent, or NULL */
	struct smtp_result	*res;	/* its result (the caller's) */
	struct conn		*c;
	struct smtp_reply	 r;
	int			 closed;	/* 421 seen or link lost */
	int			 broken;	/* usable for QUIT only */
	int			 esmtp;
	int			 used;		/* a transaction was started */
	struct smtp_caps	 caps;		/* as learnt at open */
	int			 tls;
	const char		*hello;		/* "EHLO" or "LHLO" */
	/* message data read (DATA_CHUNK) and dot-stuffed (twice that):
	 * allocated at the first message, freed by smtp_close */
	char			*in, *out;
};

static int	 reply_read(struct smtp_conn *, enum smtp_phase, const char *);
static int	 cmd_send(struct smtp_conn *, enum smtp_phase, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	 fail_reply(struct smtp_conn *, enum fail_class, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static int	 do_greeting(struct smtp_conn *);
static int	 do_hello(struct smtp_conn *);
static int	 do_tls(struct smtp_conn *);
static int	 do_auth(struct smtp_conn *);
static int	 do_envelope(struct smtp_conn *);
static int	 do_body(struct smtp_conn *);
static int	 do_final(struct smtp_conn *);
static void	 do_quit(struct smtp_conn *);

int
smtp_phase_timeout(enum smtp_phase ph)
{
	/* RFC 5321 4.5.3.2 minimum timeouts, in seconds. */
	switch (ph) {
	case SMTP_PH_CONNECT:
		return 60;		/* SPEC: connect 60 s */
	case SMTP_PH_DATA:
		return 120;		/* 4.5.3.2.3 DATA initiation */
	case SMTP_PH_BODY:
		return 180;		/* 4.5.3.2.4 data block */
	case SMTP_PH_DOT:
		return 600;		/* 4.5.3.2.5 DATA termination */
	default:
		return 300;		/* 4.5.3.2.1/2 greeting, MAIL, RCPT */
	}
}

static long long
deadline_for(const struct smtp_conn *s, enum smtp_phase ph)
{
	int secs = s->p->timeout > 0 ? s->p->timeout : smtp_phase_timeout(ph);

	if (ph == SMTP_PH_QUIT && secs > QUIT_WAIT)
		secs = QUIT_WAIT;
	return now_ms() + (long long)secs * 1000;
}

int
smtp_parse_line(const char *l, size_t len, int *last, const char **text)
{
	/* RFC 5321 4.2: three digits, first 2-5 here (no 1yz replies in
	 * SMTP client use), second 0-5, then SP, "-" or the line end. */
	if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9')
		return -1;
	if (memchr(l, '\0', len) != NULL)
		return -1;
	if (len == 3) {
		*last = 1;
		*text = l + 3;
	} else if (l[3] == ' ' || l[3] == '-') {
		*last = l[3] == ' ';
		*text = l + 4;
	} else
		return -1;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

size_t
smtp_parse_enh(int code, const char *t, char *enh)
{
	/* RFC 3463: class.subject.detail, class matching the reply,
	 * subject and detail 1-3 digits. */
	size_t i = 0, n;

	enh[0] = '\0';
	if (t[0] != '0' + code / 100 || t[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		n = 0;
		while (t[i + n] >= '0' && t[i + n] <= '9')
			n++;
		if (n < 1 || n > 3)
			return 0;
		i += n;
		if (part == 0) {
			if (t[i] != '.')
				return 0;
			i++;
		}
	}
	if (t[i] != '\0' && t[i] != ' ')
		return 0;
	memcpy(enh, t, i);
	enh[i] = '\0';
	return t[i] == ' ' ? i + 1 : i;
}

/*
 * Display text (error messages, replies shown to people) may be cut to
 * its buffer, but visibly: it then ends in "...".  A command line is
 * never cut: see struct cmdline.
 */
static void
cut_mark(char *out, size_t cap)
{
	if (cap >= 4)
		memcpy(out + cap - 4, "...", 4);
}

/* Append text at out + *o (cap bytes in all); -1 once it had to cut. */
static int
show_add(char *out, size_t cap, size_t *o, const char *text)
{
	size_t n = strlen(text);

	if (*o + n < cap) {
		memcpy(out + *o, text, n + 1);
		*o += n;
		return 0;
	}
	memcpy(out + *o, text, cap - 1 - *o);
	out[cap - 1] = '\0';
	*o = cap - 1;
	cut_mark(out, cap);
	return -1;
}

/* The same for foreign bytes (a server's text), made terminal-safe. */
static int
show_raw(char *out, size_t cap, size_t *o, const char *p, size_t len)
{
	/* sanitize() writes at most "\xHH" (4 octets) per input octet */
	char tmp[4 * SMTP_LINE_MAX + 1], *t = tmp;
	size_t tcap = sizeof(tmp);
	int rc;

	if (len > SMTP_LINE_MAX) {
		tcap = 4 * len + 1;
		t = xmalloc(tcap);
	}
	rc = show_add(out, cap, o, sanitize(t, tcap, p, len));
	if (t != tmp)
		free(t);
	return rc;
}

/* vsnprintf for display text: cut visibly. */
static void
show_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (k < 0)
		out[0] = '\0';
	else if ((size_t)k >= cap)
		cut_mark(out, cap);
}

/*
 * Add to a failure's message.  The addition matters ("the message may
 * have been delivered"), so it is kept whole; the text before it is cut
 * visibly if both do not fit.  more must be shorter than the message
 * buffer less 4.
 */
static void
fail_add(struct fail *f, const char *more)
{
	size_t n = strlen(f->msg), k = strlen(more);

	if (n + k >= sizeof(f->msg)) {
		n = sizeof(f->msg) - 1 - k - 3;
		memcpy(f->msg + n, "...", 3);
		n += 3;
	}
	memcpy(f->msg + n, more, k + 1);
}

/* Extensions that are a keyword and nothing more. */
static const struct {
	const char	*name;
	unsigned	 bit;
} ext_words[] = {
	{ "PIPELINING", SMTP_EXT_PIPELINING },		/* RFC 2920 */
	{ "8BITMIME", SMTP_EXT_8BITMIME },		/* RFC 6152 */
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },		/* RFC 6531 */
	{ "DSN", SMTP_EXT_DSN },			/* RFC 3461 */
	{ "CHUNKING", SMTP_EXT_CHUNKING },		/* RFC 3030 */
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCED },	/* RFC 2034 */
	{ "STARTTLS", SMTP_EXT_STARTTLS },		/* RFC 3207 */
};

/* RFC 1870: "SIZE n"; no number or 0 means no fixed limit. */
static void
caps_size(struct smtp_caps *caps, const char *arg)
{
	char *end;
	unsigned long long v;

	caps->ext |= SMTP_EXT_SIZE;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno == 0 && end != arg && arg[0] >= '0' && arg[0] <= '9')
		caps->size = v;
}

/* Append one AUTH line's mechanisms at *have; -1 if they cannot fit. */
static int
caps_auth(struct smtp_caps *caps, size_t *have, const char *arg)
{
	size_t n = strlen(arg);

	caps->ext |= SMTP_EXT_AUTH;
	/* the separator, the list and the NUL, whole or not at all: a cut
	 * list would hide a mechanism */
	if (*have + 1 + n + 1 > sizeof(caps->auth))
		return -1;
	if (*have > 0)
		caps->auth[(*have)++] = ' ';
	memcpy(caps->auth + *have, arg, n + 1);
	*have += n;
	return 0;
}

int
smtp_parse_caps(const struct smtp_reply *r, struct smtp_caps *caps)
{
	size_t have = 0;
	int rc = 0;

	memset(caps, 0, sizeof(*caps));
	for (size_t i = 1; i < r->nlines; i++) {
		const char *l = r->line[i];
		size_t kw = strcspn(l, " ");
		const char *arg;

		/* "AUTH=LOGIN PLAIN" is the pre-RFC 4954 form */
		if (strncasecmp(l, "AUTH=", 5) == 0)
			kw = 4;
		arg = l[kw] ? l + kw + 1 : l + kw;
		/* Postfix smtp-sink ends with an empty "250 " line. */
		if (kw == 0)
			continue;
#define IS(name) (kw == strlen(name) && strncasecmp(l, name, kw) == 0)
		if (IS("SIZE"))
			caps_size(caps, arg);
		else if (IS("AUTH")) {
			if (caps_auth(caps, &have, arg) == -1)
				rc = -1;
		} else
			for (size_t k = 0; k < sizeof(ext_words) /
			    sizeof(ext_words[0]); k++)
				if (IS(ext_words[k].name))
					caps->ext |= ext_words[k].bit;
#undef IS
	}
	return rc;
}

/* Display only: cut visibly (show_add) when it does not fit. */
void
smtp_reply_text(const struct smtp_reply *r, char *out, size_t cap)
{
	char code[16];		/* a reply code is 3 digits */
	size_t o = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	snprintf(code, sizeof(code), "%d", r->code);
	if (show_add(out, cap, &o, code) == -1)
		return;
	for (size_t i = 0; i < r->nlines; i++) {
		if (r->line[i][0] == '\0')
			continue;
		if (show_add(out, cap, &o, i == 0 ? " " : " / ") == -1 ||
		    show_raw(out, cap, &o, r->line[i], strlen(r->line[i]))
		    == -1)
			return;
	}
}

/* Record a failure that is the server's reply; message + ": " + reply */
static void
fail_reply(struct smtp_conn *s, enum fail_class cls, const char *fmt, ...)
{
	char what[sizeof(s->res->fail.msg)], msg[sizeof(what)];
	size_t o = 0;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (k < 0)
		what[0] = '\0';
	else if ((size_t)k >= sizeof(what))
		cut_mark(what, sizeof(what));
	s->res->code = s->r.code;
	smtp_reply_text(&s->r, s->res->reply, sizeof(s->res->reply));
	msg[0] = '\0';
	if (show_add(msg, sizeof(msg), &o, what) == 0 &&
	    show_add(msg, sizeof(msg), &o, ": ") == 0)
		(void)show_add(msg, sizeof(msg), &o, s->res->reply);
	fail_set(&s->res->fail, cls, "%s", msg);
}

static const char *
phase_what(enum smtp_phase ph)
{
	switch (ph) {
	case SMTP_PH_GREETING:
		return "the greeting";
	case SMTP_PH_BODY:
		return "sending the message";
	case SMTP_PH_DOT:
		return "the reply to the end of data";
	default:
		return NULL;
	}
}

/* The link failed (st) while we waited for `where`. */
static void
read_failed(struct smtp_conn *s, enum smtp_phase ph, enum conn_status st,
    const char *where)
{
	struct fail *f = &s->res->fail;

	s->res->phase = ph;
	s->closed = 1;
	if (st == CONN_TLSERR) {
		fail_set(f, FAIL_TLS, "TLS failure waiting for %s: %s", where,
		    conn_error(s->c));
		fail_hint(f, conn_hint(s->c));
	} else if (st == CONN_TIMEOUT)
		fail_set(f, FAIL_TEMP, "timed out after %d s waiting for %s",
		    s->p->timeout > 0 ? s->p->timeout :
		    smtp_phase_timeout(ph), where);
	else if (st == CONN_EOF)
		fail_set(f, FAIL_TEMP, "connection lost waiting for %s",
		    where);
	else
		fail_set(f, FAIL_TEMP, "connection error waiting for %s: %s",
		    where, strerror(conn_errno(s->c)));
}

/* Add one line (CR stripped) to s->r; -1 if malformed or too much. */
static int
reply_add(struct smtp_conn *s, enum smtp_phase ph, const char *line,
    size_t len, int *last, const char *where)
{
	struct smtp_reply *r = &s->r;
	char shown[160];
	const char *text;
	size_t tlen, o = 0;
	int code = smtp_parse_line(line, len, last, &text);

	s->res->phase = ph;
	if (code < 0 || (r->nlines > 0 && code != r->code)) {
		shown[0] = '\0';
		(void)show_raw(shown, sizeof(shown), &o, line, len);
		fail_set(&s->res->fail, FAIL_PROTOCOL,
		    "malformed reply (%s) in %s: \"%s\"", code < 0 ?
		    "not a reply line" : "codes differ between lines", where,
		    shown);
		return -1;
	}
	tlen = len - (size_t)(text - line);
	if (r->nlines == SMTP_REPLY_MAXLINES ||
	    r->used + tlen + 1 > sizeof(r->buf)) {
		fail_set(&s->res->fail, FAIL_PROTOCOL, "malformed reply: "
		    "more than %d lines or %zu octets in %s",
		    SMTP_REPLY_MAXLINES, sizeof(r->buf), where);
		return -1;
	}
	r->code = code;
	memcpy(r->buf + r->used, text, tlen);
	r->buf[r->used + tlen] = '\0';
	r->line[r->nlines++] = r->buf + r->used;
	r->used += tlen + 1;
	return 0;
}

/*
 * Read one complete reply into s->r before the deadline and validate
 * it: well-formed lines, one code throughout, bounded size.
 */
static int
reply_get(struct smtp_conn *s, enum smtp_phase ph, long long deadline,
    const char *where)
{
	struct smtp_reply *r = &s->r;
	int last = 0;

	r->nlines = 0;
	r->used = 0;
	r->code = 0;
	r->enh[0] = '\0';
	while (!last) {
		char *line;
		size_t len;
		enum conn_status st;

		st = conn_getline(s->c, deadline, SMTP_LINE_MAX, &line, &len);
		if (st == CONN_TOOLONG) {
			s->res->phase = ph;
			fail_set(&s->res->fail, FAIL_PROTOCOL, "malformed "
			    "reply: a line over %d octets in %s",
			    SMTP_LINE_MAX, where);
			return -1;
		}
		if (st != CONN_OK) {
			read_failed(s, ph, st, where);
			return -1;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (reply_add(s, ph, line, len, &last, where) == -1)
			return -1;
	}
	smtp_parse_enh(r->code, r->line[0], r->enh);
	return 0;
}

/*
 * Read the reply for phase ph (to cmd) under the phase's deadline and
 * hand it to on_reply.  421 at any stage means the server is closing:
 * recorded as FAIL_TEMP.
 */
static int
reply_read(struct smtp_conn *s, enum smtp_phase ph, const char *cmd)
{
	char where[128];	/* cmd is one of our verbs */

	if (phase_what(ph) != NULL)
		show_fmt(where, sizeof(where), "%s", phase_what(ph));
	else
		show_fmt(where, sizeof(where), "the reply to %s", cmd);
	if (reply_get(s, ph, deadline_for(s, ph), where) == -1)
		return -1;
	if (s->p->on_reply != NULL)
		s->p->on_reply(s->p->cbarg, ph, &s->r);
	if (s->r.code == 421) {
		/* RFC 5321 3.8: the server is closing; no QUIT. */
		s->res->phase = ph;
		s->closed = 1;
		fail_reply(s, FAIL_TEMP, "server closing the connection "
		    "(%s)", where);
		return -1;
	}
	return 0;
}

/*
 * Nothing may be waiting from the server when we send: bytes it sent
 * unasked would be read as the reply to what we send now, and the
 * session would run out of step (the injection class of CVE-2021-38371
 * and CVE-2011-0411).  what names the command in the error.
 */
static int
unasked(struct smtp_conn *s, enum smtp_phase ph, const char *what)
{
	if (!conn_has_input(s->c))
		return 0;
	s->res->phase = ph;
	fail_set(&s->res->fail, FAIL_PROTOCOL, "protocol error: the server "
	    "sent data before %s was sent", what);
	return -1;
}

/* Write command lines (CRLF included); what names them in errors. */
static int
put_lines(struct smtp_conn *s, enum smtp_phase ph, const char *what,
    const char *buf, size_t len)
{
	enum conn_status st;

	st = conn_write(s->c, buf, len, deadline_for(s, ph));
	if (st == CONN_OK)
		return 0;
	s->res->phase = ph;
	s->closed = 1;
	if (st == CONN_TLSERR) {
		fail_set(&s->res->fail, FAIL_TLS, "TLS failure sending %s: %s",
		    what, conn_error(s->c));
		fail_hint(&s->res->fail, conn_hint(s->c));
	} else
		fail_set(&s->res->fail, FAIL_TEMP, "connection %s sending %s",
		    st == CONN_TIMEOUT ? "timed out" : "lost", what);
	return -1;
}

/* Send a line whose text must not be shown: on_send gets `shown`. */
static int
cmd_send_secret(struct smtp_conn *s, const char *shown, const char *line)
{
	size_t n = strlen(line);
	char *buf;
	int rc;

	if (unasked(s, SMTP_PH_AUTH, "AUTH") == -1)
		return -1;
	if (s->p->on_send != NULL)
		s->p->on_send(s->p->cbarg, shown, strlen(shown));
	buf = xmalloc(n + 2);
	memcpy(buf, line, n);
	memcpy(buf + n, "\r\n", 2);
	rc = put_lines(s, SMTP_PH_AUTH, "AUTH", buf, n + 2);
	explicit_bzero(buf, n + 2);
	free(buf);
	return rc;
}

/*
 * A command line being built.  It is sent whole or not at all: text
 * beyond SMTP_CMD_MAX - 2 (RFC 5321 4.5.3.1.4, 512 octets with the
 * CRLF) marks it over, and an over line is FAIL_DATA, never cut.
 * s has room for the text, the CRLF and a NUL.
 */
struct cmdline {
	char	 s[SMTP_CMD_MAX + 1];
	size_t	 n;
	int	 over;
};

static void
cl_vadd(struct cmdline *cl, const char *fmt, va_list ap)
{
	int k;

	if (cl->over)
		return;
	k = vsnprintf(cl->s + cl->n, sizeof(cl->s) - cl->n, fmt, ap);
	if (k < 0) {
		cl->over = 1;
		cl->s[cl->n] = '\0';
		return;
	}
	if (cl->n + (size_t)k > SMTP_CMD_MAX - 2) {
		cl->over = 1;	/* what fit stays, for the message only */
		cl->n = strlen(cl->s);
		return;
	}
	cl->n += (size_t)k;
}

static void
cl_add(struct cmdline *cl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_vadd(cl, fmt, ap);
	va_end(ap);
}

static void
cl_init(struct cmdline *cl)
{
	cl->s[0] = '\0';
	cl->n = 0;
	cl->over = 0;
}

/* The failure for a line that came out too long. */
static int
cl_over(struct smtp_conn *s, enum smtp_phase ph, const struct cmdline *cl)
{
	char start[64];
	size_t o = 0;

	start[0] = '\0';
	(void)show_raw(start, sizeof(start), &o, cl->s, cl->n);
	s->res->phase = ph;
	fail_set(&s->res->fail, FAIL_DATA, "command line too long: \"%s\" "
	    "would be over %d octets (RFC 5321 4.5.3.1.4)", start,
	    SMTP_CMD_MAX);
	return -1;
}

/* Send a built line (on_send shows it), after the unasked check. */
static int
cl_send(struct smtp_conn *s, enum smtp_phase ph, struct cmdline *cl)
{
	if (cl->over)
		return cl_over(s, ph, cl);
	if (unasked(s, ph, smtp_phase_names[ph]) == -1)
		return -1;
	if (s->p->on_send != NULL)
		s->p->on_send(s->p->cbarg, cl->s, cl->n);
	memcpy(cl->s + cl->n, "\r\n", 3);
	return put_lines(s, ph, smtp_phase_names[ph], cl->s, cl->n + 2);
}

/* Send one command line. */
static int
cmd_send(struct smtp_conn *s, enum smtp_phase ph, const char *fmt, ...)
{
	struct cmdline cl;
	va_list ap;

	cl_init(&cl);
	va_start(ap, fmt);
	cl_vadd(&cl, fmt, ap);
	va_end(ap);
	return cl_send(s, ph, &cl);
}

/*
 * A reply that is not the success expected: 4xx/5xx is the server
 * refusing (recorded as what + its reply), anything else is out of
 * protocol.  Always -1.
 */
static int
refused(struct smtp_conn *s, enum smtp_phase ph, const char *cmd,
    const char *what)
{
	s->res->phase = ph;
	if (s->r.code >= 400 && s->r.code < 600)
		fail_reply(s, s->r.code >= 500 ? FAIL_PERM : FAIL_TEMP, "%s",
		    what);
	else if (cmd == NULL)
		fail_reply(s, FAIL_PROTOCOL, "unexpected greeting");
	else
		fail_reply(s, FAIL_PROTOCOL, "unexpected reply to %s", cmd);
	return -1;
}

static int
do_greeting(struct smtp_conn *s)
{
	if (reply_read(s, SMTP_PH_GREETING, NULL) == -1)
		return -1;
	if (s->r.code == 220)
		return 0;
	/* RFC 5321 3.1: 554 instead of 220; still QUIT. */
	return refused(s, SMTP_PH_GREETING, NULL,
	    "server refused the connection");
}

static int
do_hello(struct smtp_conn *s)
{
	const struct smtp_params *p = s->p;
	char what[SMTP_CMD_MAX + 32];	/* the command fit SMTP_CMD_MAX */

	s->hello = p->proto == SMTP_PROTO_LMTP ? "LHLO" : "EHLO";
	if (cmd_send(s, SMTP_PH_EHLO, "%s %s", s->hello, p->helo) == -1 ||
	    reply_read(s, SMTP_PH_EHLO, s->hello) == -1)
		return -1;
	if (s->r.code == 250) {
		s->esmtp = 1;
		if (smtp_parse_caps(&s->r, &s->res->caps) == 0)
			return 0;
		s->res->phase = SMTP_PH_EHLO;
		fail_set(&s->res->fail, FAIL_PROTOCOL, "malformed reply to "
		    "%s: AUTH lists over %zu octets", s->hello,
		    sizeof(s->res->caps.auth));
		return -1;
	}
	s->res->phase = SMTP_PH_EHLO;
	if (s->r.code >= 500 && s->r.code < 600 &&
	    p->proto == SMTP_PROTO_SMTP) {
		/* RFC 5321 4.1.4: an old server refuses EHLO; try HELO. */
		if (cmd_send(s, SMTP_PH_HELO, "HELO %s", p->helo) == -1 ||
		    reply_read(s, SMTP_PH_HELO, "HELO") == -1)
			return -1;
		if (s->r.code == 250) {
			memset(&s->res->caps, 0, sizeof(s->res->caps));
			return 0;
		}
		show_fmt(what, sizeof(what), "HELO %s rejected", p->helo);
		return refused(s, SMTP_PH_HELO, "HELO", what);
	}
	show_fmt(what, sizeof(what), "%s %s rejected", s->hello, p->helo);
	return refused(s, SMTP_PH_EHLO, s->hello, what);
}

static void
tls_info(struct smtp_conn *s)
{
	if (s->p->on_info != NULL)
		conn_tls_describe(s->c, s->p->on_info, s->p->cbarg);
}

/*
 * RFC 3207 STARTTLS.  Required (--tls=starttls), or wanted (auto) when
 * offered; auto to a non-loopback server that does not offer it is an
 * error: no silent plaintext.  After the handshake everything learnt
 * before is forgotten and EHLO is sent again (RFC 3207 4.2).
 */
static int
do_tls(struct smtp_conn *s)
{
	const struct smtp_params *p = s->p;
	int offered = (s->res->caps.ext & SMTP_EXT_STARTTLS) != 0;

	if (p->tls == SMTP_TLS_OFF || p->tls == SMTP_TLS_IMPLICIT)
		return 0;
	s->res->phase = SMTP_PH_STARTTLS;
	if (!offered) {
		if (p->tls == SMTP_TLS_AUTO && conn_is_loopback(s->c))
			return 0;
		fail_set(&s->res->fail, FAIL_PERM, "the server does not "
		    "offer STARTTLS%s; nothing was sent", s->esmtp ? "" :
		    " (it refused EHLO)");
		fail_hint(&s->res->fail, HINT_TLS_OFF);
		return -1;
	}
	if (cmd_send(s, SMTP_PH_STARTTLS, "STARTTLS") == -1 ||
	    reply_read(s, SMTP_PH_STARTTLS, "STARTTLS") == -1)
		return -1;
	/* 4xx is temporary (75, queued), 5xx permanent (69); either way
	 * never a plaintext fallback */
	if (s->r.code != 220)
		return refused(s, SMTP_PH_STARTTLS, "STARTTLS",
		    "STARTTLS refused; nothing was sent");
	if (conn_starttls(s->c, p->tlsopts, deadline_for(s, SMTP_PH_STARTTLS),
	    0, &s->res->fail) == -1) {
		s->closed = 1;
		return -1;
	}
	s->res->tls = 1;
	memset(&s->res->caps, 0, sizeof(s->res->caps));
	tls_info(s);
	return do_hello(s);
}

/* RFC 4954 4: "AUTH mech initial-response" stays within 512 octets;
 * a longer initial response (an OAuth token) waits for an empty 334. */
#define AUTH_IR_MAX	400

/* "AUTH mech [initial-response]"; *pending: the response waits for 334. */
static int
auth_first(struct smtp_conn *s, const char *name, const char *resp,
    int *pending)
{
	struct cmdline line;
	char shown[64];		/* "AUTH " + a mechanism name + " ***" */
	int rc;

	*pending = resp != NULL && strlen(resp) > AUTH_IR_MAX;
	cl_init(&line);
	if (resp != NULL && !*pending)
		cl_add(&line, "AUTH %s %s", name, resp);
	else
		cl_add(&line, "AUTH %s", name);
	snprintf(shown, sizeof(shown), "AUTH %s%s", name, resp != NULL &&
	    !*pending ? " ***" : "");
	/* AUTH_IR_MAX keeps it short; never show the line, it holds
	 * the credentials */
	if (line.over) {
		s->res->phase = SMTP_PH_AUTH;
		fail_set(&s->res->fail, FAIL_INTERNAL, "AUTH %s command line "
		    "too long", name);
		rc = -1;
	} else
		rc = cmd_send_secret(s, shown, line.s);
	explicit_bzero(line.s, sizeof(line.s));
	return rc;
}

/* The reply that ended the exchange (not 334). */
static int
auth_verdict(struct smtp_conn *s, struct sasl *sa, const char *name,
    int *refused)
{
	s->res->phase = SMTP_PH_AUTH;
	if (s->r.code == 235) {
		char enh[16];
		const char *t = s->r.line[0] + smtp_parse_enh(235,
		    s->r.line[0], enh);

		return sasl_finish(sa, t, strlen(t), &s->res->fail);
	}
	if (s->r.code >= 500 || s->r.code == 454) {
		*refused = s->r.code >= 500;
		fail_reply(s, s->r.code >= 500 ? FAIL_AUTH : FAIL_TEMP,
		    "authentication (%s) failed", name);
	} else if (s->r.code >= 400)
		fail_reply(s, FAIL_TEMP, "authentication (%s) failed", name);
	else
		fail_reply(s, FAIL_PROTOCOL, "unexpected reply to AUTH");
	return -1;
}

/*
 * One AUTH exchange.  Returns 0 (235 and, for SCRAM, the server
 * proved itself), -1 with the failure recorded; *refused is set when
 * the server refused the credentials (535 and kin).
 */
static int
auth_once(struct smtp_conn *s, enum sasl_mech mech, const char *secret,
    int *refused)
{
	const char *name = sasl_mech_names[mech], *resp = NULL;
	struct sasl *sa = sasl_new(mech, s->p->user, secret, s->p->host, 0);
	struct fail *f = &s->res->fail;
	int rc = -1, pending_ir = 0;

	*refused = 0;
	if (sasl_start(sa, &resp, f) == -1 ||
	    auth_first(s, name, resp, &pending_ir) == -1)
		goto out;
	for (;;) {
		if (reply_read(s, SMTP_PH_AUTH, "AUTH") == -1)
			goto out;
		if (s->r.code != 334)
			break;
		if (pending_ir)
			pending_ir = 0;		/* resp is still valid */
		else if (sasl_step(sa, s->r.line[0], strlen(s->r.line[0]),
		    &resp, f) == -1) {
			/* RFC 4954 4: "*" cancels the exchange */
			struct fail saved = *f;

			fail_reset(f);
			if (cmd_send_secret(s, "*", "*") == 0)
				(void)reply_read(s, SMTP_PH_AUTH, "AUTH");
			*f = saved;
			goto out;
		}
		if (cmd_send_secret(s, "***", resp) == -1)
			goto out;
	}
	rc = auth_verdict(s, sa, name, refused);
out:
	sasl_free(sa);
	return rc;
}

/* Which mechanism: named (must be offered) or the strongest shared. */
static int
auth_mech(struct smtp_conn *s)
{
	const struct smtp_params *p = s->p;
	const char *list = s->res->caps.auth;
	char shown[400];	/* the server's list, cut visibly */
	size_t o = 0;
	int mech;

	shown[0] = '\0';
	(void)show_raw(shown, sizeof(shown), &o, list, strlen(list));
	if (p->auth >= 0) {
		if (!sasl_offered(list, p->auth)) {
			fail_set(&s->res->fail, FAIL_PERM, "the server does "
			    "not offer AUTH %s (it offers: %s)",
			    sasl_mech_names[p->auth], shown);
			return -1;
		}
		return p->auth;
	}
	/* a password is never an OAuth token: no SASL_PICK_TOKEN */
	mech = sasl_pick(list, p->have_cert ? SASL_PICK_CERT : 0);
	if (mech < 0)
		fail_set(&s->res->fail, FAIL_PERM, "no authentication "
		    "mechanism in common with the server (it offers: %s)",
		    shown);
	return mech;
}

/*
 * RFC 4954.  Only inside TLS unless the user chose --tls=off; a server
 * without AUTH is an error, never a silent unauthenticated send.  An
 * OAuth token the server refuses is fetched once more and retried
 * (token helpers refresh on demand).
 */
static int
do_auth(struct smtp_conn *s)
{
	const struct smtp_params *p = s->p;
	char *secret = NULL;
	int mech, refused = 0, rc = -1;

	if (p->auth == SMTP_AUTH_OFF)
		return 0;
	s->res->phase = SMTP_PH_AUTH;
	if (!s->res->tls && p->tls != SMTP_TLS_OFF) {
		fail_set(&s->res->fail, FAIL_PERM, "refusing to send "
		    "credentials without TLS (the server offers no "
		    "STARTTLS)");
		fail_hint(&s->res->fail, HINT_TLS_OFF_AUTH);
		return -1;
	}
	if (!(s->res->caps.ext & SMTP_EXT_AUTH)) {
		fail_set(&s->res->fail, FAIL_PERM, "authentication was "
		    "requested but the server does not offer AUTH; nothing "
		    "was sent");
		return -1;
	}
	if ((mech = auth_mech(s)) < 0)
		return -1;
	for (int again = 0; again < 2; again++) {
		if (sasl_needs_secret(mech) && (secret = p->get_secret(
		    p->cbarg, again, &s->res->fail)) == NULL)
			return -1;
		rc = auth_once(s, mech, secret, &refused);
		sasl_secret_free(secret);
		secret = NULL;
		if (rc == 0 || !refused || !sasl_is_oauth(mech) || s->closed ||
		    again == 1)
			break;
		fail_reset(&s->res->fail);	/* a fresh token, once */
	}
	return rc;
}

static int
is_ascii(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a >= 0x80)
			return 0;
	return 1;
}

/* RFC 3461 4: xtext encoding for ENVID, appended to the line. */
static void
xtext(struct cmdline *cl, const char *in)
{
	for (; *in && !cl->over; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 33 || c > 126 || c == '+' || c == '=')
			cl_add(cl, "+%02X", c);
		else
			cl_add(cl, "%c", c);
	}
}

/* MAIL FROM:<...> with the parameters the server offers. */
static void
mail_line(struct smtp_conn *s, int utf8, struct cmdline *cl)
{
	const struct smtp_mail *m = s->m;
	const struct smtp_caps *caps = &s->res->caps;

	cl_init(cl);
	cl_add(cl, "MAIL FROM:<%s>", m->sender);
	if ((caps->ext & SMTP_EXT_SIZE) && m->msg != NULL)
		cl_add(cl, " SIZE=%lld", (long long)msg_size(m->msg));
	if (m->msg != NULL && msg_is_8bit(m->msg) &&
	    (caps->ext & SMTP_EXT_8BITMIME))
		cl_add(cl, " BODY=8BITMIME");
	if (utf8)
		cl_add(cl, " SMTPUTF8");
	if ((caps->ext & SMTP_EXT_DSN) && m->dsn_ret != NULL)
		cl_add(cl, " RET=%s", strcasecmp(m->dsn_ret, "full") == 0 ?
		    "FULL" : "HDRS");
	if ((caps->ext & SMTP_EXT_DSN) && m->dsn_envid != NULL) {
		cl_add(cl, " ENVID=");
		xtext(cl, m->dsn_envid);
	}
}

static void
rcpt_line(struct smtp_conn *s, size_t i, struct cmdline *cl)
{
	const struct smtp_mail *m = s->m;

	cl_init(cl);
	cl_add(cl, "RCPT TO:<%s>", m->rcpt[i]);
	if ((s->res->caps.ext & SMTP_EXT_DSN) && m->dsn_notify != NULL)
		cl_add(cl, " NOTIFY=%s", m->dsn_notify);
}

/* Checks before the envelope: SMTPUTF8, SIZE, 8BITMIME, DSN. */
static int
pre_envelope(struct smtp_conn *s, int *utf8)
{
	const struct smtp_params *p = s->p;
	const struct smtp_mail *m = s->m;
	const struct smtp_caps *caps = &s->res->caps;
	int need = !is_ascii(m->sender);

	for (size_t i = 0; i < m->nrcpt && !need; i++)
		need = !is_ascii(m->rcpt[i]);
	*utf8 = need;
	s->res->phase = SMTP_PH_MAIL;
	if (need && !(caps->ext & SMTP_EXT_SMTPUTF8)) {
		/* RFC 6531 3.4: without SMTPUTF8 such an address cannot
		 * be sent; downgrading it is not ours to do. */
		fail_set(&s->res->fail, FAIL_DATA, "a non-ASCII address "
		    "needs SMTPUTF8, which the server does not offer");
		return -1;
	}
	/* RFC 1870 6: refuse early rather than send what will bounce. */
	if ((caps->ext & SMTP_EXT_SIZE) && caps->size > 0 && m->msg != NULL &&
	    (unsigned long long)msg_size(m->msg) > caps->size) {
		fail_set(&s->res->fail, FAIL_PERM, "message size %lld "
		    "exceeds the server's limit of %llu octets",
		    (long long)msg_size(m->msg), caps->size);
		return -1;
	}
	if (m->msg != NULL && msg_is_8bit(m->msg) &&
	    !(caps->ext & SMTP_EXT_8BITMIME) && p->on_warn != NULL)
		p->on_warn(p->cbarg, "8-bit message data sent to a server "
		    "without 8BITMIME");
	if ((m->dsn_notify || m->dsn_ret || m->dsn_envid) &&
	    !(caps->ext & SMTP_EXT_DSN) && p->on_warn != NULL)
		p->on_warn(p->cbarg, "the server does not offer DSN; "
		    "-N/-R/-V ignored");
	return 0;
}

/* An address for an error message: made safe, cut visibly. */
static const char *
show_addr(char *out, size_t cap, const char *a)
{
	size_t o = 0;

	out[0] = '\0';
	(void)show_raw(out, cap, &o, a, strlen(a));
	return out;
}

/*
 * Every line of the envelope is built and checked before anything of
 * the transaction is sent: an address with a control character (it
 * could end the line and inject a command; the front end refuses them,
 * the engine does not rely on it) or a line too long ends it with
 * nothing sent.  The MAIL line is left in *mail.
 */
static int
envelope_lines(struct smtp_conn *s, int utf8, struct cmdline *mail)
{
	const struct smtp_mail *m = s->m;
	struct cmdline line;
	char shown[80];

	s->res->phase = SMTP_PH_MAIL;
	if (has_ctl(m->sender) || (m->dsn_notify && has_ctl(m->dsn_notify))) {
		fail_set(&s->res->fail, FAIL_DATA, "control character in "
		    "the envelope: <%s>", show_addr(shown, sizeof(shown),
		    m->sender));
		return -1;
	}
	mail_line(s, utf8, mail);
	if (mail->over)
		return cl_over(s, SMTP_PH_MAIL, mail);
	for (size_t i = 0; i < m->nrcpt; i++) {
		s->res->phase = SMTP_PH_RCPT;
		if (has_ctl(m->rcpt[i])) {
			fail_set(&s->res->fail, FAIL_DATA, "control character "
			    "in the recipient <%s>", show_addr(shown,
			    sizeof(shown), m->rcpt[i]));
			return -1;
		}
		rcpt_line(s, i, &line);
		if (line.over)
			return cl_over(s, SMTP_PH_RCPT, &line);
	}
	return 0;
}

/* Judge a MAIL reply; -1 if it failed. */
static int
mail_judge(struct smtp_conn *s)
{
	char what[SMTP_CMD_MAX + 32];	/* the line fit SMTP_CMD_MAX */

	if (s->r.code >= 200 && s->r.code < 300)
		return 0;
	show_fmt(what, sizeof(what), "MAIL FROM:<%s> rejected",
	    s->m->sender);
	return refused(s, SMTP_PH_MAIL, "MAIL FROM", what);
}

/* The counter that holds recipients in state st, or NULL. */
static size_t *
state_count(struct smtp_result *res, enum smtp_rcpt_state st)
{
	switch (st) {
	case SMTP_RCPT_DELIVERED:
		return &res->ndelivered;
	case SMTP_RCPT_TEMPFAIL:
		return &res->ntemp;
	case SMTP_RCPT_PERMFAIL:
		return &res->nperm;
	case SMTP_RCPT_UNKNOWN:
		return &res->nunknown;
	default:
		return NULL;
	}
}

/* Move recipient i to state st; the counts follow. */
static void
set_state(struct smtp_result *res, size_t i, enum smtp_rcpt_state st)
{
	struct smtp_rcpt_result *rr = &res->rcpt[i];
	size_t *was = state_count(res, rr->state), *now = state_count(res, st);

	if (was != NULL)
		(*was)--;
	if (now != NULL)
		(*now)++;
	rr->state = st;
	rr->accepted = st == SMTP_RCPT_ACCEPTED ||
	    st == SMTP_RCPT_DELIVERED || st == SMTP_RCPT_UNKNOWN;
	res->nrefused = res->ntemp + res->nperm;
	res->delivered = res->ndelivered > 0;
}

/* Every recipient still in state from goes to state to. */
static void
set_states(struct smtp_result *res, enum smtp_rcpt_state from,
    enum smtp_rcpt_state to)
{
	for (size_t i = 0; i < res->nrcpt; i++)
		if (res->rcpt[i].state == from)
			set_state(res, i, to);
}

/* Keep s->r as recipient i's own reply, and judge it: 2xx is ok. */
static void
rcpt_reply(struct smtp_conn *s, size_t i, enum smtp_rcpt_state ok)
{
	struct smtp_rcpt_result *rr = &s->res->rcpt[i];
	char text[1024];	/* one reply on one line, cut visibly */

	rr->code = s->r.code;
	memcpy(rr->enh, s->r.enh, sizeof(rr->enh));
	smtp_reply_text(&s->r, text, sizeof(text));
	free(rr->text);
	rr->text = xstrdup(text);
	set_state(s->res, i, s->r.code < 300 ? ok : s->r.code < 500 ?
	    SMTP_RCPT_TEMPFAIL : SMTP_RCPT_PERMFAIL);
}

/* Record a RCPT reply; -1 only for a protocol error. */
static int
rcpt_judge(struct smtp_conn *s, size_t i)
{
	if (s->r.code >= 300 && s->r.code < 400) {
		s->res->phase = SMTP_PH_RCPT;
		fail_reply(s, FAIL_PROTOCOL, "unexpected reply to "
		    "RCPT TO:<%s>", s->m->rcpt[i]);
		return -1;
	}
	if (s->r.code < 300)
		s->res->naccepted++;
	rcpt_reply(s, i, SMTP_RCPT_ACCEPTED);
	return 0;
}

/* After the envelope: may we go on to the data? */
static int
envelope_verdict(struct smtp_conn *s)
{
	struct smtp_result *res = s->res;
	enum fail_class cls = res->nperm > 0 ? FAIL_RCPT : FAIL_TEMP;

	if (res->nrefused == 0)
		return 0;
	res->phase = SMTP_PH_RCPT;
	if (res->naccepted == 0) {
		fail_set(&res->fail, cls, "no recipient accepted");
		return -1;
	}
	if (!s->p->allow_partial) {
		fail_set(&res->fail, cls, "message not sent to anyone: %zu of "
		    "%zu recipients refused", res->nrefused, s->m->nrcpt);
		fail_hint(&res->fail, HINT_ALLOW_PARTIAL);
		return -1;
	}
	return 0;
}

static int
data_judge(struct smtp_conn *s)
{
	if (s->r.code == 354)
		return 0;
	return refused(s, SMTP_PH_DATA, "DATA", "DATA rejected");
}

/*
 * The server said 354 but we will not send the message (a recipient
 * was refused, all-or-nothing): the only way out of the data state
 * that delivers nothing is to drop the connection (a lone "." would
 * deliver an empty message to the accepted recipients).
 */
static void
abandon_data(struct smtp_conn *s)
{
	s->closed = 1;
}

static int
envelope_sequential(struct smtp_conn *s, struct cmdline *mail)
{
	if (cl_send(s, SMTP_PH_MAIL, mail) == -1 ||
	    reply_read(s, SMTP_PH_MAIL, "MAIL FROM") == -1 ||
	    mail_judge(s) == -1)
		return -1;
	for (size_t i = 0; i < s->m->nrcpt; i++) {
		struct cmdline line;

		rcpt_line(s, i, &line);
		if (cl_send(s, SMTP_PH_RCPT, &line) == -1 ||
		    reply_read(s, SMTP_PH_RCPT, "RCPT TO") == -1 ||
		    rcpt_judge(s, i) == -1)
			return -1;
	}
	if (envelope_verdict(s) == -1)
		return -1;
	if (cmd_send(s, SMTP_PH_DATA, "DATA") == -1 ||
	    reply_read(s, SMTP_PH_DATA, "DATA") == -1)
		return -1;
	return data_judge(s);
}

/* Append a line to a pipelined batch. */
static int
batch_add(struct smtp_conn *s, char **buf, size_t *len, size_t *cap,
    const char *line)
{
	size_t n = strlen(line);

	if (*len + n + 2 > *cap) {
		*cap = (*len + n + 2) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	if (s->p->on_send != NULL)
		s->p->on_send(s->p->cbarg, line, n);
	memcpy(*buf + *len, line, n);
	memcpy(*buf + *len + n, "\r\n", 2);
	*len += n + 2;
	return 0;
}

static int
batch_write(struct smtp_conn *s, char *buf, size_t len, enum smtp_phase ph)
{
	if (unasked(s, ph, smtp_phase_names[ph]) == -1)
		return -1;
	return put_lines(s, ph, smtp_phase_names[ph], buf, len);
}

/*
 * RFC 2920: MAIL, the RCPTs and DATA go in as few writes as possible
 * (batches of RCPT_BATCH), replies are read and matched in order.
 * Every reply is read even after a failure, so that each refused
 * recipient can be named and the stream stays in step.
 */
static int
envelope_pipelined(struct smtp_conn *s, const struct cmdline *mail)
{
	const struct smtp_mail *m = s->m;
	struct cmdline line;
	char *buf = NULL;
	size_t len = 0, cap = 0, next = 0;
	int mailfail = 0, rc = -1;

	batch_add(s, &buf, &len, &cap, mail->s);
	do {
		size_t first = next, stop = next + RCPT_BATCH;
		int last;

		if (stop > m->nrcpt)
			stop = m->nrcpt;
		for (; next < stop; next++) {
			rcpt_line(s, next, &line);
			batch_add(s, &buf, &len, &cap, line.s);
		}
		last = next == m->nrcpt;
		if (last)
			batch_add(s, &buf, &len, &cap, "DATA");
		if (batch_write(s, buf, len, first == 0 ? SMTP_PH_MAIL :
		    SMTP_PH_RCPT) == -1)
			goto out;
		len = 0;
		if (first == 0) {
			if (reply_read(s, SMTP_PH_MAIL, "MAIL FROM") == -1)
				goto out;
			mailfail = mail_judge(s) == -1;
			if (mailfail && s->res->fail.cls == FAIL_PROTOCOL)
				goto out;
		}
		for (size_t i = first; i < next; i++)
			if (reply_read(s, SMTP_PH_RCPT, "RCPT TO") == -1 ||
			    (!mailfail && rcpt_judge(s, i) == -1))
				goto out;
		if (mailfail && !last)
			goto out;	/* in step: no DATA was sent */
		if (last) {
			if (reply_read(s, SMTP_PH_DATA, "DATA") == -1)
				goto out;
			if (mailfail || envelope_verdict(s) == -1) {
				if (s->r.code == 354)
					abandon_data(s);
				goto out;
			}
			rc = data_judge(s);
		}
	} while (next < m->nrcpt);
out:
	free(buf);
	return rc;
}

static int
do_envelope(struct smtp_conn *s)
{
	struct cmdline mail;
	int utf8;

	if (pre_envelope(s, &utf8) == -1 || envelope_lines(s, utf8, &mail)
	    == -1)
		return -1;
	if (s->res->caps.ext & SMTP_EXT_PIPELINING)
		return envelope_pipelined(s, &mail);
	return envelope_sequential(s, &mail);
}

size_t
smtp_dotstuff(int *bol, const char *in, size_t inlen, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < inlen; i++) {
		/* RFC 5321 4.5.2: a line starting with "." gets another. */
		if (*bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		*bol = in[i] == '\n';
	}
	return o;
}

/*
 * SPEC "Exit codes": a reply that arrives while we still send the data
 * is out of protocol (76), and the message is never reported
 * delivered.  The final "." is not sent (it would complete a message
 * the server already answered, perhaps a cut one) and the link is
 * dropped without QUIT.  Checked before every block and before the
 * dot, and when a write fails (a server that answers and closes).
 */
static int
early_reply(struct smtp_conn *s)
{
	struct fail *f = &s->res->fail;
	int got;

	if (!conn_has_input(s->c))
		return 0;
	got = reply_get(s, SMTP_PH_BODY, now_ms() + EARLY_WAIT * 1000,
	    "the reply") == 0;
	if (got && s->p->on_reply != NULL)
		s->p->on_reply(s->p->cbarg, SMTP_PH_BODY, &s->r);
	s->closed = 1;
	s->res->phase = SMTP_PH_BODY;
	fail_reset(f);
	if (got)
		fail_reply(s, FAIL_PROTOCOL, "protocol error: the server "
		    "replied before the end of the data; the message was not "
		    "completed");
	else
		fail_set(f, FAIL_PROTOCOL, "protocol error: the server sent "
		    "data before the end of the data; the message was not "
		    "completed");
	return -1;
}

/* Write message data; what names it when the link fails. */
static int
put_data(struct smtp_conn *s, const char *buf, size_t len, const char *what)
{
	enum conn_status st;

	if (early_reply(s) == -1)
		return -1;
	st = conn_write(s->c, buf, len, deadline_for(s, SMTP_PH_BODY));
	if (st == CONN_OK)
		return 0;
	if (st != CONN_TLSERR && early_reply(s) == -1)
		return -1;
	s->closed = 1;
	if (st == CONN_TLSERR) {
		fail_set(&s->res->fail, FAIL_TLS, "TLS failure while sending "
		    "%s: %s; it was not delivered", what, conn_error(s->c));
		fail_hint(&s->res->fail, conn_hint(s->c));
	} else
		fail_set(&s->res->fail, FAIL_TEMP, "connection %s while "
		    "sending %s; it was not delivered", st == CONN_TIMEOUT ?
		    "timed out" : "lost", what);
	return -1;
}

/* Stream the message, dot-stuffed, then the final ".". */
static int
do_body(struct smtp_conn *s)
{
	struct fail *f = &s->res->fail;
	ssize_t n;
	int bol = 1;

	s->res->phase = SMTP_PH_BODY;
	if (s->in == NULL) {
		s->in = xmalloc(DATA_CHUNK);
		s->out = xmalloc(2 * DATA_CHUNK);	/* every byte a dot */
	}
	if (msg_rewind(s->m->msg, f) == -1) {
		abandon_data(s);
		return -1;
	}
	while ((n = msg_read(s->m->msg, s->in, DATA_CHUNK, f)) > 0) {
		size_t o = smtp_dotstuff(&bol, s->in, (size_t)n, s->out);

		if (put_data(s, s->out, o, "the message") == -1)
			return -1;
	}
	if (n < 0) {
		/* a local read error: never let a partial message be
		 * completed by a final dot */
		abandon_data(s);
		return -1;
	}
	if (s->p->on_send != NULL) {
		char note[64];	/* 24 + 20 digits of a long long */
		int k = snprintf(note, sizeof(note), "<message data, %lld "
		    "octets>", (long long)msg_size(s->m->msg));
		s->p->on_send(s->p->cbarg, note, (size_t)k);
		s->p->on_send(s->p->cbarg, ".", 1);
	}
	return put_data(s, ".\r\n", 3, "the end of the message");
}

/* SMTP's one final reply: 2xx delivered, else the failure. */
static int
final_judge(struct smtp_conn *s)
{
	if (s->r.code >= 200 && s->r.code < 300)
		return 0;
	if (s->r.code >= 400)
		fail_reply(s, s->r.code >= 500 ? FAIL_PERM : FAIL_TEMP,
		    "message refused");
	else {
		s->res->maybe_delivered = 1;
		fail_reply(s, FAIL_PROTOCOL, "unexpected reply to the end "
		    "of data");
	}
	return -1;
}

static int
read_final(struct smtp_conn *s)
{
	if (reply_read(s, SMTP_PH_DOT, ".") == 0)
		return 0;
	/* Anything but a clear refusal after the dot leaves the fate of
	 * the message unknown (qmail's "possible duplicate"). */
	if (s->r.code != 421) {
		s->res->maybe_delivered = 1;
		fail_add(&s->res->fail, "; the message may have been "
		    "delivered");
	}
	return -1;
}

static int
final_smtp(struct smtp_conn *s)
{
	struct smtp_result *res = s->res;

	if (read_final(s) == 0) {
		smtp_reply_text(&s->r, res->final, sizeof(res->final));
		if (final_judge(s) == 0) {
			set_states(res, SMTP_RCPT_ACCEPTED,
			    SMTP_RCPT_DELIVERED);
			return 0;
		}
	}
	if (res->maybe_delivered)
		set_states(res, SMTP_RCPT_ACCEPTED, SMTP_RCPT_UNKNOWN);
	return -1;
}

/*
 * LMTP stopped answering part way (link lost, 421, out of protocol):
 * those answered keep their state; the others are UNKNOWN, or TEMPFAIL
 * after a 421 (the server said it is closing).  The message says how
 * many got it.
 */
static int
lmtp_cut_off(struct smtp_conn *s)
{
	struct smtp_result *res = s->res;
	char note[128];		/* three counts */

	if (res->maybe_delivered)
		set_states(res, SMTP_RCPT_ACCEPTED, SMTP_RCPT_UNKNOWN);
	else
		for (size_t i = 0; i < res->nrcpt; i++)
			if (res->rcpt[i].state == SMTP_RCPT_ACCEPTED) {
				rcpt_reply(s, i, SMTP_RCPT_TEMPFAIL);
				res->rcpt[i].after_data = 1;
			}
	if (res->ndelivered > 0) {
		snprintf(note, sizeof(note), " (delivered to %zu of %zu "
		    "recipients before that%s)", res->ndelivered, res->nrcpt,
		    res->nunknown > 0 ? ", unknown for the rest" : "");
		fail_add(&res->fail, note);
	}
	return -1;
}

/*
 * RFC 2033 4.2: one reply per accepted recipient, in order.  The
 * message is delivered to each that says 2xx, whatever the others say:
 * a partial delivery, reported like --allow-partial.
 */
static int
final_lmtp(struct smtp_conn *s)
{
	struct smtp_result *res = s->res;

	for (size_t i = 0; i < res->nrcpt; i++) {
		struct smtp_rcpt_result *rr = &res->rcpt[i];

		if (rr->state != SMTP_RCPT_ACCEPTED)
			continue;
		if (read_final(s) == -1)
			return lmtp_cut_off(s);
		if (s->r.code >= 300 && s->r.code < 400) {
			res->maybe_delivered = 1;
			fail_reply(s, FAIL_PROTOCOL, "unexpected reply to the "
			    "end of data for <%s>", rr->addr);
			return lmtp_cut_off(s);
		}
		rcpt_reply(s, i, SMTP_RCPT_DELIVERED);
		rr->after_data = rr->state != SMTP_RCPT_DELIVERED;
		if (rr->state == SMTP_RCPT_DELIVERED)
			smtp_reply_text(&s->r, res->final, sizeof(res->final));
	}
	if (res->ndelivered > 0)
		return 0;
	fail_set(&res->fail, res->nperm > 0 ? FAIL_RCPT : FAIL_TEMP,
	    "message refused after the data for every recipient");
	return -1;
}

static int
do_final(struct smtp_conn *s)
{
	s->res->phase = SMTP_PH_DOT;
	if (s->p->proto == SMTP_PROTO_SMTP)
		return final_smtp(s);
	return final_lmtp(s);
}

static void
do_quit(struct smtp_conn *s)
{
	if (s->closed || s->c == NULL)
		return;
	/* Failures here change nothing: the outcome is already known. */
	struct fail saved = s->res->fail;

	fail_reset(&s->res->fail);
	if (cmd_send(s, SMTP_PH_QUIT, "QUIT") == 0)
		(void)reply_read(s, SMTP_PH_QUIT, "QUIT");
	s->res->fail = saved;
}

/* A fresh result for mail (NULL: none, the connection's own). */
static void
res_init(struct smtp_result *res, const struct smtp_mail *m)
{
	size_t n = m != NULL ? m->nrcpt : 0;

	memset(res, 0, sizeof(*res));
	res->rcpt = xcalloc(n ? n : 1, sizeof(*res->rcpt));
	res->nrcpt = n;
	for (size_t i = 0; i < n; i++)
		res->rcpt[i].addr = m->rcpt[i];
}

/* QUIT (unless the link is gone or out of step) and free. */
void
smtp_close(struct smtp_conn *s)
{
	struct smtp_result scratch;

	if (s == NULL)
		return;
	memset(&scratch, 0, sizeof(scratch));
	s->res = &scratch;
	do_quit(s);
	conn_close(s->c);
	free(s->in);
	free(s->out);
	free(s);
}

/*
 * Connect, greeting, EHLO, STARTTLS, then AUTH unless this is the
 * --serverinfo probe.  NULL on failure (res says why).
 */
static struct smtp_conn *
conn_setup(const struct smtp_params *p, struct smtp_result *res, int probe)
{
	struct smtp_conn *s = xcalloc(1, sizeof(*s));

	res_init(res, NULL);
	s->p = p;
	s->res = res;
	res->phase = SMTP_PH_CONNECT;
	s->c = conn_open(p->host, p->port, p->source_ip,
	    deadline_for(s, SMTP_PH_CONNECT), &res->fail);
	if (s->c == NULL) {
		free(s);
		return NULL;
	}
	if (p->tls == SMTP_TLS_IMPLICIT) {
		/* RFC 8314 3.3: TLS first, then the greeting inside it */
		res->phase = SMTP_PH_STARTTLS;
		if (conn_starttls(s->c, p->tlsopts, deadline_for(s,
		    SMTP_PH_STARTTLS), 1, &res->fail) == -1) {
			s->closed = 1;
			goto fail;
		}
		res->tls = 1;
		tls_info(s);
	}
	if (do_greeting(s) == -1 || do_hello(s) == -1 || do_tls(s) == -1)
		goto fail;
	if (!probe && do_auth(s) == -1)
		goto fail;
	s->caps = res->caps;
	s->tls = res->tls;
	s->res = NULL;		/* res is the caller's, done with here */
	return s;
fail:
	if (res->fail.cls == FAIL_PROTOCOL)
		s->closed = 1;	/* out of step: QUIT could be misread */
	smtp_close(s);
	return NULL;
}

struct smtp_conn *
smtp_open(const struct smtp_params *p, struct smtp_result *res)
{
	return conn_setup(p, res, 0);
}

/* RFC 5321 4.1.1.5: RSET before a further transaction. */
static int
do_rset(struct smtp_conn *s)
{
	if (cmd_send(s, SMTP_PH_MAIL, "RSET") == -1 ||
	    reply_read(s, SMTP_PH_MAIL, "RSET") == -1)
		return -1;
	if (s->r.code == 250)
		return 0;
	s->broken = 1;
	fail_reply(s, s->r.code >= 500 ? FAIL_PERM : FAIL_TEMP,
	    "RSET refused");
	return -1;
}

int
smtp_send(struct smtp_conn *s, const struct smtp_mail *m,
    struct smtp_result *res)
{
	int rc = -1;

	res_init(res, m);
	res->caps = s->caps;
	res->tls = s->tls;
	s->m = m;
	s->res = res;
	if (s->closed || s->broken) {
		fail_set(&res->fail, FAIL_TEMP, "connection no longer usable");
		goto out;
	}
	if (s->used && do_rset(s) == -1)
		goto out;
	s->used = 1;
	if (do_envelope(s) == -1 || do_body(s) == -1 || do_final(s) == -1)
		goto out;
	rc = 0;
out:
	if (res->fail.cls == FAIL_PROTOCOL)
		s->closed = 1;
	/* m and res belong to the caller's message: forget them */
	s->m = NULL;
	s->res = NULL;
	return rc;
}

int
smtp_alive(const struct smtp_conn *s)
{
	return !s->closed && !s->broken;
}

int
smtp_session(const struct smtp_params *p, const struct smtp_mail *m,
    struct smtp_result *res)
{
	struct smtp_conn *s = conn_setup(p, res, m == NULL);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (m != NULL) {
		smtp_result_free(res);	/* smtp_send starts a new one */
		rc = smtp_send(s, m, res);
	}
	smtp_close(s);
	return rc;
}

void
smtp_result_free(struct smtp_result *res)
{
	if (res->rcpt == NULL)
		return;
	for (size_t i = 0; i < res->nrcpt; i++)
		free(res->rcpt[i].text);
	free(res->rcpt);
	res->rcpt = NULL;
}
