/*
 * addr.c - the one address validator (RFC 5321 4.1.2 Mailbox with RFC
 * 6531 UTF-8, RFC 5321 4.5.3.1 sizes) and an O(n) de-duplication set.
 * What is accepted and why is described in addr.h.
 *
 * Each check returns 0, or -1 after writing its reason into the
 * checker's why[]; addr_check() alone turns that into the one-line
 * failure, so every message has the same shape.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "addr.h"
#include "util.h"

/* About 60 characters of the address in the message: the line, with
 * its words around the address, stays readable on an 80-column screen. */
#define SHOW_CAP	64

/* RFC 1035 2.3.4: a label is at most 63 octets (for a U-label, its
 * A-label, RFC 5890 2.3.2.1). */
#define LABEL_MAX	63

/* The same flags as conn.c's host name conversion: IDNA2008 with the
 * UTS 46 non-transitional mapping, input normalised to NFC. */
#define IDN_FLAGS	(IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT)

/* RFC 5321 4.1.1.3: the one mailbox RCPT may name without a domain. */
#define POSTMASTER	"postmaster"

/* First size of an addr_set table (a power of two) and its load limit
 * (3/4: linear probing stays short). */
#define SET_FIRST	64

struct chk {
	struct addr_info info;
	char		 why[200];	/* the reason, once refused */
};

struct addr_set {
	char		**slot;		/* NULL: free */
	unsigned long	 *hash;
	size_t		  cap;		/* a power of two */
	size_t		  n;
};

static int	 bad(struct chk *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 char_name(char *, size_t, const char *, size_t);
static int	 is_alnum(unsigned char);
static int	 is_atext(unsigned char);
static size_t	 utf8_step(const char *, size_t);
static int	 check_bytes(struct chk *, const char *, size_t);
static size_t	 quoted_end(const char *, size_t);
static size_t	 local_end(const char *, size_t);
static int	 check_quoted(struct chk *, const char *, size_t);
static int	 check_dots(struct chk *, const char *, size_t);
static int	 check_local(struct chk *, const char *, size_t, size_t *);
static int	 check_bare(struct chk *, const char *, size_t, unsigned);
static int	 check_ulabel(struct chk *, const char *, size_t, size_t *);
static int	 check_label(struct chk *, const char *, size_t, size_t *);
static int	 check_domain(struct chk *, const char *, size_t);
static int	 check_ipv4(const char *, size_t);
static int	 check_ipv6(const char *, size_t);
static int	 check_general(struct chk *, const char *, size_t);
static int	 check_literal(struct chk *, const char *, size_t);
static int	 check_all(struct chk *, const char *, size_t, unsigned);
static int	 fold(int);
static void	 set_grow(struct addr_set *);

static int
bad(struct chk *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* A refused character as the reason shows it: 'c' for ASCII, U+XXXX
 * otherwise, so that no look-alike or direction mark hides in it. */
static void
char_name(char *dst, size_t cap, const char *s, size_t len)
{
	unsigned long cp = 0;

	if (utf8_decode(s, len, &cp) == 0)
		cp = (unsigned char)*s;
	if (cp >= 0x20 && cp < 0x7f)
		snprintf(dst, cap, "'%c'", (int)cp);
	else
		snprintf(dst, cap, "U+%04lX", cp);
}

/* Locale-free: an address means the same in every locale. */
static int
is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 3.2.3 atext, the ASCII part */
static int
is_atext(unsigned char ch)
{
	return is_alnum(ch) || (ch != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* The length of the UTF-8 character at s.  check_bytes() made every
 * sequence valid, and ASCII delimiters never split one; 1 on a bad one
 * all the same, so no loop can stall. */
static size_t
utf8_step(const char *s, size_t len)
{
	unsigned long cp;
	size_t k = utf8_decode(s, len, &cp);

	return k > 0 ? k : 1;
}

/* SPEC "hostile bytes": no control byte and no invalid UTF-8 anywhere,
 * also inside quotes and literals, whatever the grammar around it. */
static int
check_bytes(struct chk *c, const char *s, size_t len)
{
	unsigned long cp = 0;
	size_t k;

	for (size_t i = 0; i < len; i += k) {
		if ((k = utf8_decode(s + i, len - i, &cp)) == 0)
			return bad(c, "invalid UTF-8 at octet %zu", i + 1);
		if (cp < 0x20 || cp == 0x7f)
			return bad(c, "control character 0x%02lx at octet %zu",
			    cp, i + 1);
		if (cp >= 0x80 && cp <= 0x9f)
			return bad(c, "control character U+%04lX at octet %zu",
			    cp, i + 1);
	}
	return 0;
}

/* Where the Quoted-string at s ends (just past its closing quote), or
 * 0 if it is not closed. */
static size_t
quoted_end(const char *s, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Where the local part ends: at the "@" before the domain, or len.  A
 * quoted local part may hold "@" (an unclosed one is not taken as
 * quoted); a domain never does before its literal, so the first "@"
 * after the local part is the one. */
static size_t
local_end(const char *s, size_t len)
{
	size_t i = len > 0 && s[0] == '"' ? quoted_end(s, len) : 0;
	const char *at = memchr(s + i, '@', len - i);

	return at != NULL ? (size_t)(at - s) : len;
}

/* RFC 5321 4.1.2 Quoted-string, qtextSMTP and quoted-pairSMTP, with
 * RFC 6531 3.3 UTF8-non-ascii in qtext.  s[0] is the opening quote,
 * s[len - 1] the closing one (quoted_end). */
static int
check_quoted(struct chk *c, const char *s, size_t len)
{
	size_t i, k;

	for (i = 1; i < len - 1; i += k) {
		unsigned char ch = (unsigned char)s[i];

		k = 1;
		if (ch == '\\') {
			/* quoted-pairSMTP: "\" %d32-126, ASCII only */
			if ((unsigned char)s[i + 1] >= 0x80)
				return bad(c, "bad quoted pair in the local part");
			k = 2;
		} else if (ch >= 0x80) {
			k = utf8_step(s + i, len - i);
			c->info.local_utf8 = 1;
		}
		/* everything else left (%d32-126 but '"' and '\') is
		 * qtextSMTP: controls were refused with the bytes */
	}
	return 0;
}

/* RFC 5321 4.1.2 Dot-string: Atom *("." Atom), atext with RFC 6531
 * UTF8-non-ascii. */
static int
check_dots(struct chk *c, const char *s, size_t len)
{
	char name[16];
	size_t k;

	if (len == 0)
		return bad(c, "empty local part");
	if (s[0] == '.')
		return bad(c, "local part starts with a dot");
	if (s[len - 1] == '.')
		return bad(c, "local part ends with a dot");
	for (size_t i = 0; i < len; i += k) {
		unsigned char ch = (unsigned char)s[i];

		k = 1;
		if (ch == '.' && s[i + 1] == '.')
			return bad(c, "two dots in a row in the local part");
		if (ch >= 0x80) {
			k = utf8_step(s + i, len - i);
			c->info.local_utf8 = 1;
		} else if (ch != '.' && !is_atext(ch)) {
			char_name(name, sizeof(name), s + i, len - i);
			return bad(c, "bad character %s in the local part",
			    name);
		}
	}
	return 0;
}

/* The local part of s (len octets): its grammar and its size; *end is
 * where it ends (the "@", or len). */
static int
check_local(struct chk *c, const char *s, size_t len, size_t *end)
{
	char name[16];
	size_t n;

	if (len > 0 && s[0] == '"') {
		if ((n = quoted_end(s, len)) == 0)
			return bad(c, "unbalanced quotes");
		if (check_quoted(c, s, n) == -1)
			return -1;
		if (n < len && s[n] != '@') {
			char_name(name, sizeof(name), s + n, len - n);
			return bad(c, "bad character %s after the quoted "
			    "local part", name);
		}
	} else {
		n = local_end(s, len);
		if (check_dots(c, s, n) == -1)
			return -1;
	}
	/* RFC 5321 4.5.3.1.1 */
	if (n > ADDR_LOCAL_MAX)
		return bad(c, "local part over %d octets (%zu)",
		    ADDR_LOCAL_MAX, n);
	c->info.local_len = n;
	*end = n;
	return 0;
}

/* A good local part without "@domain": who may go without one. */
static int
check_bare(struct chk *c, const char *s, size_t len, unsigned flags)
{
	if (flags & ADDR_LOCAL_OK)
		return 0;
	if ((flags & ADDR_POSTMASTER_OK) && len == sizeof(POSTMASTER) - 1) {
		size_t i;

		for (i = 0; i < len && fold(s[i]) == POSTMASTER[i]; i++)
			;
		if (i == len)
			return 0;
	}
	return bad(c, "missing domain");
}

/* A label with non-ASCII (its ASCII already LDH): it must convert to
 * one A-label of at most 63 octets (RFC 5890, RFC 6531 3.2), whose
 * length is *alen. */
static int
check_ulabel(struct chk *c, const char *s, size_t len, size_t *alen)
{
	char label[ADDR_DOMAIN_MAX + 1], shown[40];
	char *out = NULL;
	size_t n;
	int rc;

	memcpy(label, s, len);		/* len <= ADDR_DOMAIN_MAX: checked */
	label[len] = '\0';
	sanitize(shown, sizeof(shown), s, len);
	rc = idn2_to_ascii_8z(label, &out, IDN_FLAGS);
	if (rc != IDN2_OK)
		return bad(c, "bad U-label \"%s\" in the domain (%s)", shown,
		    idn2_strerror(rc));
	/* the mapping may turn a character into a dot, a space or
	 * nothing (U+3002, U+00A0, U+00AD): not one LDH label then */
	for (n = 0; out[n] != '\0' && (is_alnum((unsigned char)out[n]) ||
	    out[n] == '-'); n++)
		;
	rc = n > 0 && n <= LABEL_MAX && out[n] == '\0';
	idn2_free(out);
	if (!rc)
		return bad(c, "bad U-label \"%s\" in the domain (not one "
		    "DNS label)", shown);
	*alen = n;
	return 0;
}

/* RFC 5321 4.1.2 sub-domain = Let-dig [Ldh-str], or a U-label
 * (RFC 6531 3.3); *alen is its length as an A-label. */
static int
check_label(struct chk *c, const char *s, size_t len, size_t *alen)
{
	char name[16];
	int utf8 = 0;
	size_t k;

	if (len == 0)
		return bad(c, "empty label in the domain");
	for (size_t i = 0; i < len; i += k) {
		unsigned char ch = (unsigned char)s[i];

		k = 1;
		if (ch >= 0x80) {
			k = utf8_step(s + i, len - i);
			utf8 = 1;
		} else if (!is_alnum(ch) && ch != '-') {
			char_name(name, sizeof(name), s + i, len - i);
			return bad(c, "bad character %s in the domain", name);
		}
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return bad(c, "label starts or ends with a hyphen");
	if (utf8) {
		c->info.domain_utf8 = 1;
		return check_ulabel(c, s, len, alen);
	}
	if (len > LABEL_MAX)
		return bad(c, "label over %d octets (%zu)", LABEL_MAX, len);
	*alen = len;
	return 0;
}

/* The domain after "@": its size, then a literal or labels. */
static int
check_domain(struct chk *c, const char *s, size_t len)
{
	size_t alen = 0, total = 0;

	if (len == 0)
		return bad(c, "empty domain");
	/* RFC 5321 4.5.3.1.2 */
	if (len > ADDR_DOMAIN_MAX)
		return bad(c, "domain over %d octets (%zu)", ADDR_DOMAIN_MAX,
		    len);
	c->info.has_domain = 1;
	if (s[0] == '[')
		return check_literal(c, s, len);
	if (s[len - 1] == '.')
		return bad(c, "domain ends with a dot");
	for (size_t i = 0, n; i <= len; i += n + 1) {
		const char *dot = memchr(s + i, '.', len - i);

		n = dot != NULL ? (size_t)(dot - (s + i)) : len - i;
		if (check_label(c, s + i, n, &alen) == -1)
			return -1;
		total += alen + (i > 0);
	}
	/* RFC 5321 4.5.3.1.2 again, for a relay that needs A-labels */
	if (total > ADDR_DOMAIN_MAX)
		return bad(c, "domain over %d octets as A-labels (%zu)",
		    ADDR_DOMAIN_MAX, total);
	return 0;
}

/* RFC 5321 4.1.3 IPv4-address-literal: Snum 3("." Snum), Snum 1*3DIGIT
 * of 0-255, here without a leading zero (octal to inet_aton(), addr.h). */
static int
check_ipv4(const char *s, size_t len)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start;
		unsigned v = 0;

		if (part > 0 && (i >= len || s[i++] != '.'))
			return -1;
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return -1;
	}
	return i == len ? 0 : -1;
}

/* RFC 5321 4.1.3 IPv6-addr, the text after "IPv6:" (addr.h: as
 * inet_pton() reads it). */
static int
check_ipv6(const char *s, size_t len)
{
	char text[INET6_ADDRSTRLEN];	/* the longest form inet_pton takes */
	struct in6_addr a6;

	if (len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, &a6) == 1 ? 0 : -1;
}

/* RFC 5321 4.1.3 General-address-literal: Standardized-tag ":"
 * 1*dcontent, tag an Ldh-str (dcontent checked by the caller). */
static int
check_general(struct chk *c, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t tag;

	if (colon == NULL)
		return bad(c, "bad address literal (neither IPv4 nor "
		    "tag:content)");
	tag = (size_t)(colon - s);
	if (tag == 0 || s[tag - 1] == '-')
		return bad(c, "bad address literal (tag)");
	for (size_t i = 0; i < tag; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return bad(c, "bad address literal (tag)");
	if (tag == len - 1)
		return bad(c, "bad address literal (empty)");
	if (tag == 4 && strncasecmp(s, "IPv6", 4) == 0 &&
	    check_ipv6(s + 5, len - 5) == -1)
		return bad(c, "bad address literal (IPv6)");
	return 0;
}

/* RFC 5321 4.1.3 address-literal, "[" ... "]" whole. */
static int
check_literal(struct chk *c, const char *s, size_t len)
{
	char name[16];
	size_t i, digits = 0;

	c->info.literal = 1;
	if (len < 2 || s[len - 1] != ']')
		return bad(c, "bad address literal (not closed by ']')");
	s++;
	len -= 2;
	if (len == 0)
		return bad(c, "bad address literal (empty)");
	/* dcontent %d33-90 / %d94-126, and neither '<' nor '>' (addr.h);
	 * IPv4 and IPv6 text is made of dcontent too */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 33 || ch > 126 || (ch >= 91 && ch <= 93) ||
		    ch == '<' || ch == '>') {
			char_name(name, sizeof(name), s + i, len - i);
			return bad(c, "bad address literal (character %s)",
			    name);
		}
		digits += (ch >= '0' && ch <= '9') || ch == '.';
	}
	if (digits == len) {
		if (check_ipv4(s, len) == -1)
			return bad(c, "bad address literal (IPv4)");
		return 0;
	}
	return check_general(c, s, len);
}

static int
check_all(struct chk *c, const char *a, size_t len, unsigned flags)
{
	size_t end = 0;

	if (len == 0)
		return flags & ADDR_NULL_OK ? 0 : bad(c, "empty address");
	if (check_bytes(c, a, len) == -1 || check_local(c, a, len, &end) == -1)
		return -1;
	if (end == len)
		return check_bare(c, a, len, flags);
	if (check_domain(c, a + end + 1, len - end - 1) == -1)
		return -1;
	/* RFC 5321 4.5.3.1.3: "<" mailbox ">" within 256 */
	if (len > ADDR_PATH_MAX - 2)
		return bad(c, "address over %d octets (%zu)",
		    ADDR_PATH_MAX - 2, len);
	return 0;
}

int
addr_check(const char *a, unsigned flags, const char *what,
    struct addr_info *info, struct fail *f)
{
	struct chk c;
	char shown[SHOW_CAP];
	size_t len;

	if (a == NULL)
		a = "";
	len = strlen(a);
	memset(&c, 0, sizeof(c));
	if (check_all(&c, a, len, flags) == -1) {
		if (info != NULL)
			memset(info, 0, sizeof(*info));
		sanitize(shown, sizeof(shown), a, len);
		fail_set(f, FAIL_DATA, "invalid %s%saddress \"%s\": %s",
		    what != NULL ? what : "", what != NULL ? " " : "", shown,
		    c.why);
		return -1;
	}
	if (info != NULL)
		*info = c.info;
	return 0;
}

/* ---- de-duplication ---- */

/* ASCII lower case, locale-free (RFC 5321 2.4: domains compare
 * case-insensitively, and only ASCII has case there for us). */
static int
fold(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

int
addr_same(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);
	size_t la = local_end(a, alen), lb = local_end(b, blen);

	if (alen != blen || la != lb || memcmp(a, b, la) != 0)
		return 0;
	for (size_t i = la; i < alen; i++)
		if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
			return 0;
	return 1;
}

unsigned long
addr_hash(const char *a)
{
	size_t len = strlen(a), local = local_end(a, len);
	/* FNV-1a, 64 bits (its published offset basis and prime) */
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)a[i];

		h ^= i < local ? ch : (unsigned char)fold(ch);
		h *= 1099511628211ULL;
	}
	/* spread the high bits down: the table uses the low ones */
	h ^= h >> 29;
	return (unsigned long)h;
}

struct addr_set *
addr_set_new(void)
{
	struct addr_set *s = xcalloc(1, sizeof(*s));

	s->cap = SET_FIRST;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	s->hash = xcalloc(s->cap, sizeof(*s->hash));
	return s;
}

/* Double the table and place every address again. */
static void
set_grow(struct addr_set *s)
{
	char **oslot = s->slot;
	unsigned long *ohash = s->hash;
	size_t ocap = s->cap;

	s->cap *= 2;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	s->hash = xcalloc(s->cap, sizeof(*s->hash));
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (oslot[i] == NULL)
			continue;
		for (j = ohash[i] & (s->cap - 1); s->slot[j] != NULL;
		    j = (j + 1) & (s->cap - 1))
			;
		s->slot[j] = oslot[i];
		s->hash[j] = ohash[i];
	}
	free(oslot);
	free(ohash);
}

int
addr_set_add(struct addr_set *s, const char *a)
{
	unsigned long h = addr_hash(a);
	size_t j;

	if ((s->n + 1) * 4 > s->cap * 3)
		set_grow(s);
	for (j = h & (s->cap - 1); s->slot[j] != NULL;
	    j = (j + 1) & (s->cap - 1))
		if (s->hash[j] == h && addr_same(s->slot[j], a))
			return 0;
	s->slot[j] = xstrdup(a);
	s->hash[j] = h;
	s->n++;
	return 1;
}

void
addr_set_free(struct addr_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	free(s->hash);
	free(s);
}
