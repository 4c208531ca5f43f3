/*
 * conf.c - configuration files: the config file (msmtp's syntax and
 * keys, smtpsend's names) and the ~/.netrc lookup.
 *
 * Both files are read whole into one buffer and parsed in place
 * (quoted values shrink as their escapes are undone); the buffer is
 * wiped afterwards since it may hold passwords.
 *
 * The config file is parsed completely before anything is chosen, so a
 * mistake in any account is reported (as msmtp does), not only in the
 * one used today.  Each line becomes an entry (canonical key, value
 * translated to smtpsend's form) in its section; then every section is
 * resolved, in file order, to one entry per key: an account is the
 * defaults above it, then its parents' resolved entries, then its own
 * lines, the last word winning.  Parents must be defined above, so
 * file order resolves them first and inheritance cannot loop.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "conf.h"
#include "options.h"

struct lex {
	char		*p, *end;	/* *end is a NUL we added */
	int		 bol;		/* at the start of a line */
	int		 nl;		/* the last token ended the line */
	const char	*path;
};

struct ent {
	int		 used;		/* an entry is open */
	int		 match;		/* "machine" names our host */
	int		 is_default;
	const char	*login, *password;
};

static int	 read_file(const char *, char **, size_t *, struct stat *,
		    struct fail *);
static int	 lex_next(struct lex *, char **, int, struct fail *);
static int	 lex_quoted(struct lex *, char **, struct fail *);
static int	 lex_value(struct lex *, char **, const char *, struct fail *);
static void	 lex_skip_macdef(struct lex *);
static int	 ent_done(const struct ent *, const char *, struct ent *,
		    struct ent *);
static int	 netrc_parse(struct lex *, const char *, const char *,
		    struct ent *, struct fail *);
static int	 is_blank(int);
static int	 check_owner(const char *, const struct stat *, struct fail *);

int
conf_netrc(const char *path, const char *host, const char *user,
    char **login, char **password, struct fail *f)
{
	struct lex lx = { 0 };
	struct ent best = { 0 };
	struct stat st;
	char *buf, *def = NULL;
	size_t len;
	int rc;

	*login = *password = NULL;
	if (path == NULL) {
		const char *home = getenv("HOME");
		size_t n;

		if (home == NULL || home[0] == '\0')
			return 0;
		n = strlen(home) + sizeof("/.netrc");
		def = xmalloc(n);
		snprintf(def, n, "%s/.netrc", home);
		path = def;
	}
	rc = read_file(path, &buf, &len, &st, f);
	if (rc == 1 && check_owner(path, &st, f) == -1) {
		OPENSSL_cleanse(buf, len + 1);
		free(buf);
		rc = -1;
	}
	if (rc == 1) {
		lx.p = buf;
		lx.end = buf + len;
		lx.bol = 1;
		lx.path = path;
		rc = netrc_parse(&lx, host, user, &best, f);
		/* ftp(1): a password others can read is no secret */
		if (rc == 1 && best.password != NULL &&
		    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
			fail_set(f, FAIL_CONFIG, "%s holds a password and is "
			    "readable by others (mode %03o); chmod 600 %s",
			    path, (unsigned)(st.st_mode & 0777), path);
			rc = -1;
		}
		if (rc == 1) {
			*login = best.login ? xstrdup(best.login) : NULL;
			*password = best.password ? xstrdup(best.password) :
			    NULL;
		}
		OPENSSL_cleanse(buf, len + 1);
		free(buf);
	}
	free(def);
	return rc;
}

/* 1 read, 0 no such file, -1 error.  *buf gets a NUL after len bytes. */
static int
read_file(const char *path, char **buf, size_t *len, struct stat *st,
    struct fail *f)
{
	int fd;
	ssize_t n;
	size_t got = 0;
	char *b;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		fail_set(f, FAIL_CONFIG, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1) {
		fail_set(f, FAIL_CONFIG, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_size > CONF_FILE_MAX) {
		fail_set(f, FAIL_CONFIG, "%s: not a regular file of at most "
		    "1 MiB", path);
		close(fd);
		return -1;
	}
	/* One byte more than allowed, to notice a file that grew. */
	b = xmalloc(CONF_FILE_MAX + 2);
	while (got <= CONF_FILE_MAX &&
	    (n = read(fd, b + got, CONF_FILE_MAX + 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fail_set(f, FAIL_CONFIG, "%s: %s", path,
			    strerror(errno));
			got = CONF_FILE_MAX + 1;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got > CONF_FILE_MAX) {
		fail_set(f, FAIL_CONFIG, "%s: larger than 1 MiB", path);
		OPENSSL_cleanse(b, CONF_FILE_MAX + 2);
		free(b);
		return -1;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 1;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

/*
 * The next token, NUL-terminated in place: 1, 0 at the end, -1 error.
 * keyword: a '#' starting a line is a comment here (never in a value,
 * where "#" may start a password).
 */
static int
lex_next(struct lex *lx, char **tok, int keyword, struct fail *f)
{
	for (;;) {
		while (lx->p < lx->end && is_blank(*lx->p)) {
			if (*lx->p == '\n')
				lx->bol = 1;
			lx->p++;
		}
		if (lx->p >= lx->end)
			return 0;
		if (!(keyword && lx->bol && *lx->p == '#'))
			break;
		while (lx->p < lx->end && *lx->p != '\n')
			lx->p++;
	}
	lx->bol = 0;
	lx->nl = 0;
	if (*lx->p == '"')
		return lex_quoted(lx, tok, f);
	*tok = lx->p;
	while (lx->p < lx->end && !is_blank(*lx->p))
		lx->p++;
	if (lx->p < lx->end) {
		if (*lx->p == '\n')
			lx->nl = lx->bol = 1;
		*lx->p++ = '\0';
	}
	return 1;
}

/* "a \"quoted\" token": \n, \r, \t and \<any> escapes (curl's set). */
static int
lex_quoted(struct lex *lx, char **tok, struct fail *f)
{
	char *r = lx->p + 1, *w = r;

	*tok = w;
	for (; r < lx->end && *r != '"'; r++) {
		if (*r == '\\' && r + 1 < lx->end) {
			r++;
			*w++ = *r == 'n' ? '\n' : *r == 'r' ? '\r' :
			    *r == 't' ? '\t' : *r;
		} else
			*w++ = *r;
	}
	if (r >= lx->end) {
		fail_set(f, FAIL_CONFIG, "%s: unterminated quoted token",
		    lx->path);
		return -1;
	}
	*w = '\0';
	lx->p = r + 1;
	return 1;
}

/* The value after a keyword; a keyword ending the file is an error. */
static int
lex_value(struct lex *lx, char **val, const char *kw, struct fail *f)
{
	int rc = lex_next(lx, val, 0, f);

	if (rc == 0)
		fail_set(f, FAIL_CONFIG, "%s: \"%s\" without a value",
		    lx->path, kw);
	return rc == 1 ? 0 : -1;
}

/* ftp(1): a macro's body runs from the next line to an empty line. */
static void
lex_skip_macdef(struct lex *lx)
{
	if (!lx->nl) {
		char *eol = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));

		lx->p = eol ? eol + 1 : lx->end;
	}
	while (lx->p < lx->end) {
		char *eol = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
		char *stop = eol ? eol : lx->end;
		int blank = 1;

		for (char *q = lx->p; q < stop; q++)
			if (!is_blank(*q))
				blank = 0;
		lx->p = eol ? eol + 1 : lx->end;
		if (blank)
			break;
	}
	lx->bol = 1;
}

/*
 * An entry ended: 1 if it is the answer (machine match, login fits),
 * else 0; the first fitting "default" is kept aside in *def.
 */
static int
ent_done(const struct ent *cur, const char *user, struct ent *best,
    struct ent *def)
{
	if (!cur->used)
		return 0;
	if (user != NULL && cur->login != NULL && strcmp(cur->login, user))
		return 0;
	if (cur->is_default) {
		if (!def->used)
			*def = *cur;
		return 0;
	}
	if (!cur->match)
		return 0;
	*best = *cur;
	return 1;
}

static int
netrc_parse(struct lex *lx, const char *host, const char *user,
    struct ent *best, struct fail *f)
{
	struct ent cur = { 0 }, def = { 0 };
	char *tok, *val = NULL;
	int rc;

	while ((rc = lex_next(lx, &tok, 1, f)) == 1) {
		int is_mach = strcmp(tok, "machine") == 0;

		if (is_mach || strcmp(tok, "default") == 0) {
			if (ent_done(&cur, user, best, &def))
				return 1;
			memset(&cur, 0, sizeof(cur));
			cur.used = 1;
			cur.is_default = !is_mach;
			if (is_mach && lex_value(lx, &val, tok, f) == -1)
				return -1;
			cur.match = is_mach && strcasecmp(val, host) == 0;
		} else if (strcmp(tok, "login") == 0 ||
		    strcmp(tok, "password") == 0 ||
		    strcmp(tok, "account") == 0 ||
		    strcmp(tok, "macdef") == 0) {
			if (lex_value(lx, &val, tok, f) == -1)
				return -1;
			if (tok[0] == 'l')
				cur.login = val;
			else if (tok[0] == 'p')
				cur.password = val;
			else if (tok[0] == 'm')
				lex_skip_macdef(lx);
		}
		/* anything else: ignored, as curl does */
	}
	if (rc == -1)
		return -1;
	if (ent_done(&cur, user, best, &def))
		return 1;
	if (def.used) {
		*best = def;
		return 1;
	}
	return 0;
}

/* ---- the config file ---- */

/* How a key's value is checked and translated. */
enum vtype {
	V_STR,		/* as written; empty: back to the default */
	V_TEXT,		/* as written, empty included */
	V_NEED,		/* as written, must not be empty */
	V_PATH,		/* a file, "~/" expanded; empty: the default */
	V_TRUST,	/* V_PATH; "system" is the default store */
	V_BOOL,		/* on|off */
	V_NOT,		/* on|off inverted: msmtp's keepbcc */
	V_OFF,		/* no value, means off: tls_nocertcheck */
	V_TLS,		/* on|off (msmtp) or auto|starttls|implicit|off */
	V_AUTH,
	V_PORT,
	V_TIMEOUT,
	V_PROTO,
	V_FP,
	V_TLSMIN,
	V_NOTIFY,
	V_RET,
	V_SYSLOG,
	V_SETFROM,	/* auto|on|off */
	V_AUTOOFF,	/* auto|off */
	V_MISSING,	/* msmtp's add_missing_*: on -> auto */
	V_REPORT,
	V_IGNORE,	/* accepted, no effect */
	V_UNSUP		/* an error unless empty or off */
};

struct keydef {
	const char	*name;		/* dashes; '_' in a file reads as '-' */
	const char	*key;		/* canonical; NULL: no setting */
	enum vtype	 type;
};

/* msmtp's tls_starttls, folded into "tls" once an account is resolved */
#define KEY_STARTTLS	"tls-starttls"

/*
 * msmtp's names and the keys whose values need translating.  Every
 * other config key is a setting of options.c's table under its own name
 * (opts_config_key): a string, or on/off for a flag, passed through for
 * options.c to check -- so a new setting needs no row here.
 */
static const struct keydef keydefs[] = {
	{ "host",			"host",			V_NEED },
	{ "port",			"port",			V_PORT },
	{ "protocol",			"protocol",		V_PROTO },
	{ "timeout",			"timeout",		V_TIMEOUT },
	{ "connect-timeout",		"timeout",		V_TIMEOUT },
	{ "tls",			"tls",			V_TLS },
	{ "tls-starttls",		KEY_STARTTLS,		V_BOOL },
	{ "tls-nostarttls",		KEY_STARTTLS,		V_OFF },
	{ "tls-trust-file",		"tls-trust-file",	V_TRUST },
	{ "tls-cert-file",		"tls-cert-file",	V_PATH },
	{ "tls-key-file",		"tls-key-file",		V_PATH },
	{ "tls-fingerprint",		"tls-fingerprint",	V_FP },
	{ "tls-certcheck",		"tls-certcheck",	V_BOOL },
	{ "tls-nocertcheck",		"tls-certcheck",	V_OFF },
	{ "tls-min-version",		"tls-min-version",	V_TLSMIN },
	{ "tls-host-override",		"tls-host",		V_STR },
	{ "tls-min-dh-prime-bits",	NULL,			V_IGNORE },
	{ "tls-priorities",		NULL,			V_IGNORE },
	{ "tls-crl-file",		NULL,			V_UNSUP },
	{ "tls-force-sslv3",		NULL,			V_UNSUP },
	{ "auth",			"auth",			V_AUTH },
	{ "ntlmdomain",			NULL,			V_IGNORE },
	{ "maildomain",			"maildomain",		V_TEXT },
	{ "set-from-header",		"set-from-header",	V_SETFROM },
	{ "add-missing-from-header",	"set-from-header",	V_MISSING },
	{ "set-date-header",		"set-date-header",	V_AUTOOFF },
	{ "add-missing-date-header",	"set-date-header",	V_MISSING },
	{ "set-msgid-header",		"set-msgid-header",	V_AUTOOFF },
	{ "keepbcc",			"remove-bcc-headers",	V_NOT },
	{ "aliases",			"aliases",		V_PATH },
	{ "dsn-notify",			"dsn-notify",		V_NOTIFY },
	{ "dsn-return",			"dsn-return",		V_RET },
	{ "queue",			"queue",		V_PATH },
	{ "logfile",			"logfile",		V_PATH },
	{ "logfile-time-format",	NULL,			V_IGNORE },
	{ "syslog",			"syslog",		V_SYSLOG },
	{ "report",			"report",		V_REPORT },
	{ "proxy-host",			NULL,			V_UNSUP },
	{ "proxy-port",			NULL,			V_UNSUP },
	{ "socket",			NULL,			V_UNSUP },
	{ "eval",			NULL,			V_UNSUP },
};

/* The longest key name above, with room to spare. */
#define KEY_NAME_MAX	32

struct cent {
	const char	*key;		/* canonical, from keydefs */
	char		*val;		/* NULL: back to the built-in default */
	int		 line;
};

/* A growable list of entries, resolved or not. */
struct seq {
	struct cent	**v;
	size_t		  n, cap;
};

struct sect {
	char		*name;		/* NULL: a defaults section */
	size_t		*parents;	/* indexes into sects */
	size_t		 np;
	int		 line;
	size_t		 first, count;	/* its entries in ents */
	struct seq	 eff;		/* an account, resolved */
};

struct conf_store {
	struct cent	*ents;
	size_t		 nents, capents;
	struct sect	*sects;
	size_t		 nsects, capsects;
	struct seq	 defs;		/* every defaults entry, resolved */
};

struct pctx {
	struct conf_store *st;
	const char	*path;
	int		 line;
	int		 has_pw;	/* a "password" line was seen */
	struct fail	*f;
};

static int	 perr(struct pctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static char	*path_cat(const char *, const char *);
static int	 open_conf(const char *, char **, char **, size_t *,
		    struct stat *, struct fail *);
static int	 parse_conf(struct pctx *, char *, size_t);
static int	 parse_line(struct pctx *, char *);
static int	 parse_account(struct pctx *, char *);
static int	 unquote(struct pctx *, char *);
static const struct keydef *find_key(const char *);
static int	 translate(struct pctx *, const struct keydef *,
		    const char *, const char *, char **);
static int	 tr_simple(struct pctx *, const struct keydef *,
		    const char *, const char *, char **);
static int	 tr_enum(struct pctx *, const struct keydef *,
		    const char *, const char *, char **);
static int	 tr_number(struct pctx *, const char *, const char *,
		    long, long, char **);
static int	 tr_path(struct pctx *, const char *, const char *, char **);
static int	 tr_fp(struct pctx *, const char *, const char *, char **);
static int	 hex_val(int);
static int	 tr_notify(struct pctx *, const char *, const char *,
		    char **);
static int	 tr_syslog(struct pctx *, const char *, const char *,
		    char **);
static char	*trim(char *);
static char	*lower(char *);
static int	 is_sp(int);
static void	 new_sect(struct conf_store *, char *, int);
static void	 add_ent(struct conf_store *, const char *, char *, int);
static long	 find_sect(const struct conf_store *, const char *);
static void	 seq_add(struct seq *, struct cent *);
static void	 seq_dedupe(struct seq *);
static void	 resolve(struct conf_store *);
static long	 match_from(const struct conf_store *, const char *);
static const struct seq *select_seq(struct conf *, const char *,
		    const char *, struct fail *);
static const char *seq_value(const struct seq *, const char *);
static void	 make_items(struct conf *, const struct seq *);
static int	 check_mode(const char *, const struct stat *, int,
		    struct fail *);

int
conf_load(const char *path, const char *account, const char *from,
    struct conf *c, struct fail *f)
{
	struct pctx px = { 0 };
	const struct seq *sel;
	struct stat st;
	char *buf;
	size_t len;
	int rc;

	memset(c, 0, sizeof(*c));
	c->store = xcalloc(1, sizeof(*c->store));
	rc = open_conf(path, &c->path, &buf, &len, &st, f);
	if (rc == -1)
		goto fail;
	if (rc == 0) {
		if (account == NULL)
			return 0;
		fail_set(f, FAIL_CONFIG, "no account '%s': no configuration "
		    "file (~/.config/smtpsend/config, ~/.smtpsendrc, "
		    "/etc/smtpsend.conf; or -C FILE)", account);
		goto fail;
	}
	px.st = c->store;
	px.path = c->path;
	px.f = f;
	rc = parse_conf(&px, buf, len);
	OPENSSL_cleanse(buf, len + 1);
	free(buf);
	if (rc == -1 || check_mode(c->path, &st, px.has_pw, f) == -1)
		goto fail;
	resolve(c->store);
	if ((sel = select_seq(c, account, from, f)) == NULL)
		goto fail;
	make_items(c, sel);
	return 0;
fail:
	conf_free(c);
	return -1;
}

void
conf_free(struct conf *c)
{
	struct conf_store *st = c->store;

	if (st != NULL) {
		for (size_t i = 0; i < st->nents; i++) {
			char *v = st->ents[i].val;

			/* values may be secrets: password, passwordeval */
			if (v != NULL) {
				OPENSSL_cleanse(v, strlen(v));
				free(v);
			}
		}
		for (size_t i = 0; i < st->nsects; i++) {
			free(st->sects[i].name);
			free(st->sects[i].parents);
			free(st->sects[i].eff.v);
		}
		free(st->ents);
		free(st->sects);
		free(st->defs.v);
		free(st);
	}
	free(c->v);
	free(c->path);
	free(c->account);
	memset(c, 0, sizeof(*c));
}

const struct conf_item *
conf_find(const struct conf *c, const char *key)
{
	for (size_t i = c->n; i-- > 0;)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

const char *
conf_get(const struct conf *c, const char *key)
{
	const struct conf_item *it = conf_find(c, key);

	return it != NULL ? it->value : NULL;
}

/* "FILE:LINE: message" as FAIL_CONFIG; returns -1.  A message longer
 * than struct fail holds (it quotes the file) is cut visibly. */
static int
perr(struct pctx *px, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	fail_set(px->f, FAIL_CONFIG, "%s:%d: %s", px->path, px->line, msg);
	return -1;
}

/*
 * Read the -C file (which must exist) or the first of the search list
 * that exists.  1 read (*found malloc'ed), 0 none, -1 error.
 */
/* dir + name, malloc'ed, whole whatever their length. */
static char *
path_cat(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = xmalloc(a + b + 1);

	memcpy(p, dir, a);
	memcpy(p + a, name, b + 1);
	return p;
}

static int
open_conf(const char *path, char **found, char **buf, size_t *len,
    struct stat *st, struct fail *f)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char *cand[3];
	size_t nc = 0;
	int rc = 0;

	if (path != NULL) {
		rc = read_file(path, buf, len, st, f);
		if (rc == 0)
			fail_set(f, FAIL_CONFIG, "%s: %s", path,
			    strerror(ENOENT));
		if (rc == 1)
			*found = xstrdup(path);
		return rc == 1 ? 1 : -1;
	}
	if (home != NULL && home[0] == '\0')
		home = NULL;
	/* XDG Base Directory: only an absolute $XDG_CONFIG_HOME counts */
	if (xdg != NULL && xdg[0] == '/')
		cand[nc++] = path_cat(xdg, "/smtpsend/config");
	else if (home != NULL)
		cand[nc++] = path_cat(home, "/.config/smtpsend/config");
	if (home != NULL)
		cand[nc++] = path_cat(home, "/.smtpsendrc");
	cand[nc++] = xstrdup("/etc/smtpsend.conf");
	for (size_t i = 0; i < nc && rc == 0; i++) {
		struct stat sb;

		/* absent (or a path through a file): try the next */
		if (stat(cand[i], &sb) == -1 &&
		    (errno == ENOENT || errno == ENOTDIR))
			continue;
		if ((rc = read_file(cand[i], buf, len, st, f)) == 1)
			*found = xstrdup(cand[i]);
	}
	for (size_t i = 0; i < nc; i++)
		free(cand[i]);
	return rc;
}

/*
 * The owner of a file may write it whatever its mode: a config owned by
 * someone else (root reading ~user/.msmtprc through sudo's $HOME) lets
 * them set passwordeval, a command we would run as ourselves.  Only
 * our own files and root's (/etc/smtpsend.conf) are trusted, as for a
 * file writable by group or others.
 */
static int
check_owner(const char *path, const struct stat *st, struct fail *f)
{
	if (st->st_uid == geteuid() || st->st_uid == 0)
		return 0;
	fail_set(f, FAIL_CONFIG, "%s is owned by uid %lu, not by uid %lu "
	    "running smtpsend or by root: its owner could make smtpsend run "
	    "commands as you; refused", path, (unsigned long)st->st_uid,
	    (unsigned long)geteuid());
	return -1;
}

/*
 * A password must stay between us and the file's owner (msmtp, ftp(1)
 * do the same); and whoever may write the file may set passwordeval,
 * a command we run, or point host at their own server.
 */
static int
check_mode(const char *path, const struct stat *st, int has_pw,
    struct fail *f)
{
	unsigned mode = (unsigned)(st->st_mode & 0777);

	if (check_owner(path, st, f) == -1)
		return -1;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		fail_set(f, FAIL_CONFIG, "%s is writable by group or others "
		    "(mode %03o), who could make smtpsend run commands as "
		    "you; chmod go-w %s", path, mode, path);
		return -1;
	}
	if (has_pw && (st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		fail_set(f, FAIL_CONFIG, "%s holds a password and is readable "
		    "by others (mode %03o); chmod 600 %s", path, mode, path);
		return -1;
	}
	return 0;
}

static int
parse_conf(struct pctx *px, char *buf, size_t len)
{
	char *p = buf, *end = buf + len;

	/* a UTF-8 byte order mark, as some Windows editors write */
	if (len >= 3 && memcmp(p, "\357\273\277", 3) == 0)
		p += 3;
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		char *lend = eol != NULL ? eol : end;

		px->line++;
		if ((size_t)(lend - p) > CONF_LINE_MAX)
			return perr(px, "line longer than %d bytes",
			    CONF_LINE_MAX);
		if (lend > p && lend[-1] == '\r')
			lend--;
		/* a value must not smuggle CR, LF or NUL into SMTP */
		for (char *q = p; q < lend; q++) {
			unsigned char ch = (unsigned char)*q;

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return perr(px, "control character 0x%02x",
				    ch);
		}
		*lend = '\0';
		if (parse_line(px, p) == -1)
			return -1;
		p = eol != NULL ? eol + 1 : end;
	}
	return 0;
}

static int
is_sp(int c)
{
	return c == ' ' || c == '\t';
}

/* Blanks off both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (is_sp(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_sp(e[-1]))
		e--;
	*e = '\0';
	return s;
}

static int
parse_line(struct pctx *px, char *s)
{
	const struct keydef *kd;
	char *kw, *val, *out = NULL;
	int rc;

	s = trim(s);
	if (*s == '\0' || *s == '#')
		return 0;
	kw = s;
	while (*s != '\0' && !is_sp(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	val = trim(s);
	if (strcmp(kw, "defaults") == 0) {
		if (*val != '\0')
			return perr(px, "'defaults' takes no value");
		new_sect(px->st, NULL, px->line);
		return 0;
	}
	if (strcmp(kw, "account") == 0)
		return parse_account(px, val);
	if ((kd = find_key(kw)) == NULL)
		return perr(px, "unknown key '%s'%s", kw, strchr(kw, '=') ?
		    " (write KEY VALUE, without '=')" : "");
	if (*val == '"' && unquote(px, val) == -1)
		return -1;
	if (strcmp(kd->name, "password") == 0)
		px->has_pw = 1;
	if ((rc = translate(px, kd, kw, val, &out)) != 0)
		return rc == 1 ? 0 : -1;
	/* settings above any section are defaults */
	if (px->st->nsects == 0)
		new_sect(px->st, NULL, px->line);
	add_ent(px->st, kd->key, out, px->line);
	return 0;
}

/* "NAME" or "NAME : PARENT[, PARENT...]"; parents defined above. */
static int
parse_account(struct pctx *px, char *val)
{
	struct conf_store *st = px->st;
	char *colon = strchr(val, ':'), *name, *list;
	struct sect *sc;
	long at;

	if (colon != NULL)
		*colon = '\0';
	name = trim(val);
	if (*name == '\0')
		return perr(px, "'account' needs a name");
	if (strpbrk(name, " \t,\"") != NULL)
		return perr(px, "bad account name '%s'", name);
	if ((at = find_sect(st, name)) != -1)
		return perr(px, "account '%s' is defined twice (first on "
		    "line %d)", name, st->sects[at].line);
	new_sect(st, xstrdup(name), px->line);
	sc = &st->sects[st->nsects - 1];
	if (colon == NULL)
		return 0;
	list = colon + 1;
	for (;;) {
		char *comma = strchr(list, ',');
		char *pn;

		if (comma != NULL)
			*comma = '\0';
		pn = trim(list);
		if (*pn == '\0')
			return perr(px, "account '%s': empty parent name",
			    name);
		if ((at = find_sect(st, pn)) == -1 ||
		    (size_t)at == st->nsects - 1)
			return perr(px, "account '%s' inherits from '%s', "
			    "which is not defined above it", name, pn);
		sc->parents = xrealloc(sc->parents,
		    (sc->np + 1) * sizeof(*sc->parents));
		sc->parents[sc->np++] = (size_t)at;
		if (comma == NULL)
			break;
		list = comma + 1;
	}
	return 0;
}

/* A value in double quotes, undone in place: \" and \\ only. */
static int
unquote(struct pctx *px, char *s)
{
	char *r = s + 1, *w = s;

	for (; *r != '"'; r++) {
		if (*r == '\0')
			return perr(px, "unterminated quoted value (no "
			    "closing '\"')");
		if (*r == '\\') {
			r++;
			if (*r != '"' && *r != '\\')
				return perr(px, "bad escape in a quoted value "
				    "(only \\\" and \\\\)");
		}
		*w++ = *r;
	}
	if (r[1] != '\0')
		return perr(px, "text after the closing '\"' of a quoted "
		    "value");
	*w = '\0';
	return 0;
}

static const struct keydef *
find_key(const char *kw)
{
	static struct keydef synth;
	char norm[KEY_NAME_MAX];
	size_t i;
	int flag;

	for (i = 0; kw[i] != '\0'; i++) {
		if (i == sizeof(norm) - 1)
			return NULL;
		norm[i] = kw[i] == '_' ? '-' : kw[i];
	}
	norm[i] = '\0';
	for (i = 0; i < sizeof(keydefs) / sizeof(keydefs[0]); i++)
		if (strcmp(keydefs[i].name, norm) == 0)
			return &keydefs[i];
	if ((synth.key = opts_config_key(norm, &flag)) == NULL)
		return NULL;
	synth.name = synth.key;
	synth.type = flag ? V_BOOL : V_STR;
	return &synth;
}


/*
 * The value in smtpsend's form: 0 with *out malloc'ed (NULL: back to
 * the built-in default), 1 for a key without effect, -1 error.
 */
static int
translate(struct pctx *px, const struct keydef *kd, const char *kw,
    const char *v, char **out)
{
	*out = NULL;
	switch (kd->type) {
	case V_IGNORE:
		return 1;
	case V_UNSUP:
		if (*v == '\0' || parse_onoff(v) == 0)
			return 1;
		return perr(px, "'%s' is not supported by smtpsend", kw);
	case V_PORT:
		return tr_number(px, kw, v, 1, 65535, out);
	case V_TIMEOUT:
		if (strcasecmp(v, "off") == 0)
			return 0;
		/* a day: far beyond RFC 5321 4.5.3.2; catches typos */
		return tr_number(px, kw, v, 1, 86400, out);
	case V_PATH:
	case V_TRUST:
		if (*v == '\0' ||
		    (kd->type == V_TRUST && strcmp(v, "system") == 0))
			return 0;
		return tr_path(px, kw, v, out);
	case V_FP:
		return *v == '\0' ? 0 : tr_fp(px, kw, v, out);
	case V_RET:
		if (strcasecmp(v, "off") == 0)
			return 0;
		return tr_enum(px, kd, kw, v, out);
	case V_REPORT:
		if (parse_onoff(v) == 0)
			return 0;
		return tr_enum(px, kd, kw, v, out);
	case V_NOTIFY:
		return tr_notify(px, kw, v, out);
	case V_SYSLOG:
		return tr_syslog(px, kw, v, out);
	case V_STR:
	case V_TEXT:
	case V_NEED:
	case V_BOOL:
	case V_NOT:
	case V_OFF:
	case V_MISSING:
		return tr_simple(px, kd, kw, v, out);
	default:
		return tr_enum(px, kd, kw, v, out);
	}
}

/* Strings and booleans. */
static int
tr_simple(struct pctx *px, const struct keydef *kd, const char *kw,
    const char *v, char **out)
{
	int b;

	switch (kd->type) {
	case V_STR:
		*out = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	case V_TEXT:
		*out = xstrdup(v);
		return 0;
	case V_NEED:
		if (*v == '\0')
			return perr(px, "'%s' needs a value", kw);
		*out = xstrdup(v);
		return 0;
	case V_OFF:
		if (*v != '\0')
			return perr(px, "'%s' takes no value", kw);
		*out = xstrdup("off");
		return 0;
	default:
		break;
	}
	if ((b = parse_onoff(v)) == -1)
		return perr(px, "%s: '%s' is not on or off", kw, v);
	if (kd->type == V_NOT)
		b = !b;
	if (kd->type == V_MISSING)
		*out = xstrdup(b ? "auto" : "off");
	else
		*out = xstrdup(b ? "on" : "off");
	return 0;
}

/* Keys with a fixed set of words (resets handled by translate()). */
static const struct {
	enum vtype	 type;
	const char	*words[10];
	int		 bools;		/* 2: on/off spellings, 1: off only */
	const char	*want;
} enums[] = {
	{ V_TLS, { "auto", "starttls", "implicit" }, 2,
	    "on, off, auto, starttls or implicit" },
	{ V_AUTH, { "plain", "login", "cram-md5", "scram-sha-256",
	    "scram-sha-1", "xoauth2", "oauthbearer", "external" }, 2,
	    "on, off or a mechanism: plain, login, cram-md5, scram-sha-256, "
	    "scram-sha-1, xoauth2, oauthbearer, external" },
	{ V_PROTO, { "smtp", "lmtp" }, 0, "smtp or lmtp" },
	{ V_TLSMIN, { "1.2", "1.3" }, 0, "1.2 or 1.3" },
	{ V_RET, { "full", "hdrs", "headers" }, 0, "off, full or headers" },
	{ V_SETFROM, { "auto" }, 2, "auto, on or off" },
	{ V_AUTOOFF, { "auto" }, 1, "auto or off" },
	{ V_REPORT, { "json" }, 0, "json or off" },
};

static int
tr_enum(struct pctx *px, const struct keydef *kd, const char *kw,
    const char *v, char **out)
{
	/* msmtp has them; smtpsend has no GSS-API, NTLM or DIGEST-MD5 */
	static const char *const noauth[] = { "gssapi", "ntlm", "digest-md5" };
	size_t i;
	int b = parse_onoff(v);

	for (i = 0; i < sizeof(enums) / sizeof(enums[0]); i++)
		if (enums[i].type == kd->type)
			break;
	if (i == sizeof(enums) / sizeof(enums[0]))
		return perr(px, "%s: internal error", kw);
	if (kd->type == V_AUTH)
		for (size_t j = 0; j < sizeof(noauth) / sizeof(noauth[0]); j++)
			if (strcasecmp(v, noauth[j]) == 0)
				return perr(px, "%s: '%s' is not supported "
				    "by smtpsend", kw, v);
	if ((enums[i].bools == 2 && b != -1) ||
	    (enums[i].bools == 1 && b == 0)) {
		*out = xstrdup(b ? "on" : "off");
		return 0;
	}
	for (const char *const *w = enums[i].words; *w != NULL; w++)
		if (strcasecmp(v, *w) == 0) {
			*out = xstrdup(strcmp(*w, "headers") == 0 ? "hdrs" :
			    *w);
			return 0;
		}
	return perr(px, "%s: '%s' is not %s", kw, v, enums[i].want);
}

/* A decimal number in [lo, hi], nothing else. */
static int
tr_number(struct pctx *px, const char *kw, const char *v, long lo,
    long hi, char **out)
{
	if (parse_number(v, lo, hi) < 0)
		return perr(px, "%s: '%s' is not a number from %ld to %ld",
		    kw, v, lo, hi);
	*out = xstrdup(v);
	/* leading zeros: keep the value canonical */
	while ((*out)[0] == '0' && (*out)[1] != '\0')
		memmove(*out, *out + 1, strlen(*out));
	return 0;
}

/* msmtp: a file name's leading '~' is $HOME ("~user" is not ours). */
static int
tr_path(struct pctx *px, const char *kw, const char *v, char **out)
{
	const char *home = getenv("HOME");
	size_t n;

	if (v[0] != '~' || (v[1] != '\0' && v[1] != '/')) {
		*out = xstrdup(v);
		return 0;
	}
	if (home == NULL || home[0] == '\0')
		return perr(px, "%s: '%s' starts with ~ but $HOME is not set",
		    kw, v);
	n = strlen(home) + strlen(v);
	*out = xmalloc(n);
	snprintf(*out, n, "%s%s", home, v + 1);
	return 0;
}

/*
 * msmtp's "AA:BB:..." (colons optional, "SHA256:" prefix allowed) to
 * "SHA256:AA:BB:...".  SHA-1 and MD5 pins are refused: both hashes
 * have practical collisions, and one algorithm keeps the pin check
 * simple.
 */
static int
hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
tr_fp(struct pctx *px, const char *kw, const char *v, char **out)
{
	static const char hexd[] = "0123456789ABCDEF";
	unsigned char b[32];
	size_t n = 0;
	int prefixed = 0;
	char *w;

	if (strncasecmp(v, "sha1:", 5) == 0 || strncasecmp(v, "md5:", 4) ==
	    0) {
		perr(px, "%s: only SHA-256 fingerprints are supported", kw);
		fail_hint(px->f, HINT_SERVERINFO);
		return -1;
	}
	if (strncasecmp(v, "sha256:", 7) == 0) {
		v += 7;
		prefixed = 1;
	}
	/* count all the bytes, keep the first 32 */
	for (const char *p = v; *p != '\0'; p++) {
		int hi, lo;

		if (*p == ':')
			continue;
		hi = hex_val(p[0]);
		lo = hi == -1 ? -1 : hex_val(p[1]);
		if (lo == -1)
			return perr(px, "%s: not a fingerprint (hex bytes as "
			    "AA:BB:...)", kw);
		if (n < sizeof(b))
			b[n] = (unsigned char)(hi << 4 | lo);
		n++;
		p++;
	}
	if (n != 32) {
		if (!prefixed && (n == 20 || n == 16)) {
			perr(px, "%s: only SHA-256 fingerprints are "
			    "supported, this is %s", kw, n == 20 ? "SHA-1" :
			    "MD5");
			fail_hint(px->f, HINT_SERVERINFO);
			return -1;
		}
		return perr(px, "%s: not a SHA-256 fingerprint (32 hex bytes "
		    "as AA:BB:...)", kw);
	}
	*out = w = xmalloc(7 + 32 * 3);
	memcpy(w, "SHA256:", 7);
	w += 7;
	for (size_t i = 0; i < 32; i++) {
		*w++ = hexd[b[i] >> 4];
		*w++ = hexd[b[i] & 15];
		*w++ = i == 31 ? '\0' : ':';
	}
	return 0;
}

/* msmtp: off, never, or a list of failure,delay,success (no blanks). */
static int
tr_notify(struct pctx *px, const char *kw, const char *v, char **out)
{
	static const char *const cond[] = { "failure", "delay", "success" };
	const char *p = v;

	if (strcasecmp(v, "off") == 0)
		return 0;
	if (strcasecmp(v, "never") == 0) {
		*out = xstrdup("never");
		return 0;
	}
	for (;;) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(cond) / sizeof(cond[0]); i++)
			if (strlen(cond[i]) == n &&
			    strncasecmp(p, cond[i], n) == 0)
				break;
		if (i == sizeof(cond) / sizeof(cond[0]))
			return perr(px, "%s: '%s' is not off, never, or a list "
			    "of failure,delay,success", kw, v);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*out = lower(xstrdup(v));
	return 0;
}

/* ASCII lower case, in place. */
static char *
lower(char *s)
{
	for (char *q = s; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return s;
}

/* on|off, or the facility msmtp allows: LOG_USER, LOG_MAIL, LOG_LOCALn. */
static int
tr_syslog(struct pctx *px, const char *kw, const char *v, char **out)
{
	static const char *const fac[] = { "LOG_USER", "LOG_MAIL",
	    "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2", "LOG_LOCAL3",
	    "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7" };
	int b = parse_onoff(v);

	if (b != -1) {
		*out = xstrdup(b ? "on" : "off");
		return 0;
	}
	for (size_t i = 0; i < sizeof(fac) / sizeof(fac[0]); i++)
		if (strcasecmp(v, fac[i]) == 0) {
			*out = xstrdup(fac[i]);
			return 0;
		}
	return perr(px, "%s: '%s' is not on, off, LOG_USER, LOG_MAIL or "
	    "LOG_LOCAL0..LOG_LOCAL7", kw, v);
}

/* A section starts; name NULL for defaults (name is taken over). */
static void
new_sect(struct conf_store *st, char *name, int line)
{
	struct sect *sc;

	if (st->nsects == st->capsects) {
		st->capsects = st->capsects ? st->capsects * 2 : 8;
		st->sects = xrealloc(st->sects,
		    st->capsects * sizeof(*st->sects));
	}
	sc = &st->sects[st->nsects++];
	memset(sc, 0, sizeof(*sc));
	sc->name = name;
	sc->line = line;
	sc->first = st->nents;
}

/* An entry of the last section (val is taken over). */
static void
add_ent(struct conf_store *st, const char *key, char *val, int line)
{
	if (st->nents == st->capents) {
		st->capents = st->capents ? st->capents * 2 : 32;
		st->ents = xrealloc(st->ents, st->capents * sizeof(*st->ents));
	}
	st->ents[st->nents].key = key;
	st->ents[st->nents].val = val;
	st->ents[st->nents].line = line;
	st->nents++;
	st->sects[st->nsects - 1].count++;
}

static long
find_sect(const struct conf_store *st, const char *name)
{
	for (size_t i = 0; i < st->nsects; i++)
		if (st->sects[i].name != NULL &&
		    strcmp(st->sects[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void
seq_add(struct seq *s, struct cent *e)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = e;
}

/* Keep the last entry of each key, in their order. */
static void
seq_dedupe(struct seq *s)
{
	size_t w = s->n;

	/* walk back, packing the survivors at the end */
	for (size_t i = s->n; i-- > 0;) {
		size_t j;

		for (j = w; j < s->n; j++)
			if (strcmp(s->v[j]->key, s->v[i]->key) == 0)
				break;
		if (j == s->n)
			s->v[--w] = s->v[i];
	}
	if (w > 0)
		memmove(s->v, s->v + w, (s->n - w) * sizeof(*s->v));
	s->n -= w;
}

/*
 * Every section in file order: defaults accumulate; an account is the
 * defaults so far, then its parents (resolved already: they are above
 * it), then its own entries.  Entries do not move once parsing is over,
 * so pointers to them are safe now.
 */
static void
resolve(struct conf_store *st)
{
	for (size_t i = 0; i < st->nsects; i++) {
		struct sect *sc = &st->sects[i];
		struct seq *s = sc->name == NULL ? &st->defs : &sc->eff;

		if (sc->name != NULL)
			for (size_t j = 0; j < st->defs.n; j++)
				seq_add(s, st->defs.v[j]);
		for (size_t p = 0; p < sc->np; p++) {
			const struct seq *ps = &st->sects[sc->parents[p]].eff;

			for (size_t j = 0; j < ps->n; j++)
				seq_add(s, ps->v[j]);
		}
		for (size_t j = 0; j < sc->count; j++)
			seq_add(s, &st->ents[sc->first + j]);
		seq_dedupe(s);
	}
}

static const char *
seq_value(const struct seq *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->key, key) == 0)
			return s->v[i]->val;
	return NULL;
}

/*
 * The first account whose "from" matches the -f address, or -1.  Both
 * are copied whole: a cut copy could match a pattern the address does
 * not (the old fixed 1024-byte copies did).
 */
static long
match_from(const struct conf_store *st, const char *from)
{
	size_t n = strlen(from);
	char *addr, *pat;
	long at = -1;

	/* "<a@b>" as sendmail callers sometimes write it */
	if (n >= 2 && from[0] == '<' && from[n - 1] == '>')
		addr = xstrndup(from + 1, n - 2);
	else
		addr = xstrdup(from);
	lower(addr);
	for (size_t i = 0; i < st->nsects && at == -1; i++) {
		const char *v;

		if (st->sects[i].name == NULL ||
		    (v = seq_value(&st->sects[i].eff, "from")) == NULL)
			continue;
		/*
		 * msmtp >= 1.8.16: "from" is a shell pattern here,
		 * compared without case (FNM_CASEFOLD is not POSIX: both
		 * sides go to lower case instead).
		 */
		pat = lower(xstrdup(v));
		if (fnmatch(pat, addr, 0) == 0)
			at = (long)i;
		free(pat);
	}
	free(addr);
	return at;
}

/* -a, else the first account whose from matches -f, else "default". */
static const struct seq *
select_seq(struct conf *c, const char *account, const char *from,
    struct fail *f)
{
	struct conf_store *st = c->store;
	long at = -1;

	if (account != NULL) {
		if ((at = find_sect(st, account)) == -1) {
			fail_set(f, FAIL_CONFIG, "no account '%s' in %s",
			    account, c->path);
			return NULL;
		}
	} else if (from != NULL && from[0] != '\0')
		at = match_from(st, from);
	if (at == -1)
		at = find_sect(st, "default");
	if (at == -1)
		return &st->defs;
	c->account = xstrdup(st->sects[at].name);
	return &st->sects[at].eff;
}

/*
 * The resolved entries as items: msmtp's tls + tls_starttls become one
 * "tls"; entries that say "back to the default" disappear.
 */
static void
make_items(struct conf *c, const struct seq *s)
{
	const struct cent *tls = NULL, *stt = NULL;
	size_t itls = 0, istt = 0;

	c->v = xcalloc(s->n + 1, sizeof(*c->v));
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i]->key, "tls") == 0)
			tls = s->v[i], itls = i;
		else if (strcmp(s->v[i]->key, KEY_STARTTLS) == 0)
			stt = s->v[i], istt = i;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct cent *e = s->v[i];
		struct conf_item *it = &c->v[c->n];

		if (e->val == NULL || e == stt)
			continue;
		it->key = e->key;
		it->value = e->val;
		it->file = c->path;
		it->line = e->line;
		if (e == tls && strcmp(e->val, "on") == 0) {
			int implicit = stt != NULL && stt->val != NULL &&
			    strcmp(stt->val, "off") == 0;

			/* msmtp: STARTTLS unless tls_starttls is off */
			it->value = implicit ? "implicit" : "starttls";
			if (stt != NULL && istt > itls)
				it->line = stt->line;
		}
		c->n++;
	}
}
