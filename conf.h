/*
 * conf.h - configuration files: the smtpsend/msmtp config file, and
 * ~/.netrc, the password source that ftp(1), curl and msmtp share.
 */
#ifndef SMTPSEND_CONF_H
#define SMTPSEND_CONF_H

#include "util.h"

/* Bytes of a config or netrc file read: real ones are a few KiB; this
 * bounds a path that names something huge (/dev/zero) by mistake. */
#define CONF_FILE_MAX	(1024 * 1024)
#define NETRC_MAX	CONF_FILE_MAX

/* Bytes of one config line: a value is at most a path (PATH_MAX is
 * 4096 on Linux) or a passwordeval command; twice that leaves room for
 * the key and quoting, and a binary file fails on its first line
 * instead of being taken for one huge value. */
#define CONF_LINE_MAX	8192

/*
 * One setting.  key is canonical: a smtpsend long option name without
 * "--" (msmtp's tls_trust_file is "tls-trust-file"), or one of the
 * config-only keys "password", "aliases", "auto-from", "maildomain",
 * "set-from-header", "set-date-header", "set-msgid-header",
 * "remove-bcc-headers", "undisclosed-recipients", "allow-from-override",
 * "tls-host", "source-ip".  value is translated to smtpsend's form
 * (see conf_load) and never NULL; file and line say where it was
 * written, for error messages.  All strings belong to the struct conf.
 */
struct conf_item {
	const char	*key;
	const char	*value;
	const char	*file;
	int		 line;
};

struct conf_store;

struct conf {
	struct conf_item	*v;	/* n settings, each key at most once */
	size_t			 n;
	char			*path;	/* the file read; NULL: none found */
	char			*account; /* account used; NULL: defaults */
	struct conf_store	*store;	/* private */
};

/*
 * Read a config file and resolve the settings of one account.
 *
 * path: the -C file, which must exist; or NULL to search
 * $XDG_CONFIG_HOME/smtpsend/config (else ~/.config/smtpsend/config),
 * ~/.smtpsendrc, /etc/smtpsend.conf and read the first that exists;
 * none is not an error (0 items, c->path NULL).
 *
 * Syntax (msmtp's): one "KEY [VALUE]" per line; blank lines and lines
 * whose first non-blank is '#' are ignored (a '#' later in a line is
 * data: passwords contain it); the value runs to the end of the line,
 * blanks around it trimmed; a value that starts with '"' is quoted and
 * ends at the next unescaped '"', with \" and \\ as its only escapes.
 * Keys are smtpsend's long option names or msmtp's (underscores and
 * dashes are the same).  "defaults" starts a section of defaults;
 * settings before any section are defaults too.  "account NAME" or
 * "account NAME : PARENT[, PARENT...]" starts an account that inherits
 * from accounts defined above it; "account default : NAME" thus makes
 * NAME the default.  As in msmtp, an account starts from the defaults
 * written above it (a later "defaults" does not reach back).
 *
 * Selection: account (-a) if non-NULL (missing: FAIL_CONFIG); else,
 * with from (-f) non-NULL and non-empty, the first account whose "from"
 * matches it, case-insensitively, as a shell glob ("*@example.org",
 * msmtp >= 1.8.16); else the account named "default"; else no account
 * and c->v holds every defaults setting.
 *
 * Result: c->v holds each key once, with the value that wins in the
 * order defaults, parents (in the order listed, each resolved the same
 * way), the account itself; a setting that says "back to the built-in
 * default" (an empty value where msmtp reads that as unset,
 * "tls_trust_file system", "timeout off", "dsn_notify off", "dsn_return
 * off", "report off") removes the key.  Values:
 *   tls            auto|starttls|implicit|off; msmtp's "tls on" becomes
 *                  starttls, or implicit with "tls_starttls off"
 *   auth           on|off|plain|login|cram-md5|scram-sha-256|
 *                  scram-sha-1|xoauth2|oauthbearer|external
 *   port           1-65535; timeout 1-86400; protocol smtp|lmtp
 *   tls-fingerprint SHA256:AA:BB:... (32 bytes, upper case)
 *   tls-min-version 1.2|1.3; report json
 *   dsn-notify     never, or a list of failure,delay,success
 *   dsn-return     full|hdrs
 *   syslog         on|off|LOG_USER|LOG_MAIL|LOG_LOCAL0..7
 *   set-from-header auto|on|off; set-date-header, set-msgid-header
 *                  auto|off
 *   tls-certcheck, auto-from, remove-bcc-headers, allow-partial,
 *   undisclosed-recipients, allow-from-override, quiet: on|off
 *   tls-trust-file, tls-cert-file, tls-key-file, logfile, aliases,
 *   queue: a leading "~/" is $HOME
 *   others (host, domain, from, user, password, passwordeval, tls-host,
 *   source-ip, maildomain): as written; from and domain may hold
 *   msmtp's %U %H %C %M, which are not expanded here.
 *
 * Trust: a file owned by anyone but the user running (geteuid()) or
 * root, or writable by group or others, is refused (FAIL_CONFIG): its
 * writer could set passwordeval, a command we run.  A file holding
 * "password" that group or others may access is refused (FAIL_CONFIG,
 * "chmod 600").  Errors are FAIL_CONFIG with
 * "FILE:LINE: what"; c is then empty.  Returns 0 or -1.  Call
 * conf_free() either way.
 */
int		 conf_load(const char *path, const char *account,
		    const char *from, struct conf *, struct fail *);
void		 conf_free(struct conf *);
/* The setting for a canonical key, or NULL. */
const struct conf_item *conf_find(const struct conf *, const char *key);
/* Its value, or NULL. */
const char	*conf_get(const struct conf *, const char *key);

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
 * A netrc owned by anyone but the user running or root is refused
 * (FAIL_CONFIG), as a config file is.  Like ftp(1), an entry that gives
 * a password is refused when the file is accessible by group or others
 * (FAIL_CONFIG, "chmod 600").
 * Returns 1 found, 0 not found (or no file), -1 error with f set.
 */
int	 conf_netrc(const char *path, const char *host, const char *user,
	    char **login, char **password, struct fail *);

#endif
