/*
 * msg.c - the message: read once, scanned, then streamed to the wire.
 *
 * msg_load() makes one pass over the input.  A regular file is read in
 * place with pread(); anything else is copied, chunk by chunk, to an
 * unlinked temporary file as it is scanned, so that the body can be
 * read again later.  The scan keeps the header section (bounded by
 * MSG_HDR_MAX) and a few counters about the body; the body itself is
 * never held in memory.  From those counters msg_load() decides how
 * the body goes out (unchanged, quoted-printable, or with overlong
 * lines broken) and computes the exact output size.
 *
 * msg_read() then streams: the rewritten header section from memory,
 * the body through a small encoder from the file, one chunk at a time.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

/* RFC 5322 2.1.1 (and RFC 5321 4.5.3.1.6): at most 998 octets per line,
 * CRLF excluded. */
#define RFC_LINE_MAX	998
/* Input is read and scanned in chunks of this size: memory stays
 * constant whatever the size of the message. */
#define CHUNK		(64 * 1024)
/* Output staging buffer for the body encoders. */
#define OUTSZ		(64 * 1024)
/* Worst-case output of one input byte in the QP encoder: a soft break
 * (3) plus a held space (1), then a soft break (3) plus "=XX" (3). */
#define ENC_SLACK	16
/* RFC 2045 6.7 rule 5: encoded lines are at most 76 characters, the
 * soft line break's "=" included. */
#define QP_LINE		76
/* RFC 2047 2: an encoded-word is at most 75 characters; minus the 12 of
 * "=?UTF-8?B?" and "?=" that leaves 63, i.e. 15 base64 quads of 3 bytes. */
#define EW_BYTES	45
/* How much of an offending address an error message quotes: enough to
 * recognise it, short enough for one terminal line. */
#define EXCERPT		80
/* Random bytes in an added Message-ID: 128 bits make a collision
 * between two messages negligible. */
#define MSGID_RAND	16

/* Line states while in the header section. */
enum {
	LS_START,	/* nothing seen on this line yet */
	LS_NAME,	/* field-name characters */
	LS_WSP,		/* field-name then WSP (obs-optional, RFC 5322 4.5.3) */
	LS_FIELD,	/* a field: "name:" seen */
	LS_CONT		/* a continuation line of the previous field */
};

/* Where the scan is. */
enum { SC_HDR, SC_FROMLINE, SC_BODY };

/* How the body goes out. */
enum { BODY_PLAIN, BODY_BREAK, BODY_QP };

/* Output stream phases. */
enum { ST_HDR, ST_BODY, ST_DONE };

struct buf {
	char	*p;
	size_t	 len, cap;
};

/* One header field in hraw: its lines separated by '\n', no final '\n'. */
struct hfield {
	size_t	 off, len;
	size_t	 namelen;
	size_t	 voff;		/* the value: after the ':' */
};

struct stream {
	int	 phase;
	size_t	 hpos;		/* in hdr */
	off_t	 rpos;		/* body input consumed, from body_off */
	size_t	 ipos, ilen;	/* window in inbuf */
	size_t	 opos, olen;	/* window in outbuf */
	int	 crlf;		/* msg_crlf() state */
	int	 skiplf;	/* the last byte was a CR */
	size_t	 col;		/* octets on the current output line */
	int	 ws;		/* QP: a held SP or HTAB, or 0 */
	int	 any;		/* plain: some body output produced */
	int	 last;		/* plain: last body octet produced */
};

/*
 * An index over a strv of addresses, so that de-duplication is linear
 * in the number of recipients (40,000 To: addresses with -t took
 * seconds with a scan per address): open addressing on a hash of the
 * local part as is and the domain in lower case (same_addr()).
 */
struct aset {
	size_t	*slot;		/* index into the strv + 1; 0: empty */
	size_t	 cap;		/* a power of two, over twice n */
	size_t	 n;
};

struct msg {
	int		 fd;		/* dup of the input file, or a copy */
	int		 regular;	/* fd is the input file itself */
	off_t		 base;		/* offset of the input in fd */
	off_t		 inlen;
	off_t		 orig_off;	/* input after a dropped mbox From line */
	off_t		 body_off;

	struct buf	 hraw;		/* header lines as read, '\n' ends */
	struct hfield	*f;
	size_t		 nf, fcap;
	struct buf	 hdr;		/* the header section as output */

	int		 mode;
	off_t		 body_chars, body_eols, nbreaks;
	int		 body_open;
	size_t		 maxline;
	int		 body8;

	off_t		 size;
	int		 is8bit;
	struct strv	 rcpts;
	struct aset	 rset;		/* index over rcpts */
	char		*from;

	void		(*warn)(void *, const char *);
	void		*warnarg;
	int		 warned_fold, warned_hbreak, warned_break;

	struct stream	 st;
	char		 inbuf[CHUNK];
	char		 outbuf[OUTSZ];
};

struct scan {
	struct msg	*m;
	const char	*name;
	int		 mode;
	int		 ls;
	int		 skiplf;
	int		 first;		/* on the first line of the input */
	int		 pend_body;	/* body starts at the next octet */
	int		 pend_orig;	/* original starts at the next octet */
	off_t		 off;		/* offset of the current octet */
	off_t		 lstart;	/* offset of the current line */
	size_t		 lhoff;		/* the current line in hraw */
	size_t		 namelen;
	size_t		 colon;		/* ':' of the current field in hraw */
	size_t		 curlen;	/* body: octets on the current line */
};

/* mboxrd writer state. */
struct mbox {
	size_t	 gt, k;		/* '>'s, then octets of "From " matched */
	int	 bol;		/* still in the line's prefix */
	int	 skiplf;
	int	 open;		/* the output line has content */
};

static const char mbox_from[] = "From ";

/* Address tokens (RFC 5322 3.2). */
enum { TK_ATOM, TK_QSTR, TK_DLIT, TK_SPECIAL };

struct tok {
	int		 type;
	const char	*s;
	size_t		 len;
	int		 sp;		/* preceded by CFWS */
};

struct pctx {
	struct tok	*t;
	size_t		 n, cap;
	const char	*src;
	size_t		 srclen;
	struct strv	*out;
	struct aset	*set;		/* index over out */
	struct fail	*f;
	size_t		 count;		/* mailboxes seen */
	size_t		 groups;
	/* header qualification: the tokens that end a local part
	 * without a domain, where "@domain" goes */
	int		 qualify;
	size_t		*quals;
	size_t		 nquals, qcap;
};

static void	 buf_add(struct buf *, const void *, size_t);
static void	 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 buf_addc(struct buf *, char);
static void	 buf_adds(struct buf *, const char *);
static int	 is_wsp(int);
static int	 is_ctl(int);
static int	 is_fname(int);
static int	 is_atext(int);
static int	 ascii_ncaseeq(const char *, const char *, size_t);
static int	 tmp_open(const char *, struct fail *);
static int	 load_input(struct msg *, int, struct scan *, struct fail *);
static int	 scan_chunk(struct scan *, const char *, size_t,
		    struct fail *);
static int	 scan_char(struct scan *, int, struct fail *);
static int	 scan_eol(struct scan *, struct fail *);
static int	 scan_to_body(struct scan *, int, int, struct fail *);
static void	 scan_end(struct scan *);
static int	 hraw_addc(struct scan *, int, struct fail *);
static void	 body_eol(struct msg *, size_t);
static void	 field_end(struct scan *, int);
static int	 field_is(const struct msg *, const struct hfield *,
		    const char *);
static const char *skip_cfws(const char *, const char *);
static int	 analyse(struct msg *, const struct msg_opts *,
		    struct fail *);
static int	 get_recipients(struct msg *, struct fail *);
static void	 get_from(struct msg *, const struct msg_opts *);
static int	 build_header(struct msg *, const struct msg_opts *,
		    struct fail *);
static int	 qualify_wanted(const struct msg *, const struct hfield *);
static void	 add_col(struct buf *, const char *, size_t, size_t *);
static void	 qualify_emit(const struct msg *, const struct hfield *,
		    const struct pctx *, const char *, struct buf *);
static int	 qualify_field(const struct msg *, const struct hfield *,
		    const char *, struct buf *);
static void	 put_field(struct msg *, const struct hfield *,
		    const char *);
static void	 put_text(struct msg *, const char *, size_t);
static void	 put_line(struct msg *, const char *, size_t, int);
static size_t	 fold_at(const char *, size_t, size_t, size_t);
static void	 warn_once(struct msg *, int *, const char *);
static int	 add_from(struct msg *, const struct msg_opts *,
		    struct fail *);
static int	 add_msgid(struct msg *, const struct msg_opts *,
		    struct fail *);
static void	 add_phrase(struct buf *, const char *);
static void	 add_b64(struct buf *, const unsigned char *, size_t);
static void	 fmt_date(struct buf *, time_t);
static void	 fill_random(unsigned char *, size_t);
static int	 count_body(struct msg *, struct fail *);
static void	 stream_reset(struct msg *);
static int	 stream_fill(struct msg *, struct fail *);
static void	 enc_plain(struct msg *);
static void	 enc_break(struct msg *);
static void	 enc_qp(struct msg *);
static void	 qp_put(struct msg *, const char *, size_t);
static void	 qp_eol(struct msg *);
static void	 body_finish(struct msg *);
static void	 out_add(struct msg *, const char *, size_t);
static int	 addr_err(struct fail *, const char *, const char *, size_t);
static int	 tokenize(struct pctx *, int);
static void	 tok_add(struct pctx *, int, const char *, size_t, int);
static size_t	 skip_comment(const char *, size_t, size_t);
static size_t	 skip_quoted(const char *, size_t, size_t, int);
static int	 is_sp(const struct pctx *, size_t, int);
static int	 bad(struct pctx *, size_t, size_t, const char *);
static int	 parse_list(struct pctx *);
static int	 parse_address(struct pctx *, size_t *, int);
static int	 parse_angle(struct pctx *, size_t *, size_t);
static int	 parse_group(struct pctx *, size_t *, size_t);
static int	 add_spec(struct pctx *, size_t, size_t);
static int	 words(struct pctx *, size_t, size_t, int, struct buf *);
static int	 dot_atom(const char *, size_t);
static void	 qual_mark(struct pctx *, size_t);
static uint64_t	 addr_hash(const char *);
static size_t	 aset_slot(const struct aset *, const struct strv *,
		    const char *);
static void	 aset_put(struct aset *, const struct strv *, size_t);
static void	 add_unique(struct pctx *, const char *);
static int	 same_addr(const char *, const char *);
static int	 parse_addrlist(const char *, size_t, int, struct strv *,
		    struct aset *, size_t *, size_t *, struct fail *);
static void	 fail_append(struct fail *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 mbox_prefix(struct mbox *, struct buf *);
static void	 mbox_chunk(struct mbox *, const char *, size_t, struct buf *);
static int	 mbox_write(struct msg *, int, const char *, const char *,
		    struct fail *);

/* ---- small helpers ---- */

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	/* a size that cannot be represented is memory we cannot have */
	if (n > SIZE_MAX / 2 - b->len - 1)
		xrealloc(NULL, SIZE_MAX);
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Formatted text appended whole: no fixed buffer, nothing cut. */
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;		/* EOVERFLOW: only our own formats come here */
	buf_add(b, "", 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = b->len + (size_t)n + 1;
		b->p = xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* C0 controls other than HTAB, and DEL. */
static int
is_ctl(int c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* RFC 5322 2.2 / 3.6.8: ftext is printable US-ASCII except ':'. */
static int
is_fname(int c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6532 3.2). */
static int
is_atext(int c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Locale-independent: header names and domains are ASCII-insensitive. */
static int
ascii_ncaseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

/* An unlinked temporary copy of a pipe's input. */
static int
tmp_open(const char *name, struct fail *f)
{
	int fd = tmp_file();

	if (fd == -1) {
		const char *dir = getenv("TMPDIR");

		fail_set(f, FAIL_IO, "%s: temporary file in %s: %s", name,
		    dir && *dir ? dir : "/tmp", strerror(errno));
	}
	return fd;
}

/* ---- the scan ---- */

/*
 * One pass over a chunk: line ends (CR, LF, CRLF; RFC 5322 2.1 wants
 * CRLF, Unix tools give LF, old Mac tools CR), NUL detection, then the
 * header or body bookkeeping for each octet.
 */
static int
scan_chunk(struct scan *sc, const char *p, size_t n, struct fail *f)
{
	struct msg *m = sc->m;

	for (size_t i = 0; i < n; i++, sc->off++) {
		int c = (unsigned char)p[i];

		if (c == '\0') {
			fail_set(f, FAIL_DATA, "%s: message contains a NUL "
			    "byte (offset %lld)", sc->name,
			    (long long)sc->off);
			return -1;
		}
		if (sc->skiplf) {
			sc->skiplf = 0;
			if (c == '\n')
				continue;
		}
		if (sc->pend_body) {
			m->body_off = sc->off;
			sc->pend_body = 0;
		}
		if (sc->pend_orig) {
			m->orig_off = sc->off;
			sc->pend_orig = 0;
		}
		if (c == '\r' || c == '\n') {
			sc->skiplf = c == '\r';
			if (sc->mode == SC_BODY) {
				body_eol(m, sc->curlen);
				sc->curlen = 0;
			} else if (scan_eol(sc, f) == -1)
				return -1;
			continue;
		}
		if (sc->mode == SC_BODY) {
			sc->curlen++;
			if (c & 0x80)
				m->body8 = 1;
		} else if (scan_char(sc, c, f) == -1)
			return -1;
	}
	return 0;
}

/* Body line statistics, for the size and the long-line decision. */
static void
body_eol(struct msg *m, size_t len)
{
	m->body_eols++;
	m->body_chars += (off_t)len;
	if (len > m->maxline)
		m->maxline = len;
	if (len > 0)
		m->nbreaks += (off_t)((len - 1) / RFC_LINE_MAX);
}

static int
hraw_addc(struct scan *sc, int c, struct fail *f)
{
	if (sc->m->hraw.len + 1 >= MSG_HDR_MAX) {
		fail_set(f, FAIL_DATA, "%s: header section larger than %d "
		    "bytes", sc->name, MSG_HDR_MAX);
		return -1;
	}
	buf_addc(&sc->m->hraw, (char)c);
	return 0;
}

/*
 * A header line is classified as soon as possible: "name:" is a field
 * (RFC 5322 2.2), a line starting with WSP continues the previous one
 * (2.2.3), anything else ends the header section and starts the body.
 * Deciding early means a huge first body line is never buffered.
 */
static int
scan_char(struct scan *sc, int c, struct fail *f)
{
	if (sc->mode == SC_FROMLINE)
		return 0;
	switch (sc->ls) {
	case LS_START:
		sc->lstart = sc->off;
		sc->lhoff = sc->m->hraw.len;
		if (is_wsp(c) && sc->m->nf > 0)
			sc->ls = LS_CONT;
		else if (is_fname(c))
			sc->ls = LS_NAME;
		else
			return scan_to_body(sc, c, 0, f);
		break;
	case LS_NAME:
		/* A field name cannot be longer than a line (RFC 5322
		 * 2.1.1): past that it is body text, not buffered. */
		if (sc->m->hraw.len - sc->lhoff >= RFC_LINE_MAX)
			return scan_to_body(sc, c, 0, f);
		if (is_fname(c))
			break;
		sc->namelen = sc->m->hraw.len - sc->lhoff;
		if (c == ':') {
			sc->colon = sc->m->hraw.len;
			sc->ls = LS_FIELD;
		} else if (is_wsp(c))
			sc->ls = LS_WSP;
		else
			return scan_to_body(sc, c, 0, f);
		break;
	case LS_WSP:
		if (sc->m->hraw.len - sc->lhoff >= RFC_LINE_MAX)
			return scan_to_body(sc, c, 0, f);
		if (c == ':') {
			sc->colon = sc->m->hraw.len;
			sc->ls = LS_FIELD;
		} else if (!is_wsp(c))
			return scan_to_body(sc, c, 0, f);
		break;
	default:
		break;
	}
	return hraw_addc(sc, c, f);
}

/*
 * The current line is not a header line.  On the very first line a
 * "From " line is the mbox separator, dropped; otherwise the body
 * starts with this line (the output inserts the empty line).  The part
 * of the line seen so far moves from hraw to the body counters; then
 * the octet c (or the line end, if eol) is handled as body.
 */
static int
scan_to_body(struct scan *sc, int c, int eol, struct fail *f)
{
	struct msg *m = sc->m;
	size_t n = m->hraw.len - sc->lhoff;

	(void)f;
	if (sc->first && n >= 5 && memcmp(m->hraw.p + sc->lhoff, "From ",
	    5) == 0) {
		m->hraw.len = sc->lhoff;
		sc->mode = SC_FROMLINE;
		if (eol)
			return scan_eol(sc, f);
		return 0;
	}
	m->hraw.len = sc->lhoff;
	m->body_off = sc->lstart;
	sc->mode = SC_BODY;
	sc->curlen = n;
	if (eol) {
		body_eol(m, sc->curlen);
		sc->curlen = 0;
	} else {
		sc->curlen++;
		if (c & 0x80)
			m->body8 = 1;
	}
	return 0;
}

static void
field_end(struct scan *sc, int cont)
{
	struct msg *m = sc->m;
	struct hfield *h;

	if (cont) {
		h = &m->f[m->nf - 1];
		h->len = m->hraw.len - h->off;
		return;
	}
	if (m->nf == m->fcap) {
		m->fcap = m->fcap ? m->fcap * 2 : 32;
		m->f = xrealloc(m->f, m->fcap * sizeof(*m->f));
	}
	h = &m->f[m->nf++];
	h->off = sc->lhoff;
	h->len = m->hraw.len - sc->lhoff;
	h->namelen = sc->namelen;
	h->voff = sc->colon + 1;
}

static int
scan_eol(struct scan *sc, struct fail *f)
{
	int first = sc->first;

	sc->first = 0;
	if (sc->mode == SC_FROMLINE) {
		sc->mode = SC_HDR;
		sc->ls = LS_START;
		sc->pend_orig = 1;
		return 0;
	}
	switch (sc->ls) {
	case LS_START:
		/* RFC 5322 2.1: the empty line ends the header section. */
		sc->mode = SC_BODY;
		sc->pend_body = 1;
		return 0;
	case LS_FIELD:
	case LS_CONT:
		field_end(sc, sc->ls == LS_CONT);
		sc->ls = LS_START;
		return hraw_addc(sc, '\n', f);
	default:
		sc->first = first;
		return scan_to_body(sc, 0, 1, f);
	}
}

static void
scan_end(struct scan *sc)
{
	struct msg *m = sc->m;

	if (sc->mode == SC_HDR) {
		if (sc->ls == LS_FIELD || sc->ls == LS_CONT) {
			field_end(sc, sc->ls == LS_CONT);
			buf_addc(&m->hraw, '\n');
		} else if (sc->ls != LS_START)
			(void)scan_to_body(sc, 0, 1, NULL);
	}
	if (sc->mode == SC_BODY && sc->curlen > 0) {
		/* A last line without a line end gets one on output:
		 * counted as a line end for the size. */
		body_eol(m, sc->curlen);
		m->body_open = 1;
	}
	if (sc->pend_body || m->body_off < 0)
		m->body_off = m->inlen;
	if (sc->pend_orig)
		m->orig_off = m->inlen;
}

/* ---- header analysis ---- */

static int
field_is(const struct msg *m, const struct hfield *h, const char *name)
{
	size_t n = strlen(name);

	return h->namelen == n && ascii_ncaseeq(m->hraw.p + h->off, name, n);
}

/* Skip whitespace, folds and (nested) comments: RFC 5322 3.2.2 CFWS. */
static const char *
skip_cfws(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (*p == '\\' && depth > 0 && p + 1 < end)
			p++;
		else if (depth == 0 && !is_wsp(*p) && *p != '\n')
			break;
	}
	return p;
}

static int
analyse(struct msg *m, const struct msg_opts *o, struct fail *f)
{
	int composite = 0, identity = 1;

	for (size_t i = 0; i < m->nf; i++) {
		const struct hfield *h = &m->f[i];
		const char *v = m->hraw.p + h->voff;
		const char *end = m->hraw.p + h->off + h->len;

		v = skip_cfws(v, end);
		if (field_is(m, h, "Content-Type")) {
			/* RFC 2046 5.1.1 / 5.2: QP is not allowed on
			 * composite types, only line breaking is left. */
			composite = (end - v >= 10 &&
			    ascii_ncaseeq(v, "multipart/", 10)) ||
			    (end - v >= 8 && ascii_ncaseeq(v, "message/", 8));
		} else if (field_is(m, h, "Content-Transfer-Encoding")) {
			size_t n = 0;

			while (v + n < end && !is_wsp(v[n]) && v[n] != '\n' &&
			    v[n] != '(' && v[n] != ';')
				n++;
			/* RFC 2045 6.2: only identity encodings can be
			 * replaced; QP over base64 would be two encodings. */
			identity = (n == 4 && (ascii_ncaseeq(v, "7bit", 4) ||
			    ascii_ncaseeq(v, "8bit", 4))) ||
			    (n == 6 && ascii_ncaseeq(v, "binary", 6));
		}
	}
	if (o->read_recipients && get_recipients(m, f) == -1)
		return -1;
	m->mode = BODY_PLAIN;
	if (m->maxline > RFC_LINE_MAX) {
		if (!composite && identity)
			m->mode = BODY_QP;
		else {
			m->mode = BODY_BREAK;
			warn_once(m, &m->warned_break,
			    "line longer than 998 octets broken");
		}
	}
	if (build_header(m, o, f) == -1)
		return -1;
	get_from(m, o);
	for (size_t i = 0; i < m->hdr.len && !m->is8bit; i++)
		if (m->hdr.p[i] & 0x80)
			m->is8bit = 1;
	if (m->mode != BODY_QP && m->body8)
		m->is8bit = 1;
	if (m->mode == BODY_QP)
		return count_body(m, f);
	m->size = (off_t)m->hdr.len + m->body_chars + 2 * m->body_eols;
	if (m->mode == BODY_BREAK)
		m->size += 2 * m->nbreaks;
	return 0;
}

/*
 * -t: To, Cc, Bcc; but when any Resent-To/-Cc/-Bcc exists, only those
 * (RFC 5322 3.6.6: a resent message goes to the resent- recipients,
 * as sendmail does).
 */
static int
get_recipients(struct msg *m, struct fail *f)
{
	static const char *const plain[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc", NULL };
	const char *const *names = plain;

	for (size_t i = 0; i < m->nf; i++)
		for (size_t k = 0; resent[k] != NULL; k++)
			if (field_is(m, &m->f[i], resent[k]))
				names = resent;
	for (size_t i = 0; i < m->nf; i++) {
		const struct hfield *h = &m->f[i];
		struct fail af;
		size_t vlen = h->off + h->len - h->voff;
		int want = 0;

		for (size_t k = 0; names[k] != NULL; k++)
			want |= field_is(m, h, names[k]);
		if (!want)
			continue;
		fail_reset(&af);
		if (parse_addrlist(m->hraw.p + h->voff, vlen, 1, &m->rcpts,
		    &m->rset, NULL, NULL, &af) == -1) {
			fail_set(f, FAIL_DATA, "bad address in %.*s: header: "
			    "%s", (int)h->namelen, m->hraw.p + h->off, af.msg);
			return -1;
		}
	}
	return 0;
}

/* The first addr-spec of the From: header (as output), or NULL. */
static void
get_from(struct msg *m, const struct msg_opts *o)
{
	for (size_t i = 0; i < m->nf && !o->replace_from; i++) {
		const struct hfield *h = &m->f[i];
		struct strv sv = { NULL, 0, 0 };
		struct fail af;

		if (!field_is(m, h, "From"))
			continue;
		fail_reset(&af);
		if (parse_addrlist(m->hraw.p + h->voff, h->off + h->len -
		    h->voff, 1, &sv, NULL, NULL, NULL, &af) == 0 && sv.n > 0)
			m->from = xstrdup(sv.v[0]);
		strv_free(&sv);
		return;
	}
	if ((o->add_from || o->replace_from) && o->from_addr != NULL &&
	    *o->from_addr != '\0')
		m->from = xstrdup(o->from_addr);
}

/* ---- the output header section ---- */

static void
warn_once(struct msg *m, int *done, const char *text)
{
	if (*done)
		return;
	*done = 1;
	if (m->warn != NULL)
		m->warn(m->warnarg, text);
}

static int
build_header(struct msg *m, const struct msg_opts *o, struct fail *f)
{
	int has_from = 0, has_date = 0, has_id = 0, has_mv = 0, has_cte = 0;
	const char *qd = o->qualify_domain;

	/* it goes into headers as it is: a plain domain name only */
	if (qd != NULL && !dot_atom(qd, strlen(qd))) {
		fail_set(f, FAIL_DATA, "bad domain for qualifying header "
		    "addresses");
		return -1;
	}
	for (size_t i = 0; i < m->nf; i++) {
		const struct hfield *h = &m->f[i];

		/* Bcc must not reach the recipients (RFC 5322 3.6.3). */
		if (!o->keep_bcc && (field_is(m, h, "Bcc") ||
		    field_is(m, h, "Resent-Bcc")))
			continue;
		if (o->undisclosed && (field_is(m, h, "To") ||
		    field_is(m, h, "Cc") || field_is(m, h, "Bcc")))
			continue;
		if (o->replace_from && field_is(m, h, "From"))
			continue;
		has_from |= field_is(m, h, "From");
		has_date |= field_is(m, h, "Date");
		has_id |= field_is(m, h, "Message-ID");
		has_mv |= field_is(m, h, "MIME-Version");
		if (field_is(m, h, "Content-Transfer-Encoding")) {
			has_cte = 1;
			if (m->mode == BODY_QP) {
				put_line(m, "Content-Transfer-Encoding: "
				    "quoted-printable", 43, 1);
				continue;
			}
		}
		put_field(m, h, o->qualify_domain);
	}
	if ((o->add_from || o->replace_from) && !has_from &&
	    add_from(m, o, f) == -1)
		return -1;
	if (o->undisclosed)
		put_line(m, "To: undisclosed-recipients:;", 28, 1);
	if (o->add_date && !has_date) {
		struct buf d = { NULL, 0, 0 };

		buf_adds(&d, "Date: ");
		fmt_date(&d, time(NULL));
		put_line(m, d.p, d.len, 1);
		free(d.p);
	}
	if (o->add_msgid && !has_id && add_msgid(m, o, f) == -1)
		return -1;
	/* RFC 2045 4 and 6: a re-encoded body needs both MIME headers. */
	if (m->mode == BODY_QP && !has_mv)
		put_line(m, "MIME-Version: 1.0", 17, 1);
	if (m->mode == BODY_QP && !has_cte)
		put_line(m, "Content-Transfer-Encoding: quoted-printable", 43,
		    1);
	buf_add(&m->hdr, "\r\n", 2);
	return 0;
}

/* The address fields whose mailboxes get a domain (SPEC "Addresses"). */
static int
qualify_wanted(const struct msg *m, const struct hfield *h)
{
	static const char *const names[] = { "From", "Sender", "To", "Cc",
	    "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (field_is(m, h, names[i]))
			return 1;
	return 0;
}

/* Append s[0..n) to o; *col counts the octets since the last '\n'. */
static void
add_col(struct buf *o, const char *s, size_t n, size_t *col)
{
	buf_add(o, s, n);
	for (size_t i = 0; i < n; i++)
		*col = s[i] == '\n' ? 0 : *col + 1;
}

/*
 * The field rebuilt token by token, "@dom" after each marked one, the
 * text between tokens (blanks, comments, folds) copied as it is.  A
 * mailbox that would push a line past 998 octets right after a comma
 * with nothing between is moved to a new (folded) line: put_line()
 * folds only at blanks, and breaking inside an address would change it.
 */
static void
qualify_emit(const struct msg *m, const struct hfield *h,
    const struct pctx *p, const char *dom, struct buf *o)
{
	const char *s = p->src, *end = p->src + p->srclen;
	size_t col = 0, q = 0, dl = strlen(dom);

	add_col(o, m->hraw.p + h->off, h->voff - h->off, &col);
	for (size_t i = 0; i < p->n; i++) {
		const struct tok *t = &p->t[i];
		int mark = q < p->nquals && p->quals[q] == i;

		add_col(o, s, (size_t)(t->s - s), &col);
		if (t->s == s && i > 0 && is_sp(p, i - 1, ',') && col +
		    t->len + (mark ? dl + 1 : 0) > RFC_LINE_MAX)
			add_col(o, "\n ", 2, &col);
		add_col(o, t->s, t->len, &col);
		if (mark) {
			add_col(o, "@", 1, &col);
			add_col(o, dom, dl, &col);
			q++;
		}
		s = t->s + t->len;
	}
	add_col(o, s, (size_t)(end - s), &col);
}

/*
 * The field with every domainless mailbox qualified, in o: 1; 0 when
 * there is nothing to qualify or the field does not parse (then it is
 * left as written: we do not rewrite what we do not understand).
 */
static int
qualify_field(const struct msg *m, const struct hfield *h, const char *dom,
    struct buf *o)
{
	struct strv sv = { NULL, 0, 0 };
	struct aset set = { NULL, 0, 0 };
	struct fail af = { 0 };
	struct pctx p;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.src = m->hraw.p + h->voff;
	p.srclen = h->off + h->len - h->voff;
	p.out = &sv;
	p.set = &set;
	p.f = &af;
	p.qualify = 1;
	if (tokenize(&p, 1) == 0 && parse_list(&p) == 0 && p.nquals > 0) {
		qualify_emit(m, h, &p, dom, o);
		rc = 1;
	}
	strv_free(&sv);
	free(set.slot);
	free(p.t);
	free(p.quals);
	return rc;
}

/* One header field as output: qualified when asked and needed. */
static void
put_field(struct msg *m, const struct hfield *h, const char *dom)
{
	struct buf b = { NULL, 0, 0 };

	if (dom != NULL && qualify_wanted(m, h) && qualify_field(m, h, dom,
	    &b))
		put_text(m, b.p, b.len);
	else
		put_text(m, m->hraw.p + h->off, h->len);
	free(b.p);
}

/* RFC 5322 3.6.4: "<time.random@domain>", unique by its 128 random bits. */
static int
add_msgid(struct msg *m, const struct msg_opts *o, struct fail *f)
{
	const char *dom = o->msgid_domain;
	unsigned char rnd[MSGID_RAND];
	struct buf b = { NULL, 0, 0 };
	time_t t = time(NULL);
	struct tm tm;

	if (dom == NULL || *dom == '\0')
		dom = "localhost";
	for (const char *s = dom; *s != '\0'; s++)
		if (is_ctl((unsigned char)*s) || is_wsp(*s) ||
		    strchr("<>()", *s) != NULL) {
			fail_set(f, FAIL_DATA, "bad domain for the "
			    "Message-ID: header");
			return -1;
		}
	fill_random(rnd, sizeof(rnd));
	gmtime_r(&t, &tm);
	buf_printf(&b, "Message-ID: <%04d%02d%02d%02d%02d%02d.",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	for (size_t i = 0; i < sizeof(rnd); i++)
		buf_printf(&b, "%02x", rnd[i]);
	buf_addc(&b, '@');
	buf_adds(&b, dom);
	buf_addc(&b, '>');
	put_line(m, b.p, b.len, 1);
	free(b.p);
	return 0;
}

/* A field as stored: lines separated by '\n'. */
static void
put_text(struct msg *m, const char *s, size_t n)
{
	const char *end = s + n;
	int first = 1;

	for (;;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (nl == NULL)
			nl = end;
		put_line(m, s, (size_t)(nl - s), first);
		first = 0;
		if (nl == end)
			break;
		s = nl + 1;
	}
}

/*
 * One physical header line plus CRLF.  RFC 5322 2.1.1 / 2.2.3: a line
 * over 998 octets is folded before a WSP (lossless: unfolding restores
 * it); with no WSP to use it is broken and the rest continued after an
 * added space, which changes the value, so both warn.
 */
static void
put_line(struct msg *m, const char *s, size_t n, int first)
{
	size_t lo = 1, pfx = 0;

	if (first) {
		const char *c = memchr(s, ':', n);

		lo = c != NULL ? (size_t)(c - s) + 1 : n;
	}
	while (pfx + n > RFC_LINE_MAX) {
		size_t j = fold_at(s, n, lo, RFC_LINE_MAX - pfx);
		int hard = j == 0;

		if (hard) {
			j = RFC_LINE_MAX - pfx;
			/* Keep a UTF-8 sequence whole. */
			while (j > 1 && (s[j] & 0xc0) == 0x80)
				j--;
			warn_once(m, &m->warned_hbreak,
			    "header line longer than 998 octets broken");
		} else
			warn_once(m, &m->warned_fold,
			    "header line longer than 998 octets folded");
		if (pfx)
			buf_addc(&m->hdr, ' ');
		buf_add(&m->hdr, s, j);
		buf_add(&m->hdr, "\r\n", 2);
		s += j;
		n -= j;
		pfx = hard;
		lo = 1;
	}
	if (pfx)
		buf_addc(&m->hdr, ' ');
	buf_add(&m->hdr, s, n);
	buf_add(&m->hdr, "\r\n", 2);
}

/* The last WSP at index lo..max with something before it, or 0. */
static size_t
fold_at(const char *s, size_t n, size_t lo, size_t max)
{
	size_t fnw = 0;

	while (fnw < n && is_wsp(s[fnw]))
		fnw++;
	if (lo < fnw + 1)
		lo = fnw + 1;
	if (max > n - 1)
		max = n - 1;
	for (size_t j = max; j >= lo && j > 0; j--)
		if (is_wsp(s[j]))
			return j;
	return 0;
}

static int
add_from(struct msg *m, const struct msg_opts *o, struct fail *f)
{
	struct buf b = { NULL, 0, 0 };
	const char *a = o->from_addr;

	if (a == NULL || *a == '\0')
		return 0;	/* null sender: nothing to put there */
	for (const char *s = a; *s != '\0'; s++)
		if (is_ctl((unsigned char)*s)) {
			fail_set(f, FAIL_DATA, "control character in the "
			    "address for the From: header");
			return -1;
		}
	buf_adds(&b, "From: ");
	if (o->fullname != NULL)
		add_phrase(&b, o->fullname);
	if (b.len > 6) {
		buf_adds(&b, " <");
		buf_adds(&b, a);
		buf_addc(&b, '>');
	} else
		buf_adds(&b, a);
	put_text(m, b.p, b.len);
	free(b.p);
	return 0;
}

/*
 * A display name (RFC 5322 3.2.5 phrase): as is when it is atoms, else
 * a quoted-string; non-ASCII as RFC 2047 encoded-words, each holding
 * whole UTF-8 characters (2047 section 5), folded between words.
 * Control characters become spaces: -F must not inject header lines.
 */
static void
add_phrase(struct buf *b, const char *name)
{
	struct buf t = { NULL, 0, 0 };
	int eight = 0, atoms = 1;
	size_t i, n;

	for (const char *s = name; *s != '\0'; s++) {
		int c = (unsigned char)*s;

		if (is_ctl(c) || c == '\t')
			c = ' ';
		eight |= c >= 0x80;
		atoms &= is_atext(c) || c == ' ';
		buf_addc(&t, (char)c);
	}
	i = 0;
	n = t.len;
	while (i < n && t.p[i] == ' ')
		i++;
	while (n > i && t.p[n - 1] == ' ')
		n--;
	if (i == n) {
		/* nothing */
	} else if (eight) {
		while (i < n) {
			size_t k = n - i < EW_BYTES ? n - i : EW_BYTES;

			while (k > 1 && i + k < n &&
			    (t.p[i + k] & 0xc0) == 0x80)
				k--;
			if (b->len > 6)
				buf_adds(b, "\n ");
			buf_adds(b, "=?UTF-8?B?");
			add_b64(b, (const unsigned char *)t.p + i, k);
			buf_adds(b, "?=");
			i += k;
		}
	} else if (atoms)
		buf_add(b, t.p + i, n - i);
	else {
		buf_addc(b, '"');
		for (; i < n; i++) {
			if (t.p[i] == '"' || t.p[i] == '\\')
				buf_addc(b, '\\');
			buf_addc(b, t.p[i]);
		}
		buf_addc(b, '"');
	}
	free(t.p);
}

static void
add_b64(struct buf *b, const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		buf_add(b, q, 4);
	}
}

/* RFC 5322 3.3 date-time, local time with a numeric zone; the names are
 * fixed English, whatever the locale (strftime would translate). */
static void
fmt_date(struct buf *out, time_t t)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	buf_printf(out, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    wday[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60 % 100, off % 60);
}

/* Uniqueness only, not secrecy: getentropy(), else /dev/urandom, else
 * the clock and the pid. */
static void
fill_random(unsigned char *p, size_t n)
{
	static unsigned long counter;
	int fd;

	if (getentropy(p, n) == 0)
		return;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) != -1) {
		ssize_t r = read(fd, p, n);

		close(fd);
		if (r == (ssize_t)n)
			return;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((now_ms() >> (i % 8 * 8)) ^
		    ((unsigned long)getpid() >> (i % 4 * 8)) ^ counter++);
}

/* ---- the output stream ---- */

/* The QP size is only known by encoding: run the encoder once, counting. */
static int
count_body(struct msg *m, struct fail *f)
{
	off_t total = 0;

	stream_reset(m);
	m->st.phase = ST_BODY;
	while (m->st.phase != ST_DONE) {
		if (stream_fill(m, f) == -1)
			return -1;
		total += (off_t)m->st.olen;
	}
	stream_reset(m);
	m->size = (off_t)m->hdr.len + total;
	return 0;
}

static void
stream_reset(struct msg *m)
{
	memset(&m->st, 0, sizeof(m->st));
	m->st.phase = ST_HDR;
}

static void
out_add(struct msg *m, const char *s, size_t n)
{
	memcpy(m->outbuf + m->st.olen, s, n);
	m->st.olen += n;
}

/* Refill outbuf from the next input chunk; at the end, finish. */
static int
stream_fill(struct msg *m, struct fail *f)
{
	struct stream *st = &m->st;

	st->opos = st->olen = 0;
	if (st->ipos == st->ilen) {
		off_t left = m->inlen - m->body_off - st->rpos;
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t r;

		if (want == 0) {
			body_finish(m);
			st->phase = ST_DONE;
			return 0;
		}
		do
			r = pread(m->fd, m->inbuf, want, m->base + m->body_off +
			    st->rpos);
		while (r == -1 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			fail_set(f, FAIL_IO, "reading the message: %s%s",
			    strerror(errno), r == 0 ? " (input file shrank)" :
			    "");
			return -1;
		}
		st->rpos += r;
		st->ipos = 0;
		st->ilen = (size_t)r;
	}
	if (m->mode == BODY_PLAIN)
		enc_plain(m);
	else if (m->mode == BODY_BREAK)
		enc_break(m);
	else
		enc_qp(m);
	return 0;
}

static void
enc_plain(struct msg *m)
{
	struct stream *st = &m->st;
	size_t n = st->ilen - st->ipos, room = (OUTSZ - st->olen - 2) / 2;

	if (n > room)
		n = room;
	st->olen += msg_crlf(&st->crlf, m->inbuf + st->ipos, n,
	    m->outbuf + st->olen);
	st->ipos += n;
	if (st->olen > 0) {
		st->any = 1;
		st->last = m->outbuf[st->olen - 1];
	}
}

/* Inside multipart: break at 998 like Postfix and sendmail. */
static void
enc_break(struct msg *m)
{
	struct stream *st = &m->st;

	while (st->ipos < st->ilen && st->olen + ENC_SLACK <= OUTSZ) {
		char c = m->inbuf[st->ipos++];

		if (st->skiplf) {
			st->skiplf = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			st->skiplf = c == '\r';
			out_add(m, "\r\n", 2);
			st->col = 0;
			continue;
		}
		if (st->col == RFC_LINE_MAX) {
			out_add(m, "\r\n", 2);
			st->col = 0;
		}
		out_add(m, &c, 1);
		st->col++;
	}
}

/*
 * RFC 2045 6.7: printable ASCII but '=' as is (rule 2), others as =XX
 * (rule 1), SP/HTAB as is unless last on a line (rule 3; held until the
 * next octet tells), input line ends as CRLF (rule 4), soft breaks
 * keeping lines at 76 (rule 5).  Lossless.
 */
static void
enc_qp(struct msg *m)
{
	static const char hex[] = "0123456789ABCDEF";
	struct stream *st = &m->st;

	while (st->ipos < st->ilen && st->olen + ENC_SLACK <= OUTSZ) {
		int c = (unsigned char)m->inbuf[st->ipos++];
		char q[3];

		if (st->skiplf) {
			st->skiplf = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			st->skiplf = c == '\r';
			qp_eol(m);
			continue;
		}
		if (st->ws) {
			q[0] = (char)st->ws;
			st->ws = 0;
			qp_put(m, q, 1);
		}
		if (is_wsp(c)) {
			st->ws = c;
			continue;
		}
		if (c >= 33 && c <= 126 && c != '=') {
			q[0] = (char)c;
			qp_put(m, q, 1);
		} else {
			q[0] = '=';
			q[1] = hex[c >> 4];
			q[2] = hex[c & 15];
			qp_put(m, q, 3);
		}
	}
}

static void
qp_put(struct msg *m, const char *q, size_t n)
{
	if (m->st.col + n > QP_LINE - 1) {
		out_add(m, "=\r\n", 3);
		m->st.col = 0;
	}
	out_add(m, q, n);
	m->st.col += n;
}

static void
qp_eol(struct msg *m)
{
	if (m->st.ws) {
		qp_put(m, m->st.ws == ' ' ? "=20" : "=09", 3);
		m->st.ws = 0;
	}
	out_add(m, "\r\n", 2);
	m->st.col = 0;
}

/* The output always ends in CRLF. */
static void
body_finish(struct msg *m)
{
	struct stream *st = &m->st;

	if (m->mode == BODY_PLAIN) {
		if (st->any && st->last != '\n')
			out_add(m, "\r\n", 2);
	} else if (m->mode == BODY_BREAK) {
		if (st->col > 0)
			out_add(m, "\r\n", 2);
	} else if (st->col > 0 || st->ws)
		qp_eol(m);
}

/* ---- the API ---- */

/*
 * Read the whole input once, scanning it; a non-regular input is
 * copied to a temporary file on the way so that it can be read again.
 */
static int
load_input(struct msg *m, int fd, struct scan *sc, struct fail *f)
{
	struct stat sb;
	int regular;

	if (fstat(fd, &sb) == -1) {
		fail_set(f, FAIL_IO, "%s: %s", sc->name, strerror(errno));
		return -1;
	}
	regular = S_ISREG(sb.st_mode) &&
	    (m->base = lseek(fd, 0, SEEK_CUR)) != -1;
	m->regular = regular;
	/* Our own descriptor: the caller may close theirs. */
	if (regular && (m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		fail_set(f, FAIL_IO, "%s: %s", sc->name, strerror(errno));
		return -1;
	}
	if (!regular) {
		m->base = 0;
		if ((m->fd = tmp_open(sc->name, f)) == -1)
			return -1;
	}
	for (;;) {
		ssize_t r;

		if (regular)
			r = pread(fd, m->inbuf, CHUNK, m->base + m->inlen);
		else
			r = read(fd, m->inbuf, CHUNK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fail_set(f, FAIL_IO, "%s: read: %s", sc->name,
			    strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0;
		if (!regular && write_all(m->fd, m->inbuf, (size_t)r) == -1) {
			fail_set(f, FAIL_IO, "%s: temporary copy: %s",
			    sc->name, strerror(errno));
			return -1;
		}
		if (scan_chunk(sc, m->inbuf, (size_t)r, f) == -1)
			return -1;
		m->inlen += r;
	}
}

/*
 * The input was refused as data: read what is left of it and keep the
 * whole of it, raw, in the salvage mbox.  The refusal stays the
 * failure reported; when the message could not be kept either, its
 * text says so, so that no message is lost without a word.
 */
static void
salvage(struct msg *m, int fd, const struct msg_opts *opts, struct fail *f)
{
	struct fail f2 = { 0 };
	struct stat sb;
	ssize_t r;

	if (m->fd == -1) {
		fail_append(f, "; the message could not be saved in %s",
		    opts->salvage_path);
		return;
	}
	if (m->regular) {
		if (fstat(fd, &sb) == -1 || sb.st_size < m->base) {
			fail_append(f, "; the message could not be saved in "
			    "%s", opts->salvage_path);
			return;
		}
		m->inlen = sb.st_size - m->base;
	} else {
		/* a temporary copy: drain the rest of the input into it */
		while ((r = read(fd, m->inbuf, CHUNK)) != 0) {
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1 || write_all(m->fd, m->inbuf,
			    (size_t)r) == -1)
				break;
		}
		m->inlen = lseek(m->fd, 0, SEEK_END);
		m->base = 0;
	}
	m->orig_off = 0;
	if (m->inlen == 0)
		return;
	if (msg_save_mbox(m, opts->salvage_path, opts->salvage_sender,
	    &f2) == -1)
		fail_append(f, "; the message could not be saved: %s", f2.msg);
	else if (opts->salvaged != NULL)
		*opts->salvaged = 1;
}

struct msg *
msg_load(int fd, const char *name, const struct msg_opts *opts,
    struct fail *f)
{
	static const struct msg_opts none;
	struct msg *m = xcalloc(1, sizeof(*m));
	struct scan sc;

	if (opts == NULL)
		opts = &none;
	m->fd = -1;
	m->body_off = -1;
	m->warn = opts->warn;
	m->warnarg = opts->warnarg;
	memset(&sc, 0, sizeof(sc));
	sc.m = m;
	sc.name = name != NULL ? name : "stdin";
	sc.first = 1;
	if (load_input(m, fd, &sc, f) == -1)
		goto fail;
	scan_end(&sc);
	stream_reset(m);
	if (analyse(m, opts, f) == -1)
		goto fail;
	return m;
fail:
	if (f->cls == FAIL_DATA && opts->salvage_path != NULL)
		salvage(m, fd, opts, f);
	msg_free(m);
	return NULL;
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	free(m->hraw.p);
	free(m->hdr.p);
	free(m->f);
	free(m->from);
	strv_free(&m->rcpts);
	free(m->rset.slot);
	free(m);
}

const struct strv *
msg_recipients(const struct msg *m)
{
	return &m->rcpts;
}

const char *
msg_from_addr(const struct msg *m)
{
	return m->from;
}

off_t
msg_size(const struct msg *m)
{
	return m->size;
}

size_t
msg_header_size(const struct msg *m)
{
	return m->hdr.len;
}

int
msg_is_8bit(const struct msg *m)
{
	return m->is8bit;
}

off_t
msg_input_size(const struct msg *m)
{
	return m->inlen - m->orig_off;
}

int
msg_rewind(struct msg *m, struct fail *f)
{
	(void)f;
	stream_reset(m);
	return 0;
}

ssize_t
msg_read(struct msg *m, char *buf, size_t cap, struct fail *f)
{
	struct stream *st = &m->st;
	size_t n = 0;

	while (n < cap) {
		size_t k;

		if (st->phase == ST_HDR) {
			k = m->hdr.len - st->hpos;
			if (k > cap - n)
				k = cap - n;
			memcpy(buf + n, m->hdr.p + st->hpos, k);
			st->hpos += k;
			n += k;
			if (st->hpos == m->hdr.len)
				st->phase = ST_BODY;
			continue;
		}
		if (st->opos < st->olen) {
			k = st->olen - st->opos;
			if (k > cap - n)
				k = cap - n;
			memcpy(buf + n, m->outbuf + st->opos, k);
			st->opos += k;
			n += k;
			continue;
		}
		if (st->phase == ST_DONE)
			break;
		if (stream_fill(m, f) == -1)
			return -1;
	}
	return (ssize_t)n;
}

size_t
msg_crlf(int *state, const char *in, size_t inlen, char *out)
{
	size_t o = 0;

	/* A CR is written as CRLF at once; state remembers it so that an
	 * LF right after it, even in the next call, is not doubled. */
	if (in == NULL) {
		*state = 0;
		return 0;
	}
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];

		if (c == '\n' && *state) {
			*state = 0;
			continue;
		}
		*state = c == '\r';
		if (c == '\r' || c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
		} else
			out[o++] = c;
	}
	return o;
}

/* ---- mbox ---- */

/* More words for the failure already recorded, on its one line; a
 * text too long for it is cut visibly ("..."), never silently. */
static void
fail_append(struct fail *f, const char *fmt, ...)
{
	size_t n = strlen(f->msg), cap = sizeof(f->msg);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(f->msg + n, cap - n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= cap - n)
		memcpy(f->msg + cap - 4, "...", 4);
}

int
msg_save_mbox(struct msg *m, const char *path, const char *sender,
    struct fail *f)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct buf b = { NULL, 0, 0 };
	time_t t = time(NULL);
	struct tm tm;
	long long start = 0;
	int fd, rc;

	if (sender == NULL || *sender == '\0')
		sender = "MAILER-DAEMON";
	buf_adds(&b, "From ");
	/* The separator line must stay one line of space-separated words. */
	for (const char *s = sender; *s != '\0'; s++)
		buf_addc(&b, (unsigned char)*s <= ' ' || *s == 0x7f ? '_' :
		    *s);
	localtime_r(&t, &tm);
	buf_printf(&b, " %s %s %2d %02d:%02d:%02d %d\n",
	    wday[tm.tm_wday % 7], mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
	/* Locked: concurrent failing runs (cron) append whole entries. */
	if ((fd = append_open(path, &start, f)) == -1) {
		free(b.p);
		return -1;
	}
	rc = mbox_write(m, fd, path, b.p, f);
	free(b.p);
	if (rc == 0 && fsync(fd) == -1) {
		fail_set(f, FAIL_IO, "%s: fsync: %s", path, strerror(errno));
		rc = -1;
	}
	/* A half-written entry would corrupt the next one: take it back
	 * while the lock is still ours. */
	if (rc == -1)
		(void)ftruncate(fd, (off_t)start);
	if (close(fd) == -1 && rc == 0) {
		fail_set(f, FAIL_IO, "%s: close: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/*
 * mboxrd: LF line ends, and a line matching ^>*From gets one more '>'
 * so that readers can undo it exactly.  The match is tracked as a
 * count of '>' and of "From " octets: constant memory.
 */
/* The held prefix is settled: write it, quoted if it was ">*From ". */
static void
mbox_prefix(struct mbox *x, struct buf *o)
{
	if (x->k == 5)
		buf_addc(o, '>');
	x->open = x->gt + x->k > 0;
	for (; x->gt > 0; x->gt--)
		buf_addc(o, '>');
	buf_add(o, mbox_from, x->k);
	x->bol = 0;
	x->k = 0;
}

static void
mbox_chunk(struct mbox *x, const char *p, size_t n, struct buf *o)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (x->skiplf) {
			x->skiplf = 0;
			if (c == '\n')
				continue;
		}
		if (x->bol) {
			if (x->k == 0 && c == '>') {
				x->gt++;
				continue;
			}
			if (c == mbox_from[x->k] && ++x->k < 5)
				continue;
			if (x->k == 5) {
				mbox_prefix(x, o);
				continue;
			}
			mbox_prefix(x, o);
		}
		if (c == '\r' || c == '\n') {
			x->skiplf = c == '\r';
			buf_addc(o, '\n');
			x->bol = 1;
			x->open = 0;
			continue;
		}
		buf_addc(o, c);
		x->open = 1;
	}
}

static int
mbox_write(struct msg *m, int fd, const char *path, const char *sep,
    struct fail *f)
{
	struct mbox x = { 0, 0, 1, 0, 0 };
	struct buf o = { NULL, 0, 0 };
	off_t pos = m->orig_off;
	int rc = 0;

	buf_adds(&o, sep);
	for (;;) {
		size_t want = m->inlen - pos < CHUNK ?
		    (size_t)(m->inlen - pos) : CHUNK;
		ssize_t r = 0;

		if (want > 0 && (r = pread(m->fd, m->inbuf, want,
		    m->base + pos)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			fail_set(f, FAIL_IO, "reading the message: %s",
			    r == 0 ? "input file shrank" : strerror(errno));
			rc = -1;
			break;
		}
		pos += r;
		mbox_chunk(&x, m->inbuf, (size_t)r, &o);
		if (want == 0) {
			/* End the last line, then the blank line that
			 * separates messages. */
			if (x.bol)
				mbox_prefix(&x, &o);
			if (x.open)
				buf_addc(&o, '\n');
			buf_addc(&o, '\n');
		}
		if (write_all(fd, o.p, o.len) == -1) {
			fail_set(f, FAIL_IO, "%s: write: %s", path,
			    strerror(errno));
			rc = -1;
			break;
		}
		o.len = 0;
		if (want == 0)
			break;
	}
	free(o.p);
	return rc;
}

/* ---- addresses (RFC 5322 3.4) ---- */

static int
addr_err(struct fail *f, const char *what, const char *s, size_t n)
{
	char ex[EXCERPT * 4 + 1];

	sanitize(ex, sizeof(ex), s, n > EXCERPT ? EXCERPT : n);
	fail_set(f, FAIL_DATA, "%s in \"%s%s\"", what, ex,
	    n > EXCERPT ? "..." : "");
	return -1;
}

static void
tok_add(struct pctx *p, int type, const char *s, size_t n, int sp)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->t = xrealloc(p->t, p->cap * sizeof(*p->t));
	}
	p->t[p->n].type = type;
	p->t[p->n].s = s;
	p->t[p->n].len = n;
	p->t[p->n].sp = sp;
	p->n++;
}

/* Index after a (nested) comment starting at i, or 0 if unbalanced. */
static size_t
skip_comment(const char *s, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

/* Index after a quoted-string or domain-literal, or 0 if unbalanced. */
static size_t
skip_quoted(const char *s, size_t n, size_t i, int close)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == close)
			return i + 1;
		else if (close == ']' && s[i] == '[')
			return 0;
	}
	return 0;
}

/*
 * Tokens of RFC 5322 3.2: atoms (dots included), quoted-strings,
 * domain-literals, specials; comments and folding are whitespace.  A CR
 * or LF is only allowed as folding in a header value (fold): anywhere
 * else it could end an SMTP command line early (command injection).
 */
static int
tokenize(struct pctx *p, int fold)
{
	const char *s = p->src;
	size_t n = p->srclen, i, j;
	int sp = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '\r' || c == '\n') {
			j = i;
			if (c == '\r' && j + 1 < n && s[j + 1] == '\n')
				j++;
			/* Folding is (CR)LF then WSP; a bare CR never. */
			if (!fold || s[j] != '\n' || j + 1 >= n ||
			    !is_wsp(s[j + 1]))
				return addr_err(p->f, "CR or LF", s, n);
			i = j;
		} else if (is_ctl(c))
			return addr_err(p->f, "control character", s, n);
	}
	for (i = 0; i < n;) {
		int c = (unsigned char)s[i];

		if (is_wsp(c) || c == '\r' || c == '\n') {
			i++;
			sp = 1;
		} else if (c == '(') {
			if ((j = skip_comment(s, n, i)) == 0)
				return addr_err(p->f, "unbalanced '('", s, n);
			i = j;
			sp = 1;
		} else if (c == '"' || c == '[') {
			if ((j = skip_quoted(s, n, i, c == '"' ? '"' : ']'))
			    == 0)
				return addr_err(p->f, c == '"' ?
				    "unbalanced '\"'" : "unbalanced '['", s, n);
			tok_add(p, c == '"' ? TK_QSTR : TK_DLIT, s + i, j - i,
			    sp);
			i = j;
			sp = 0;
		} else if (c != 0 && strchr("<>@,:;", c) != NULL) {
			tok_add(p, TK_SPECIAL, s + i, 1, sp);
			i++;
			sp = 0;
		} else if (is_atext(c) || c == '.') {
			for (j = i; j < n && (is_atext((unsigned char)s[j]) ||
			    s[j] == '.'); j++)
				;
			tok_add(p, TK_ATOM, s + i, j - i, sp);
			i = j;
			sp = 0;
		} else if (c == ')' || c == ']') {
			return addr_err(p->f, c == ')' ? "unbalanced ')'" :
			    "unbalanced ']'", s, n);
		} else
			return addr_err(p->f, "unexpected character", s, n);
	}
	return 0;
}

static int
is_sp(const struct pctx *p, size_t i, int c)
{
	return i < p->n && p->t[i].type == TK_SPECIAL && p->t[i].s[0] == c;
}

/* An error naming the tokens a..b-1. */
static int
bad(struct pctx *p, size_t a, size_t b, const char *what)
{
	const char *s, *e;

	if (b > p->n)
		b = p->n;
	if (a >= b)
		return addr_err(p->f, what, p->src, p->srclen);
	s = p->t[a].s;
	e = p->t[b - 1].s + p->t[b - 1].len;
	return addr_err(p->f, what, s, (size_t)(e - s));
}

static int
parse_list(struct pctx *p)
{
	size_t pos = 0;

	while (pos < p->n) {
		size_t a = pos;

		/* Empty list elements are allowed (RFC 5322 4.4). */
		if (is_sp(p, pos, ',')) {
			pos++;
			continue;
		}
		if (parse_address(p, &pos, 0) == -1)
			return -1;
		if (pos < p->n && !is_sp(p, pos, ','))
			return bad(p, a, pos + 1, "malformed address");
	}
	return 0;
}

static int
parse_address(struct pctx *p, size_t *pos, int ingroup)
{
	size_t a = *pos, j = a;

	while (j < p->n && (p->t[j].type != TK_SPECIAL || is_sp(p, j, '@')))
		j++;
	if (is_sp(p, j, '<'))
		return parse_angle(p, pos, j);
	if (is_sp(p, j, ':')) {
		if (ingroup)
			return bad(p, a, j + 1, "nested group");
		return parse_group(p, pos, j);
	}
	if (j == a)
		return bad(p, a, a + 1, is_sp(p, a, '>') ? "unbalanced '>'" :
		    "malformed address");
	if (add_spec(p, a, j) == -1)
		return -1;
	*pos = j;
	return 0;
}

/* [display-name] "<" [obs-route] addr-spec ">" (RFC 5322 3.4, 4.4). */
static int
parse_angle(struct pctx *p, size_t *pos, size_t lt)
{
	size_t k = lt + 1, gt;

	for (gt = k; gt < p->n && !is_sp(p, gt, '>'); gt++)
		if (is_sp(p, gt, '<'))
			break;
	if (!is_sp(p, gt, '>'))
		return bad(p, *pos, gt + 1, "unbalanced '<'");
	if (is_sp(p, k, '@')) {
		/* obs-route: "@a,@b:" is dropped (RFC 5321 4.1.1.3). */
		while (k < gt && !is_sp(p, k, ':'))
			k++;
		if (k == gt)
			return bad(p, *pos, gt + 1, "malformed route");
		k++;
	}
	if (k == gt)
		return bad(p, *pos, gt + 1, "empty address");
	if (add_spec(p, k, gt) == -1)
		return -1;
	*pos = gt + 1;
	return 0;
}

/* display-name ":" [group-list] ";" (RFC 5322 3.4); a missing ";" at
 * the end is tolerated, as real mailers forget it. */
static int
parse_group(struct pctx *p, size_t *pos, size_t colon)
{
	size_t q = colon + 1;

	p->groups++;
	while (q < p->n) {
		size_t a = q;

		if (is_sp(p, q, ';')) {
			q++;
			break;
		}
		if (is_sp(p, q, ',')) {
			q++;
			continue;
		}
		if (parse_address(p, &q, 1) == -1)
			return -1;
		if (q < p->n && !is_sp(p, q, ',') && !is_sp(p, q, ';'))
			return bad(p, a, q + 1, "malformed address");
	}
	*pos = q;
	return 0;
}

/*
 * Words a..b-1 concatenated, CFWS dropped (obs-local-part and
 * obs-domain allow it around dots).  Two words with only whitespace
 * between them ("John Doe") are not one address.
 */
static int
words(struct pctx *p, size_t a, size_t b, int domain, struct buf *o)
{
	for (size_t i = a; i < b; i++) {
		const struct tok *t = &p->t[i];

		if (t->type == TK_SPECIAL || (domain && t->type == TK_QSTR) ||
		    (!domain && t->type == TK_DLIT) ||
		    (domain && t->type == TK_DLIT && b - a != 1))
			return bad(p, a, b, "malformed address");
		if (i > a && t->sp && t->s[0] != '.' &&
		    p->t[i - 1].s[p->t[i - 1].len - 1] != '.')
			return bad(p, a, b, "malformed address");
		if (t->type != TK_QSTR) {
			for (size_t k = 0; k < t->len; k++)
				if (t->s[k] != '\r' && t->s[k] != '\n')
					buf_addc(o, t->s[k]);
			continue;
		}
		for (size_t k = 1; k + 1 < t->len; k++) {
			if (t->s[k] == '\\')
				k++;
			if (t->s[k] != '\r' && t->s[k] != '\n')
				buf_addc(o, t->s[k]);
		}
	}
	return 0;
}

/* RFC 5322 3.2.3 dot-atom-text: atoms joined by single dots. */
static int
dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
		if (s[i] != '.' && !is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/*
 * local-part ["@" domain] from tokens a..b-1.  The local part goes out
 * as a dot-atom when it is one, else quoted (RFC 5321 4.1.2: quote only
 * when needed).  Without "@" the word is kept (a local user name).
 */
static int
add_spec(struct pctx *p, size_t a, size_t b)
{
	struct buf loc = { NULL, 0, 0 }, dom = { NULL, 0, 0 }, o = { NULL, 0, 0 };
	size_t at = b;
	int rc = -1;

	for (size_t i = a; i < b; i++)
		if (is_sp(p, i, '@')) {
			if (at != b)
				return bad(p, a, b, "malformed address");
			at = i;
		}
	if (at == a || (at != b && at + 1 == b))
		return bad(p, a, b, "malformed address");
	if (words(p, a, at, 0, &loc) == -1)
		goto done;
	if (at != b) {
		if (words(p, at + 1, b, 1, &dom) == -1)
			goto done;
		if (dom.p[0] != '[' && !dot_atom(dom.p, dom.len)) {
			bad(p, a, b, "malformed domain");
			goto done;
		}
	}
	if (loc.len > 0 && dot_atom(loc.p, loc.len))
		buf_add(&o, loc.p, loc.len);
	else {
		buf_addc(&o, '"');
		for (size_t i = 0; i < loc.len; i++) {
			if (loc.p[i] == '"' || loc.p[i] == '\\')
				buf_addc(&o, '\\');
			buf_addc(&o, loc.p[i]);
		}
		buf_addc(&o, '"');
	}
	if (at != b) {
		buf_addc(&o, '@');
		buf_add(&o, dom.p, dom.len);
	} else if (p->qualify && !(loc.len == 10 &&
	    ascii_ncaseeq(loc.p, "postmaster", 10)))
		qual_mark(p, b - 1);
	p->count++;
	add_unique(p, o.p);
	rc = 0;
done:
	free(loc.p);
	free(dom.p);
	free(o.p);
	return rc;
}

/* Header qualification: "@domain" goes after token i. */
static void
qual_mark(struct pctx *p, size_t i)
{
	if (p->nquals == p->qcap) {
		p->qcap = p->qcap ? p->qcap * 2 : 8;
		p->quals = xrealloc(p->quals, p->qcap * sizeof(*p->quals));
	}
	p->quals[p->nquals++] = i;
}

/* RFC 5321 2.4: the local part is case-sensitive, the domain is not. */
static int
same_addr(const char *x, const char *y)
{
	const char *ax = strrchr(x, '@'), *ay = strrchr(y, '@');

	if (ax == NULL || ay == NULL)
		return ax == ay && strcmp(x, y) == 0;
	return ax - x == ay - y && memcmp(x, y, (size_t)(ax - x)) == 0 &&
	    strlen(ax) == strlen(ay) && ascii_ncaseeq(ax, ay, strlen(ax));
}

/* FNV-1a (64 bit) over what same_addr() compares. */
static uint64_t
addr_hash(const char *a)
{
	const char *at = strrchr(a, '@');
	uint64_t h = 14695981039346656037ULL;

	for (const char *s = a; *s != '\0'; s++) {
		int c = (unsigned char)*s;

		if (at != NULL && s > at && c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ (uint64_t)c) * 1099511628211ULL;
	}
	return h;
}

/* The slot for a: where it is, or the empty one it would take. */
static size_t
aset_slot(const struct aset *set, const struct strv *sv, const char *a)
{
	size_t i = (size_t)addr_hash(a) & (set->cap - 1);

	while (set->slot[i] != 0 && !same_addr(sv->v[set->slot[i] - 1], a))
		i = (i + 1) & (set->cap - 1);
	return i;
}

/* Index sv->v[k]; the table grows to stay at most half full. */
static void
aset_put(struct aset *set, const struct strv *sv, size_t k)
{
	if (2 * (set->n + 1) > set->cap) {
		struct aset big = { NULL, set->cap ? 2 * set->cap : 64, 0 };

		big.slot = xcalloc(big.cap, sizeof(*big.slot));
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i] != 0)
				big.slot[aset_slot(&big, sv, sv->v[set->slot[i] -
				    1])] = set->slot[i];
		big.n = set->n;
		free(set->slot);
		*set = big;
	}
	set->slot[aset_slot(set, sv, sv->v[k])] = k + 1;
	set->n++;
}

static void
add_unique(struct pctx *p, const char *s)
{
	if (p->set->cap > 0 && p->set->slot[aset_slot(p->set, p->out, s)]
	    != 0)
		return;
	strv_add(p->out, s);
	aset_put(p->set, p->out, p->out->n - 1);
}

/*
 * set indexes out; NULL: out is indexed here first (linear in its
 * size), for callers that keep no index of their own.
 */
static int
parse_addrlist(const char *s, size_t n, int fold, struct strv *out,
    struct aset *set, size_t *count, size_t *groups, struct fail *f)
{
	struct aset tmp = { NULL, 0, 0 };
	struct pctx p;
	int rc;

	if (set == NULL) {
		set = &tmp;
		for (size_t i = 0; i < out->n; i++)
			if (set->cap == 0 || set->slot[aset_slot(set, out,
			    out->v[i])] == 0)
				aset_put(set, out, i);
	}
	memset(&p, 0, sizeof(p));
	p.src = s;
	p.srclen = n;
	p.out = out;
	p.set = set;
	p.f = f;
	rc = tokenize(&p, fold);
	if (rc == 0)
		rc = parse_list(&p);
	if (count != NULL)
		*count = p.count;
	if (groups != NULL)
		*groups = p.groups;
	free(p.t);
	free(tmp.slot);
	return rc;
}

int
msg_parse_addrlist(const char *s, size_t n, struct strv *out, struct fail *f)
{
	return parse_addrlist(s, n, 0, out, NULL, NULL, NULL, f);
}

int
msg_parse_addr(const char *s, char **out, struct fail *f)
{
	struct strv sv = { NULL, 0, 0 };
	size_t n = strlen(s), count = 0, groups = 0, i = 0;

	*out = NULL;
	/* "" and "<>" (blanks around allowed) are the null sender. */
	while (i < n && is_wsp(s[i]))
		i++;
	if (i == n || (n - i >= 2 && s[i] == '<' && s[i + 1] == '>' &&
	    strspn(s + i + 2, " \t") == n - i - 2)) {
		*out = xstrdup("");
		return 0;
	}
	if (parse_addrlist(s, n, 0, &sv, NULL, &count, &groups, f) == -1) {
		strv_free(&sv);
		return -1;
	}
	if (count != 1 || groups != 0 || sv.n != 1) {
		strv_free(&sv);
		return addr_err(f, "not exactly one address", s, n);
	}
	*out = sv.v[0];
	sv.v[0] = NULL;
	sv.n = 0;
	strv_free(&sv);
	return 0;
}
