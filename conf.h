/*
 * conf.h - configuration files.  For now only ~/.netrc, the password
 * source that ftp(1), curl and msmtp share.
 */
#ifndef SMTPSEND_CONF_H
#define SMTPSEND_CONF_H

#include "util.h"

/* Bytes of a netrc read: real ones are a few KiB; this bounds a path
 * that names something huge (/dev/zero) by mistake. */
#define NETRC_MAX	(1024 * 1024)

/*
 * Look up host (and user) in a netrc file (path NULL: $HOME/.netrc).
 * Syntax as ftp(1): tokens separated by any white space, "quoted
 * tokens" with \-escapes, "machine NAME" or "default" entries holding
 * "login L", "password P", "account A"; "macdef NAME" bodies (up to an
 * empty line) skipped; a line starting with '#' in keyword position is
 * a comment.  Host names compare case-insensitively, logins exactly.
 *
 * With user non-NULL the entry must have "login user" (or no login at
 * all); else the first entry for the host decides.  "default" is used
 * only when no machine entry matched.  *login and *password are
 * malloc'ed copies, or NULL when the entry lacks them; free them with
 * sasl_secret_free() (auth.h), which wipes.
 *
 * Like ftp(1), an entry that gives a password is refused when the file
 * is accessible by group or others (FAIL_CONFIG, "chmod 600").
 * Returns 1 found, 0 not found (or no file), -1 error with f set.
 */
int	 conf_netrc(const char *path, const char *host, const char *user,
	    char **login, char **password, struct fail *);

#endif
