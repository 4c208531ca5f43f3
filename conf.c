/*
 * conf.c - configuration files: for now the ~/.netrc lookup.
 *
 * The file is read whole into one buffer and tokenised in place
 * (quoted tokens shrink as their escapes are undone), so no token is
 * copied but the two we return; the buffer is wiped afterwards since it
 * holds passwords.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "conf.h"

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
	if (!S_ISREG(st->st_mode) || st->st_size > NETRC_MAX) {
		fail_set(f, FAIL_CONFIG, "%s: not a regular file of at most "
		    "1 MiB", path);
		close(fd);
		return -1;
	}
	/* One byte more than allowed, to notice a file that grew. */
	b = xmalloc(NETRC_MAX + 2);
	while (got <= NETRC_MAX &&
	    (n = read(fd, b + got, NETRC_MAX + 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fail_set(f, FAIL_CONFIG, "%s: %s", path,
			    strerror(errno));
			got = NETRC_MAX + 1;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got > NETRC_MAX) {
		fail_set(f, FAIL_CONFIG, "%s: larger than 1 MiB", path);
		OPENSSL_cleanse(b, NETRC_MAX + 2);
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
