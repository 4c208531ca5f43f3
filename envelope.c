/*
 * envelope.c - recipients and sender.
 *
 * Order (SPEC "Addresses"): parse (RFC 5322 lists, msg.c), the aliases
 * file for names without a domain, then qualification (@maildomain,
 * else @host; "postmaster" alone stays, RFC 5321 4.1.1.3), then the
 * RFC 5321 check of each final address (addr.c), de-duplicated with a
 * hash set so that 40,000 recipients cost milliseconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "envelope.h"
#include "msg.h"
#include "options.h"

/* Bytes of an aliases file read: real ones are a few KiB. */
#define ALIASES_MAX	(1024 * 1024)
/* One aliases line: a name and a list of addresses. */
#define ALIAS_LINE_MAX	8192

struct alias {
	char	*name;
	char	*value;		/* the address list, as written */
	int	 line;
};

struct aliases {
	struct alias	*v;
	size_t		 n;
	const char	*path;
	int		 def;		/* index of "default", or -1 */
};

static const char *
qual_domain(const struct opts *o)
{
	return o->maildomain != NULL && *o->maildomain ? o->maildomain :
	    o->domain;
}

/* "root" -> "root@DOMAIN"; anything with a domain, "" and a bare
 * postmaster stay. */
static char *
qualify(const struct opts *o, const char *a)
{
	struct addr_info ai;
	struct fail f = { 0 };

	if (*a == '\0' || strcasecmp(a, "postmaster") == 0)
		return xstrdup(a);
	if (addr_check(a, ADDR_LOCAL_OK, "", &ai, &f) == 0 && ai.has_domain)
		return xstrdup(a);
	if (strchr(a, '@') != NULL && a[0] != '"')
		return xstrdup(a);	/* bad either way: addr_check says */
	return xasprintf("%s@%s", a, qual_domain(o));
}

/* One "name: list" line into al; blank and '#' lines skipped. */
static int
alias_line(struct aliases *al, char *line, int lineno, struct fail *f)
{
	char *key = line + strspn(line, " \t"), *colon, *end;

	if (*key == '#' || *key == '\0')
		return 0;
	if ((colon = strchr(key, ':')) == NULL) {
		fail_set(f, FAIL_CONFIG, "%s:%d: expected 'name: address, "
		    "...'", al->path, lineno);
		return -1;
	}
	*colon = '\0';
	for (end = colon; end > key && (end[-1] == ' ' || end[-1] == '\t');
	    end--)
		end[-1] = '\0';
	al->v = xrealloc(al->v, (al->n + 1) * sizeof(*al->v));
	al->v[al->n].name = xstrdup(key);
	al->v[al->n].value = xstrdup(colon + 1);
	al->v[al->n].line = lineno;
	if (al->def < 0 && strcasecmp(key, "default") == 0)
		al->def = (int)al->n;
	al->n++;
	return 0;
}

/* The aliases file (msmtp syntax), read once. */
static int
aliases_load(struct aliases *al, const char *path, struct fail *f)
{
	FILE *fp;
	char line[ALIAS_LINE_MAX];
	int lineno = 0, rc = 0;
	size_t total = 0;

	al->path = path;
	if ((fp = fopen(path, "r")) == NULL) {
		fail_set(f, FAIL_CONFIG, "aliases file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
		size_t n = strlen(line);

		lineno++;
		total += n;
		if ((n == sizeof(line) - 1 && line[n - 1] != '\n') ||
		    total > ALIASES_MAX) {
			fail_set(f, FAIL_CONFIG, "%s:%d: %s", path, lineno,
			    total > ALIASES_MAX ? "file too large" :
			    "line too long");
			rc = -1;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		rc = alias_line(al, line, lineno, f);
	}
	if (rc == 0 && ferror(fp)) {
		fail_set(f, FAIL_CONFIG, "aliases file %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	fclose(fp);
	return rc;
}

static void
aliases_free(struct aliases *al)
{
	for (size_t i = 0; i < al->n; i++) {
		free(al->v[i].name);
		free(al->v[i].value);
	}
	free(al->v);
}

/* The entry for name, else "default", else NULL. */
static const struct alias *
alias_find(const struct aliases *al, const char *name)
{
	for (size_t i = 0; i < al->n; i++)
		if (strcasecmp(al->v[i].name, name) == 0)
			return &al->v[i];
	return al->def >= 0 ? &al->v[al->def] : NULL;
}

/* Has a (parsed) address a domain?  Quoted local parts included. */
static int
has_domain(const char *a)
{
	struct addr_info ai;
	struct fail f = { 0 };

	if (addr_check(a, ADDR_LOCAL_OK, "", &ai, &f) == 0)
		return ai.has_domain;
	return strchr(a, '@') != NULL;
}

/* Qualify, check and add one final recipient. */
static int
add_final(struct envelope *e, struct addr_set *seen, const struct opts *o,
    const char *a, const char *what, struct fail *f)
{
	char *q = qualify(o, a);
	int rc = addr_check(q, ADDR_POSTMASTER_OK, what, NULL, f);

	if (rc == 0 && addr_set_add(seen, q))
		strv_add(&e->rcpt, q);
	free(q);
	return rc;
}

/* One recipient as parsed: through the aliases when it has no domain. */
static int
add_rcpt(struct envelope *e, struct addr_set *seen, const struct opts *o,
    struct aliases *al, const char *a, struct fail *f)
{
	const struct alias *hit;
	struct strv list = { NULL, 0, 0 };
	char what[128];
	int rc = 0;

	if (o->aliases == NULL || has_domain(a))
		return add_final(e, seen, o, a, "recipient", f);
	/* read once, and only when a name without a domain needs it */
	if (al->path == NULL && aliases_load(al, o->aliases, f) == -1)
		return -1;
	if ((hit = alias_find(al, a)) == NULL)
		return add_final(e, seen, o, a, "recipient", f);
	if (msg_parse_addrlist(hit->value, strlen(hit->value), &list, f)
	    == -1) {
		/* the file's fault, not the message's */
		char why[sizeof(f->msg)];

		xstrlcpy(why, f->msg, sizeof(why));
		fail_reset(f);
		fail_set(f, FAIL_CONFIG, "%s:%d: %s", al->path, hit->line, why);
		return -1;
	}
	snprintf(what, sizeof(what), "alias (%s:%d)", al->path, hit->line);
	for (size_t i = 0; rc == 0 && i < list.n; i++)
		rc = add_final(e, seen, o, list.v[i], what, f);
	if (rc == -1 && f->cls == FAIL_DATA)
		f->cls = FAIL_CONFIG;
	strv_free(&list);
	return rc;
}

int
envelope_check(const struct opts *o, struct fail *f)
{
	char *probe;
	int rc;

	if (o->maildomain == NULL)
		return 0;
	probe = xasprintf("postmaster@%s", o->maildomain);
	rc = addr_check(probe, 0, "maildomain", NULL, f);
	free(probe);
	if (rc == -1)
		f->cls = FAIL_CONFIG;
	return rc;
}

/* Every recipient in list, in order. */
static int
add_list(struct envelope *e, struct addr_set *seen, const struct opts *o,
    struct aliases *al, const struct strv *list, struct fail *f)
{
	for (size_t i = 0; i < list->n; i++)
		if (add_rcpt(e, seen, o, al, list->v[i], f) == -1)
			return -1;
	return 0;
}

/* The recipients in argv, then in the headers. */
static int
build_rcpts(struct envelope *e, const struct opts *o, char **args,
    int nargs, const struct strv *hdr, struct fail *f)
{
	struct addr_set *seen = addr_set_new();
	struct aliases al, *alp = &al;
	int rc = -1;

	memset(&al, 0, sizeof(al));
	al.def = -1;
	for (int i = 0; i < nargs; i++) {
		struct strv one = { NULL, 0, 0 };
		int bad = msg_parse_addrlist(args[i], strlen(args[i]), &one, f)
		    == -1 || add_list(e, seen, o, alp, &one, f) == -1;

		strv_free(&one);
		if (bad)
			goto out;
	}
	if (hdr != NULL && add_list(e, seen, o, alp, hdr, f) == -1)
		goto out;
	rc = 0;
out:
	aliases_free(&al);
	addr_set_free(seen);
	return rc;
}

/* A sender as written (-f, config from): parsed, then qualified. */
static char *
parse_sender(const struct opts *o, const char *v, struct fail *f)
{
	char *s = NULL, *q;

	if (msg_parse_addr(v, &s, f) == -1) {
		char why[sizeof(f->msg)];

		xstrlcpy(why, f->msg, sizeof(why));
		fail_reset(f);
		fail_set(f, FAIL_DATA, "invalid sender: %s", why);
		return NULL;
	}
	q = qualify(o, s);
	free(s);
	return q;
}

/* SPEC: -f (or the config's from), else auto_from (user@maildomain),
 * else the message's From:, else user@host; then checked. */
static char *
pick_sender(const struct opts *o, struct msg *m, struct fail *f)
{
	char *s;

	if (o->from != NULL)
		s = parse_sender(o, o->from, f);
	else if (o->auto_from)
		s = xasprintf("%s@%s", user_login(), qual_domain(o));
	else if (m != NULL && msg_from_addr(m) != NULL)
		s = qualify(o, msg_from_addr(m));
	else
		s = qualify(o, user_login());
	if (s != NULL && addr_check(s, ADDR_NULL_OK, "sender", NULL, f) == -1) {
		free(s);
		s = NULL;
	}
	return s;
}

char *
envelope_header_from(const struct opts *o, struct fail *f)
{
	char *s = pick_sender(o, NULL, f);

	if (s != NULL && *s == '\0') {
		/* a null sender is no address for a From: header */
		free(s);
		s = qualify(o, user_login());
	}
	return s;
}

int
envelope_build(struct envelope *e, const struct opts *o, char **args,
    int nargs, struct msg *m, struct fail *f)
{
	memset(e, 0, sizeof(*e));
	if (envelope_check(o, f) == -1 ||
	    (e->sender = pick_sender(o, m, f)) == NULL)
		return -1;
	return build_rcpts(e, o, args, nargs, m != NULL ?
	    msg_recipients(m) : NULL, f);
}

int
envelope_smtp(struct envelope *e, const struct opts *o, const char *sender,
    const struct strv *rcpts, struct fail *f)
{
	memset(e, 0, sizeof(*e));
	if (envelope_check(o, f) == -1)
		return -1;
	e->sender = qualify(o, sender);
	if (addr_check(e->sender, ADDR_NULL_OK, "sender", NULL, f) == -1)
		return -1;
	return build_rcpts(e, o, NULL, 0, rcpts, f);
}

void
envelope_free(struct envelope *e)
{
	free(e->sender);
	e->sender = NULL;
	strv_free(&e->rcpt);
}
