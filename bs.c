/*
 * bs.c - the server side of "sendmail -bs" (RFC 5321; PIPELINING RFC
 * 2920, SIZE RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, enhanced
 * status codes RFC 2034/3463).  See bs.h for the contract.
 *
 * Blocking and straight-line: read a command line, answer it, repeat.
 * Replies wait in an output buffer that is flushed just before the
 * server would block on input, which is all RFC 2920 3.2 asks of a
 * pipelining server.  The message is streamed to an unlinked temporary
 * file through a small state machine that finds the final "." and
 * removes the stuffing dots, so memory stays constant.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "bs.h"

/* Input is read in blocks of this size; a whole command line
 * (BS_LINE_MAX) always fits, with room for pipelined ones after it. */
#define IBUF		(16 * 1024)
/* Replies wait here until the server needs input; a full buffer is
 * flushed early (1000 pipelined RCPT replies are about 16 KiB). */
#define OBUF		(8 * 1024)
/* Message data goes to the temporary file in blocks of this size. */
#define FBUF		(64 * 1024)
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets. */
/* How much of a client's word a reply quotes: a parameter name
 * (RFC 5321 4.1.2 esmtp-keyword) is short; more is cut with "...". */
#define QUOTE_MAX	64
/* RFC 1870 4: the SIZE value is 1*20DIGIT. */
#define SIZE_DIGITS	20

/* A full disk or quota: 452 4.3.1 (RFC 3463), else 451 4.3.0. */
#ifdef EDQUOT
#define EDQUOT_		EDQUOT
#else
#define EDQUOT_		ENOSPC
#endif

enum { LN_EOF = 0, LN_OK = 1, LN_LONG = 2 };

struct bs {
	int		 in, out;
	char		 host[256];	/* RFC 1035 2.3.4: names <= 255 */
	bs_relay_fn	 relay;
	void		*arg;
	int		 eof;		/* input ended */
	int		 quit;		/* QUIT answered */
	const char	*errwhat;	/* I/O error: where, and errno */
	int		 err;
	/* the transaction (RFC 5321 3.3) */
	int		 mail;		/* MAIL accepted */
	char		*sender;
	struct strv	 rcpts;
	/* the message being received */
	int		 fd;
	size_t		 fn;
	int		 ferr;		/* first write error on fd */
	size_t		 ipos, ilen, olen;
	char		 ibuf[IBUF];
	char		 obuf[OBUF];
	char		 fbuf[FBUF];
};

struct cmd {
	const char	*verb;
	int		(*fn)(struct bs *, char *);
};

/*
 * Where data_read() is in the message.  RFC 5321 4.1.1.4: the end is
 * <CRLF>.<CRLF>, the first CRLF ending the previous line (or the DATA
 * command).  Lines are what LF ends (a lone CR is data, as in Postfix);
 * crlf says whether the current line's start followed a CRLF, so that
 * a "." line with a bare LF before or after it is data, never the end:
 * a client that passes "\n.\r\n" from a web form through could
 * otherwise end the message early and smuggle SMTP commands after it.
 */
enum { D_BOL, D_MID, D_DOT, D_DOTCR };

struct dstate {
	int	 st;
	int	 crlf;		/* this line started after CRLF */
	int	 lastcr;	/* D_MID: the last octet stored was CR */
};

static int	 io_wait(int, short);
static int	 out_all(int, const char *, size_t);
static int	 out_flush(struct bs *);
static int	 fill(struct bs *);
static int	 skip_line(struct bs *);
static int	 read_line(struct bs *, char **, size_t *);
static int	 reply(struct bs *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 tx_reset(struct bs *);
static void	 file_flush(struct bs *);
static void	 file_put(struct bs *, const char *, size_t);
static size_t	 data_step(struct bs *, struct dstate *, const char *,
		    const char *);
static int	 data_read(struct bs *);
static const char *path_check(const char *, int, char *, size_t);
static char	*path_parse(char *, const char *, char **);
static int	 enh_ok(int, const char *);
static int	 send_verdict(struct bs *, char *);
static int	 relay_message(struct bs *);
static int	 mail_params(struct bs *, char *);
static int	 cmd_helo(struct bs *, char *);
static int	 cmd_ehlo(struct bs *, char *);
static int	 cmd_mail(struct bs *, char *);
static int	 cmd_rcpt(struct bs *, char *);
static int	 cmd_data(struct bs *, char *);
static int	 cmd_rset(struct bs *, char *);
static int	 cmd_noop(struct bs *, char *);
static int	 cmd_quit(struct bs *, char *);
static int	 cmd_vrfy(struct bs *, char *);
static int	 cmd_help(struct bs *, char *);
static int	 cmd_notimpl(struct bs *, char *);
static int	 dispatch(struct bs *, char *, size_t);

static const struct cmd cmds[] = {
	{ "HELO", cmd_helo },
	{ "EHLO", cmd_ehlo },
	{ "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },
	{ "RSET", cmd_rset },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy },
	{ "HELP", cmd_help },
	/* Known commands we do not offer: 502, not 500 (RFC 5321 4.2.4). */
	{ "EXPN", cmd_notimpl },
	{ "STARTTLS", cmd_notimpl },
	{ "AUTH", cmd_notimpl },
	{ "BDAT", cmd_notimpl },
	{ "ETRN", cmd_notimpl },
	{ "TURN", cmd_notimpl },
	{ "ATRN", cmd_notimpl },
	{ "SEND", cmd_notimpl },
	{ "SOML", cmd_notimpl },
	{ "SAML", cmd_notimpl },
};

/* ---- I/O ---- */

/* A descriptor left non-blocking by the parent: wait, do not spin. */
static int
io_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, -1) == -1)
		if (errno != EINTR || util_signal != 0)
			return -1;
	return 0;
}

/* write all of it to a descriptor that may be non-blocking */
static int
out_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    io_wait(fd, POLLOUT) == 0)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
out_flush(struct bs *b)
{
	if (b->olen == 0)
		return 0;
	if (out_all(b->out, b->obuf, b->olen) == -1) {
		b->errwhat = "writing to the SMTP client";
		b->err = errno;
		return -1;
	}
	b->olen = 0;
	return 0;
}

/*
 * More input after what is buffered: 1, 0 at end of input, -1 on
 * error.  Pending replies go out first: the client may be waiting for
 * them before it sends more (RFC 2920 3.2).
 */
static int
fill(struct bs *b)
{
	ssize_t n;

	if (b->eof)
		return 0;
	if (out_flush(b) == -1)
		return -1;
	if (b->ipos > 0) {
		memmove(b->ibuf, b->ibuf + b->ipos, b->ilen - b->ipos);
		b->ilen -= b->ipos;
		b->ipos = 0;
	}
	for (;;) {
		n = read(b->in, b->ibuf + b->ilen, IBUF - b->ilen);
		if (n >= 0)
			break;
		if (errno == EINTR && util_signal != 0) {
			/* SIGTERM and friends: end the session (421); an
			 * unfinished DATA is not relayed, the client
			 * still has it */
			b->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    io_wait(b->in, POLLIN) == 0)
			continue;
		b->errwhat = "reading from the SMTP client";
		b->err = errno;
		return -1;
	}
	if (n == 0) {
		b->eof = 1;
		return 0;
	}
	b->ilen += (size_t)n;
	return 1;
}

/* Drop the rest of an overlong line, in constant memory. */
static int
skip_line(struct bs *b)
{
	char *lf;
	int r;

	for (;;) {
		lf = memchr(b->ibuf + b->ipos, '\n', b->ilen - b->ipos);
		if (lf != NULL) {
			b->ipos = (size_t)(lf - b->ibuf) + 1;
			return LN_LONG;
		}
		b->ipos = b->ilen;
		if ((r = fill(b)) <= 0)
			return r;
	}
}

/*
 * The next command line, ended by LF (CRLF or LF: the client is
 * local), without its line end and trailing blanks, NUL-terminated in
 * place (a NUL inside is the caller's to refuse, hence *lenp): valid
 * until the next read.  Returns LN_OK, LN_LONG (a line of
 * more than BS_LINE_MAX octets was dropped), LN_EOF (a partial line at
 * end of input is dropped too), or -1.
 */
static int
read_line(struct bs *b, char **linep, size_t *lenp)
{
	char *line, *lf;
	size_t seen = 0, len;
	int r;

	for (;;) {
		lf = memchr(b->ibuf + b->ipos + seen, '\n',
		    b->ilen - b->ipos - seen);
		if (lf != NULL)
			break;
		seen = b->ilen - b->ipos;
		if (seen >= BS_LINE_MAX)
			return skip_line(b);
		if ((r = fill(b)) <= 0)
			return r;
	}
	line = b->ibuf + b->ipos;
	len = (size_t)(lf - line);
	b->ipos += len + 1;
	if (len + 1 > BS_LINE_MAX)
		return LN_LONG;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	line[len] = '\0';
	*linep = line;
	*lenp = len;
	return LN_OK;
}

/*
 * One reply line, CRLF added.  Every reply fits: the relay's verdict
 * is at most BS_REPLY_MAX - 1 octets plus a code and an enhanced code,
 * text quoted from the client is cut to QUOTE_MAX; anything longer
 * would be a bug, and is cut visibly ("...") rather than silently.
 */
static int
reply(struct bs *b, const char *fmt, ...)
{
	char line[BS_REPLY_MAX + 64];
	size_t cap = sizeof(line) - 2;
	va_list ap;
	int r;
	size_t n;

	va_start(ap, fmt);
	r = vsnprintf(line, cap, fmt, ap);
	va_end(ap);
	n = r < 0 ? 0 : (size_t)r;
	if (n >= cap) {
		n = cap - 4;
		while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
			n--;
		memcpy(line + n, "...", 3);
		n += 3;
	}
	line[n++] = '\r';
	line[n++] = '\n';
	if (b->olen + n > OBUF && out_flush(b) == -1)
		return -1;
	memcpy(b->obuf + b->olen, line, n);
	b->olen += n;
	return 0;
}

/* ---- the message ---- */

static void
tx_reset(struct bs *b)
{
	free(b->sender);
	b->sender = NULL;
	strv_free(&b->rcpts);
	b->mail = 0;
}

static void
file_flush(struct bs *b)
{
	if (b->fn > 0 && b->ferr == 0 &&
	    write_all(b->fd, b->fbuf, b->fn) == -1)
		b->ferr = errno;
	b->fn = 0;
}

/* After a write error the rest is still read (to find the final dot)
 * but dropped; the client then gets 451/452. */
static void
file_put(struct bs *b, const char *p, size_t n)
{
	if (b->ferr != 0)
		return;
	if (b->fn + n > FBUF)
		file_flush(b);
	if (n >= FBUF) {
		if (b->ferr == 0 && write_all(b->fd, p, n) == -1)
			b->ferr = errno;
		return;
	}
	memcpy(b->fbuf + b->fn, p, n);
	b->fn += n;
}

/* data_step(): the final <CRLF>.<CRLF> is complete. */
#define DATA_END	((size_t)-1)

/*
 * One step at p (p < end); returns the octets consumed (0: a change of
 * state only), or DATA_END at the LF of the final ".\r\n".
 * Unstuffing (RFC 5321 4.5.2) applies to every line, whatever ended
 * the previous one: ".x" is "x".  A "." that is not stuffing and not
 * the end -- followed by a bare LF, a bare CR, or CRLF after a line
 * ended by a bare LF -- is kept with what follows it: the relay path
 * makes its line ends CRLF and stuffs it, so it arrives as "..".
 */
static size_t
data_step(struct bs *b, struct dstate *d, const char *p, const char *end)
{
	const char *lf;

	switch (d->st) {
	case D_BOL:
		d->lastcr = 0;
		d->st = *p == '.' ? D_DOT : D_MID;
		return *p == '.' ? 1 : 0;
	case D_MID:
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			file_put(b, p, (size_t)(end - p));
			d->lastcr = end[-1] == '\r';
			return (size_t)(end - p);
		}
		file_put(b, p, (size_t)(lf + 1 - p));
		d->crlf = lf > p ? lf[-1] == '\r' : d->lastcr;
		d->st = D_BOL;
		return (size_t)(lf + 1 - p);
	case D_DOT:
		if (*p == '\r') {
			d->st = D_DOTCR;
			return 1;
		}
		if (*p == '\n') {
			file_put(b, ".\n", 2);
			d->crlf = 0;
			d->st = D_BOL;
			return 1;
		}
		d->st = D_MID;		/* the stuffing dot is dropped */
		return 0;
	default:			/* D_DOTCR */
		if (*p == '\n' && d->crlf)
			return DATA_END;	/* <CRLF>.<CRLF> */
		file_put(b, ".\r", 2);
		d->lastcr = 1;
		d->st = D_MID;
		return 0;
	}
}

/*
 * The message after 354, up to <CRLF>.<CRLF>, into b->fd: dots
 * unstuffed, everything else kept byte for byte, line ends included
 * (see data_step).  Returns 1 at the final dot, 0 at end of input (the
 * message is incomplete), -1 on a read error.  The state carries across
 * buffer refills.
 */
static int
data_read(struct bs *b)
{
	struct dstate d = { D_BOL, 1, 0 };
	const char *p, *end;
	size_t k;
	int r;

	for (;;) {
		if (b->ipos == b->ilen && (r = fill(b)) <= 0)
			return r;
		p = b->ibuf + b->ipos;
		end = b->ibuf + b->ilen;
		while (p < end) {
			if ((k = data_step(b, &d, p, end)) == DATA_END) {
				b->ipos = (size_t)(p + 1 - b->ibuf);
				return 1;
			}
			p += k;
		}
		b->ipos = b->ilen;
	}
}

/* ---- addresses ---- */

/*
 * RFC 5321 4.1.2 through the one address validator (addr.c); the
 * domain may be left out ("root", for the aliases and maildomain).
 * NULL, or the reason (in why) for the 501.
 */
static const char *
path_check(const char *a, int null_ok, char *why, size_t cap)
{
	struct fail f = { 0 };
	const char *r;

	if (addr_check(a, ADDR_LOCAL_OK | ADDR_POSTMASTER_OK |
	    (null_ok ? ADDR_NULL_OK : 0), null_ok ? "sender" : "recipient",
	    NULL, &f) == 0)
		return NULL;
	/* "invalid sender address "x": REASON": the client knows x */
	r = strstr(f.msg, "\": ");
	xstrlcpy(why, r != NULL ? r + 3 : f.msg, cap);
	return why;
}

/*
 * "FROM:<addr> params" / "TO:<addr> params": kw, optional blanks
 * (RFC 5321 has none; some clients send one), "<", the path, ">",
 * then nothing or SP and parameters.  Returns the path's mailbox
 * (source route dropped, RFC 5321 appendix C) NUL-terminated in place
 * and sets *params to the (possibly empty) parameters; NULL on bad
 * syntax.
 */
static char *
path_parse(char *s, const char *kw, char **params)
{
	size_t kwlen = strlen(kw);
	char *p, *q, *c;
	int quoted = 0;

	if (strncasecmp(s, kw, kwlen) != 0)
		return NULL;
	for (p = s + kwlen; *p == ' '; p++)
		;
	if (*p++ != '<')
		return NULL;
	for (q = p; *q != '\0'; q++) {
		if (quoted && *q == '\\' && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (!quoted && *q == '>')
			break;
	}
	if (*q != '>' || (q[1] != '\0' && q[1] != ' '))
		return NULL;
	*q++ = '\0';
	while (*q == ' ')
		q++;
	*params = q;
	if (*p == '@') {
		/* A-d-l ":" Mailbox */
		if ((c = strchr(p, ':')) == NULL)
			return NULL;
		p = c + 1;
	}
	return p;
}

/* ---- the relay's verdict ---- */

/* An RFC 3463 code matching the reply's class at the start of text. */
static int
enh_ok(int code, const char *t)
{
	size_t n;

	if (t[0] != '0' + code / 100 || t[1] != '.')
		return 0;
	t += 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; t[n] >= '0' && t[n] <= '9'; n++)
			;
		if (n < 1 || n > 3)
			return 0;
		t += n;
		if (part == 0 && *t++ != '.')
			return 0;
	}
	return *t == '\0' || *t == ' ';
}

/* The relay callback's reply, checked and made safe to send. */
static int
send_verdict(struct bs *b, char *r)
{
	char *t;
	int code;

	if (r[0] < '2' || r[0] > '5' || r[0] == '3' || r[1] < '0' ||
	    r[1] > '9' || r[2] < '0' || r[2] > '9' ||
	    (r[3] != '\0' && r[3] != ' '))
		return reply(b, "451 4.3.0 Error: no valid reply from the "
		    "relay");
	code = (r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0');
	/* 421 would tell the client that this session is closing; only
	 * the relay's was, the next message gets a new one. */
	if (code == 421)
		code = 451;
	t = r[3] == ' ' ? r + 4 : r + 3;
	for (char *p = t; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			*p = ' ';
	if (enh_ok(code, t))
		return reply(b, "%d %s", code, t);
	return reply(b, "%d %d.0.0%s%s", code, code / 100, *t ? " " : "", t);
}

static int
relay_message(struct bs *b)
{
	char r[BS_REPLY_MAX];

	if (lseek(b->fd, 0, SEEK_SET) == -1)
		return reply(b, "451 4.3.0 Error: temporary file: %s",
		    strerror(errno));
	/* Nothing should be pending, but the relay may take minutes. */
	if (out_flush(b) == -1)
		return -1;
	r[0] = '\0';
	b->relay(b->arg, b->sender, &b->rcpts, b->fd, r, sizeof(r));
	r[sizeof(r) - 1] = '\0';
	return send_verdict(b, r);
}

/* ---- commands ---- */

static int
cmd_helo(struct bs *b, char *args)
{
	if (*args == '\0')
		return reply(b, "501 5.5.4 Syntax: HELO hostname");
	tx_reset(b);
	return reply(b, "250 %s", b->host);
}

/* RFC 5321 4.1.4: EHLO also resets the transaction. */
static int
cmd_ehlo(struct bs *b, char *args)
{
	static const char *const ext[] = {
		"PIPELINING",
		"SIZE",			/* no fixed limit (RFC 1870) */
		"8BITMIME",		/* bytes are relayed as they are */
		"SMTPUTF8",		/* the engine asks upstream for it */
		"ENHANCEDSTATUSCODES",
		"HELP",
	};
	size_t i, n = sizeof(ext) / sizeof(ext[0]);

	if (*args == '\0')
		return reply(b, "501 5.5.4 Syntax: EHLO hostname");
	tx_reset(b);
	if (reply(b, "250-%s", b->host) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (reply(b, "250%c%s", i + 1 < n ? '-' : ' ', ext[i]) == -1)
			return -1;
	return 0;
}

/* MAIL parameters: the ones EHLO offered, checked; no others (RFC
 * 5321 4.1.1.11: 555). */
static int
mail_params(struct bs *b, char *p)
{
	char *kw, *val;

	while (*p != '\0') {
		kw = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
		while (*p == ' ')
			p++;
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(kw, "SIZE") == 0) {
			size_t d = val ? strspn(val, "0123456789") : 0;

			if (d == 0 || d > SIZE_DIGITS || val[d] != '\0')
				return reply(b, "501 5.5.4 Bad SIZE value");
		} else if (strcasecmp(kw, "BODY") == 0) {
			if (val == NULL || (strcasecmp(val, "7BIT") != 0 &&
			    strcasecmp(val, "8BITMIME") != 0))
				return reply(b, "555 5.5.4 Unsupported BODY "
				    "type");
		} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
			if (val != NULL)
				return reply(b, "501 5.5.4 SMTPUTF8 takes no "
				    "value");
		} else
			return reply(b, "555 5.5.4 Unsupported option: %.*s%s",
			    QUOTE_MAX, kw, strlen(kw) > QUOTE_MAX ? "..." : "");
	}
	return 1;
}

static int
cmd_mail(struct bs *b, char *args)
{
	char *addr, *params, buf[256];
	const char *why;
	int r;

	if (b->mail)
		return reply(b, "503 5.5.1 Error: nested MAIL command");
	if ((addr = path_parse(args, "FROM:", &params)) == NULL)
		return reply(b, "501 5.5.4 Syntax: MAIL FROM:<address>");
	if ((why = path_check(addr, 1, buf, sizeof(buf))) != NULL)
		return reply(b, "501 5.1.7 Bad sender address syntax: %s",
		    why);
	if ((r = mail_params(b, params)) != 1)
		return r;
	b->sender = xstrdup(addr);
	b->mail = 1;
	return reply(b, "250 2.1.0 Ok");
}

static int
cmd_rcpt(struct bs *b, char *args)
{
	char *addr, *params, buf[256];
	const char *why;

	if (!b->mail)
		return reply(b, "503 5.5.1 Error: need MAIL command");
	if ((addr = path_parse(args, "TO:", &params)) == NULL)
		return reply(b, "501 5.5.4 Syntax: RCPT TO:<address>");
	if ((why = path_check(addr, 0, buf, sizeof(buf))) != NULL)
		return reply(b, "501 5.1.3 Bad recipient address syntax: %s",
		    why);
	if (*params != '\0') {
		/* NOTIFY/ORCPT need DSN, which EHLO did not offer */
		params[strcspn(params, " =")] = '\0';
		return reply(b, "555 5.5.4 Unsupported option: %.*s%s",
		    QUOTE_MAX, params, strlen(params) > QUOTE_MAX ? "..." :
		    "");
	}
	if (!strv_has(&b->rcpts, addr)) {
		if (b->rcpts.n >= BS_RCPT_MAX)
			return reply(b, "452 4.5.3 Error: too many "
			    "recipients");
		strv_add(&b->rcpts, addr);
	}
	return reply(b, "250 2.1.5 Ok");
}

static int
cmd_data(struct bs *b, char *args)
{
	int r, err;

	if (*args != '\0')
		return reply(b, "501 5.5.4 Syntax: DATA");
	if (!b->mail)
		return reply(b, "503 5.5.1 Error: need MAIL command");
	/* RFC 5321 3.3 allows 503 or 554; 554 is what pipelining clients
	 * expect when every RCPT was refused (RFC 2920 3.1). */
	if (b->rcpts.n == 0)
		return reply(b, "554 5.5.1 Error: no valid recipients");
	if ((b->fd = tmp_file()) == -1)
		return reply(b, "451 4.3.0 Error: temporary file: %s",
		    strerror(errno));
	b->fn = 0;
	b->ferr = 0;
	if ((r = reply(b, "354 End data with <CR><LF>.<CR><LF>")) == 0 &&
	    (r = data_read(b)) == 1) {
		file_flush(b);
		if ((err = b->ferr) == 0)
			r = relay_message(b);
		else if (err == ENOSPC || err == EDQUOT_)
			r = reply(b, "452 4.3.1 Error: insufficient system "
			    "storage");
		else
			r = reply(b, "451 4.3.0 Error: temporary file: %s",
			    strerror(err));
		tx_reset(b);
	}
	close(b->fd);
	b->fd = -1;
	return r == -1 ? -1 : 0;
}

static int
cmd_rset(struct bs *b, char *args)
{
	if (*args != '\0')
		return reply(b, "501 5.5.4 Syntax: RSET");
	tx_reset(b);
	return reply(b, "250 2.0.0 Ok");
}

static int
cmd_noop(struct bs *b, char *args)
{
	(void)args;	/* RFC 5321 4.1.1.9: a string may follow */
	return reply(b, "250 2.0.0 Ok");
}

static int
cmd_quit(struct bs *b, char *args)
{
	(void)args;
	b->quit = 1;
	return reply(b, "221 2.0.0 Bye");
}

static int
cmd_vrfy(struct bs *b, char *args)
{
	if (*args == '\0')
		return reply(b, "501 5.5.4 Syntax: VRFY address");
	/* RFC 5321 3.5.3: 252 when we cannot tell */
	return reply(b, "252 2.0.0 Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

static int
cmd_help(struct bs *b, char *args)
{
	(void)args;
	return reply(b, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP");
}

static int
cmd_notimpl(struct bs *b, char *args)
{
	(void)args;
	return reply(b, "502 5.5.1 Error: command not implemented");
}

/* One command line: control bytes refused, verb case-insensitive. */
static int
dispatch(struct bs *b, char *line, size_t len)
{
	size_t vlen, i;
	char *args;

	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 32 || line[i] == 127)
			return reply(b, "501 5.5.2 Syntax error: control "
			    "character in command");
	vlen = strcspn(line, " ");
	for (args = line + vlen; *args == ' '; args++)
		;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strlen(cmds[i].verb) == vlen &&
		    strncasecmp(line, cmds[i].verb, vlen) == 0)
			return cmds[i].fn(b, args);
	/* RFC 5321 4.2.4: 500 for a command not recognised at all */
	return reply(b, "500 5.5.2 Error: command not recognized");
}

int
bs_serve(int infd, int outfd, const char *hostname, bs_relay_fn relay,
    void *arg, struct fail *f)
{
	struct bs *b = xcalloc(1, sizeof(*b));
	const unsigned char *h = (const unsigned char *)hostname;
	char *line = NULL;
	size_t len = 0;
	int r, rc = 0;

	b->in = infd;
	b->out = outfd;
	b->fd = -1;
	b->relay = relay;
	b->arg = arg;
	/* The name goes into replies: printable ASCII only. */
	if (h == NULL || *h == '\0' || strlen(hostname) >= sizeof(b->host))
		h = (const unsigned char *)"localhost";
	for (const unsigned char *p = h; *p != '\0'; p++)
		if (*p <= 32 || *p >= 127)
			h = (const unsigned char *)"localhost";
	xstrlcpy(b->host, (const char *)h, sizeof(b->host));

	rc = reply(b, "220 %s ESMTP smtpsend", b->host);
	while (rc == 0 && !b->quit && util_signal == 0) {
		r = read_line(b, &line, &len);
		if (r == LN_EOF)
			break;
		if (r == -1)
			rc = -1;
		else if (r == LN_LONG)
			rc = reply(b, "500 5.5.2 Error: line too long");
		else
			rc = dispatch(b, line, len);
	}
	/* RFC 5321 3.8: a server that must stop says 421 first */
	if (rc == 0 && !b->quit && util_signal != 0)
		rc = reply(b, "421 4.3.2 %s shutting down", b->host);
	if (rc == 0 && out_flush(b) == -1 &&
	    !((b->quit || b->eof) && b->err == EPIPE))
		rc = -1;
	if (rc == -1)
		fail_set(f, FAIL_IO, "%s: %s", b->errwhat ? b->errwhat :
		    "SMTP session", strerror(b->err));
	tx_reset(b);
	free(b);
	return rc;
}
