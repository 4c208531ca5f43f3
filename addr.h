/*
 * addr.h - the one address validator and the recipient de-duplication
 * set (SPEC "Addresses, limits and hostile bytes").
 *
 * Every address, wherever it comes from (argv, -f/-r, -t and Resent-
 * headers, aliases, config, -bs), goes through addr_check() before
 * anything is connected or formatted, so that what reaches "MAIL FROM:<"
 * and "RCPT TO:<" is an RFC 5321 4.1.2 Mailbox (RFC 6531 UTF-8 allowed)
 * of bounded size and nothing else: no space, '>' or control byte that
 * could end the path and start an ESMTP parameter or a command.
 *
 * What is accepted, exactly:
 *  - local part: a Dot-string (atext, RFC 6531 UTF8-non-ascii, no
 *    leading, trailing or double dot) or a Quoted-string (qtextSMTP,
 *    UTF8-non-ascii, quoted-pairSMTP "\" %d32-126; "" included);
 *  - domain: LDH labels of 1-63 octets, no leading or trailing hyphen, no
 *    trailing dot; a label with non-ASCII is a U-label and must convert
 *    to an A-label (libidn2, IDNA2008 with UTS 46 non-transitional
 *    mapping and NFC, the conversion conn.c makes for the relay host):
 *    the 63-octet limit then applies to the A-label, and the domain
 *    must stay within 255 octets both as written and as A-labels;
 *    ASCII labels ("xn--..." included) are taken as the LDH grammar
 *    says and left to the DNS;
 *  - address literal: "[" IPv4 "]" with four decimal 0-255 of 1-3
 *    digits and no leading zero ("01" is refused although the grammar
 *    allows it: inet_aton() and many resolvers read it as octal, so the
 *    host the user sees is not the host reached); "[IPv6:" address "]"
 *    ("IPv6" in any case) as inet_pton(AF_INET6) reads it, which takes
 *    every RFC 5321 4.1.3 form and the RFC 4291 ones the RFC's stricter
 *    group count leaves out; "[" tag ":" dcontent "]" with tag an
 *    Ldh-str and dcontent %d33-90 / %d94-126 except '<' and '>' (the
 *    RFC range has them, but a path ends at the first '>' in many
 *    servers' parsers: a literal with '>' is an injection vector);
 *  - anywhere, also inside quotes and literals: no C0, DEL or C1
 *    control (raw 0x80-0x9f is invalid UTF-8 anyway, U+0080-U+009F
 *    as UTF-8 refused) and only valid UTF-8 (util.h utf8_decode);
 *  - sizes of RFC 5321 4.5.3.1: local part 64, domain 255, path 256
 *    octets, so the mailbox itself at most 254.
 */
#ifndef SMTPSEND_ADDR_H
#define SMTPSEND_ADDR_H

#include <stddef.h>

#include "util.h"

/* RFC 5321 4.5.3.1.1-3 */
#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_PATH_MAX	256	/* "<" mailbox ">" */

enum addr_flags {
	ADDR_NULL_OK	= 1 << 0,	/* "" is the null reverse-path (a sender) */
	ADDR_LOCAL_OK	= 1 << 1,	/* no "@domain" yet (before qualification) */
	ADDR_POSTMASTER_OK = 1 << 2,	/* bare "postmaster" (any case) as RFC 5321 4.1.1.3 allows for RCPT */
};

/* What addr_check() found in a good address (all zero after a refusal). */
struct addr_info {
	size_t	 local_len;	/* octets of the local part (as written, quotes included) */
	int	 has_domain;
	int	 local_utf8;	/* the local part has non-ASCII: needs SMTPUTF8 */
	int	 domain_utf8;	/* the domain has U-labels: A-label conversion possible (RFC 5891) */
	int	 literal;	/* the domain is an address literal */
};

/*
 * Check one address in SMTP form (the Mailbox of RFC 5321 4.1.2,
 * without angle brackets; what goes between < and > in MAIL/RCPT).
 * what names it in the message ("sender", "recipient", "alias for root" ...).
 * Returns 0, or -1 with FAIL_DATA and one line:
 *   invalid <what> address "<shown>": <reason>
 * where <shown> is the address through sanitize() (util.h) cut to about
 * 60 characters (sanitize cuts visibly with "..."), and <reason> is
 * specific: "local part over 64 octets (70)", "domain over 255 octets",
 * "address over 254 octets", "control character", "invalid UTF-8",
 * "bad character ' ' in the local part", "empty label in the domain",
 * "bad address literal", "unbalanced quotes", "missing domain" ...
 * info may be NULL.
 *
 * The address is a C string; a NULL a is taken as "".  Without "@",
 * the address is a bare local part: good only with ADDR_LOCAL_OK, or
 * with ADDR_POSTMASTER_OK when it is the unquoted word "postmaster".
 * The checks run in this order, the first failure is the reason:
 * bytes (controls, UTF-8), local part, its size, domain size, domain,
 * the whole size.  Linear in the length of a, whatever it holds.
 */
int	 addr_check(const char *a, unsigned flags, const char *what,
	    struct addr_info *info, struct fail *f);

/* Same local part (exact, RFC 5321 2.4) and domain (ASCII
 * case-insensitive); for de-duplication.  */
int	 addr_same(const char *a, const char *b);
/* A hash consistent with addr_same (domain lower-cased), for O(n)
 * de-duplication of tens of thousands of recipients. */
unsigned long addr_hash(const char *a);

/*
 * A set of addresses by addr_same(), in a hash table: adding n
 * addresses costs O(n).  Any string may be added (checked or not).
 */
struct addr_set;	/* opaque */
struct addr_set *addr_set_new(void);
/* 1 if added, 0 if an addr_same() address is already in; a copy is kept. */
int	 addr_set_add(struct addr_set *, const char *a);
/* Frees the set and its copies; NULL is fine. */
void	 addr_set_free(struct addr_set *);

#endif
