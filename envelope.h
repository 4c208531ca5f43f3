/*
 * envelope.h - who a message is from and to: recipients from the
 * command line, the -t headers or -bs, through the aliases file,
 * qualified with a domain, checked (addr.c) and de-duplicated in O(n);
 * the envelope sender in SPEC's order.  Nothing here prints or exits.
 */
#ifndef SMTPSEND_ENVELOPE_H
#define SMTPSEND_ENVELOPE_H

#include "util.h"

struct opts;
struct msg;

struct envelope {
	char		*sender;	/* "" = the null sender */
	struct strv	 rcpt;		/* qualified, checked, unique */
};

/* The settings that make addresses (maildomain) are sane: FAIL_CONFIG. */
int	 envelope_check(const struct opts *, struct fail *);

/*
 * The address an added From: header gets: -f (or the config's from),
 * else what envelope_sender would pick without a message.  FAIL_DATA
 * for a bad address.
 */
char	*envelope_header_from(const struct opts *, struct fail *);

/*
 * Build the envelope for a message to send: recipients from args (each
 * an RFC 5322 address list) and, with -t, the message's headers; then
 * aliases, qualification, checks.  m may be NULL (no message yet).
 * Failures: FAIL_DATA (a bad address: the message names it), FAIL_CONFIG
 * (the aliases file, a bad maildomain).  An empty recipient list is not
 * a failure here.
 */
int	 envelope_build(struct envelope *, const struct opts *, char **args,
	    int nargs, struct msg *m, struct fail *);

/* The same for -bs: sender and recipients as the local client gave
 * them (RFC 5321 paths without brackets). */
int	 envelope_smtp(struct envelope *, const struct opts *,
	    const char *sender, const struct strv *rcpts, struct fail *);

void	 envelope_free(struct envelope *);

#endif
