/*
 * secret.h - where the password (or OAuth token) and the login come
 * from: --passwordeval, the config file's password, SMTPSEND_PASSWORD,
 * ~/.netrc (machine = the relay host) — never from a command-line
 * argument.  Nothing here prints or exits.
 */
#ifndef SMTPSEND_SECRET_H
#define SMTPSEND_SECRET_H

#include "util.h"

struct opts;

/*
 * The secret, fetched anew on each call (an OAuth helper refreshes on
 * demand): a malloc'ed string to be wiped and freed with
 * sasl_secret_free(), or NULL with FAIL_CONFIG ("no password for ...",
 * "the passwordeval command failed (exit 3)").
 */
char	*secret_get(const struct opts *, struct fail *);

/*
 * AUTH without --user: the login from ~/.netrc for the relay host.
 * 0 (o->user set, or not needed), -1 with FAIL_CONFIG.
 */
int	 secret_login(struct opts *, struct fail *);

#endif
