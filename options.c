/*
 * options.c - the settings table shared by the command line and the
 * config file, their validation, and the derived settings.
 */
#include <stddef.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "cli.h"
#include "conf.h"
#include "options.h"

struct setting;
typedef int (*setter)(struct opts *, const struct setting *, const char *,
    struct fail *);

enum kind {
	K_STR,		/* a string field */
	K_FLAG,		/* an int set to on/off */
	K_FN,		/* a function */
};

/* where a key may come from */
#define CLI	1
#define CFG	2

struct setting {
	const char	*name;
	int		 shortopt;	/* its short option, or 0 */
	enum opts_arg	 arg;		/* on the command line */
	enum kind	 kind;
	size_t		 off;		/* field for K_STR / K_FLAG */
	setter		 fn;		/* K_FN */
	int		 where;
};

static int	 set_port(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_timeout(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_tls(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_certcheck(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_minver(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_tlsfile(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_auth(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_protocol(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_notify(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_ret(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_envid(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_fullname(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_setfrom(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_setdate(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_setmsgid(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_report(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_syslog(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_mode(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_verbose(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_name(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_from(struct opts *, const struct setting *, const char *,
	    struct fail *);
static int	 set_passeval(struct opts *, const struct setting *, const char *,
	    struct fail *);

/* a string, an on/off flag, a function; c: short option, a: argument */
#define S(n, c, a, f, w)	{ n, c, a, K_STR, offsetof(struct opts, f), NULL, w }
#define B(n, c, a, f, w)	{ n, c, a, K_FLAG, offsetof(struct opts, f), NULL, w }
#define F(n, c, a, fn, w)	{ n, c, a, K_FN, 0, fn, w }
#define REQ	OPTS_ARG_REQUIRED
#define OPT	OPTS_ARG_OPTIONAL
#define NONE	OPTS_ARG_NONE

static const struct setting table[] = {
	F("host", 0, REQ,               set_name, CLI | CFG),
	F("port", 0, REQ,               set_port, CLI | CFG),
	F("domain", 0, REQ,             set_name, CLI | CFG),
	S("source-ip", 0, REQ,          source_ip, CLI | CFG),
	F("protocol", 0, REQ,           set_protocol, CLI | CFG),
	F("timeout", 0, REQ,            set_timeout, CLI | CFG),
	F("tls", 0, REQ,                set_tls, CLI | CFG),
	F("tls-trust-file", 0, REQ,     set_tlsfile, CLI | CFG),
	F("tls-cert-file", 0, REQ,      set_tlsfile, CLI | CFG),
	F("tls-key-file", 0, REQ,       set_tlsfile, CLI | CFG),
	F("tls-fingerprint", 0, REQ,    set_tlsfile, CLI | CFG),
	F("tls-certcheck", 0, REQ,      set_certcheck, CLI | CFG),
	F("tls-min-version", 0, REQ,    set_minver, CLI | CFG),
	S("tls-host", 0, REQ,           tls_host, CLI | CFG),
	F("auth", 0, OPT,               set_auth, CLI | CFG),
	F("user", 0, REQ,               set_name, CLI | CFG),
	S("password", 0, REQ,           password, CFG),
	F("passwordeval", 0, REQ,       set_passeval, CLI | CFG),
	F("from", 'f', REQ,             set_from, CLI | CFG),
	F("fullname", 'F', REQ,         set_fullname, CLI | CFG),
	S("file", 0, REQ,               file, CLI),
	F("dsn-notify", 'N', REQ,       set_notify, CLI | CFG),
	F("dsn-return", 'R', REQ,       set_ret, CLI | CFG),
	F("dsn-envid", 'V', REQ,        set_envid, CLI | CFG),
	B("read-recipients", 't', OPT,  read_rcpts, CLI | CFG),
	B("allow-partial", 0, OPT,      allow_partial, CLI | CFG),
	S("aliases", 0, REQ,            aliases, CLI | CFG),
	S("maildomain", 0, REQ,         maildomain, CLI | CFG),
	B("auto-from", 0, OPT,          auto_from, CLI | CFG),
	B("allow-from-override", 0, OPT, allow_from_override, CLI | CFG),
	F("set-from-header", 0, REQ,    set_setfrom, CLI | CFG),
	F("set-date-header", 0, REQ,    set_setdate, CLI | CFG),
	F("set-msgid-header", 0, REQ,   set_setmsgid, CLI | CFG),
	B("remove-bcc-headers", 0, OPT, remove_bcc, CLI | CFG),
	B("undisclosed-recipients", 0, OPT, undisclosed, CLI | CFG),
	S("queue", 0, REQ,              queue, CLI | CFG),
	B("queue-only", 0, OPT,         queue_only, CLI | CFG),
	F("report", 0, REQ,             set_report, CLI | CFG),
	S("logfile", 'X', REQ,          logfile, CLI | CFG),
	F("syslog", 0, OPT,             set_syslog, CLI | CFG),
	F("verbose", 'v', NONE,         set_verbose, CLI | CFG),
	B("quiet", 0, OPT,              quiet, CLI | CFG),
	B("pretend", 'P', NONE,         pretend, CLI),
	F("serverinfo", 'S', NONE,      set_mode, CLI),
	F("flush", 'q', NONE,           set_mode, CLI),
	F("list-queue", 0, NONE,        set_mode, CLI),
	S("config", 'C', REQ,           config, CLI),
	S("account", 'a', REQ,          account, CLI),
};


void
opts_init(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = xstrdup("localhost");
	o->port = xstrdup("25");
	o->tls = SMTP_TLS_AUTO;
	o->auth = SMTP_AUTH_OFF;
	o->set_from = o->set_date = o->set_msgid = TRI_AUTO;
	o->remove_bcc = 1;
	o->allow_from_override = 1;
}

void
opts_free(struct opts *o)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].kind == K_STR) {
			char **p = (char **)((char *)o + table[i].off);

			if (p == &o->password)
				sasl_secret_free(*p);
			else
				free(*p);
			*p = NULL;
		}
	free(o->from);
	free(o->passwordeval);
	free(o->host);
	free(o->port);
	free(o->domain);
	free(o->user);
	free(o->fullname);
	free(o->dsn_notify);
	free(o->dsn_ret);
	free(o->dsn_envid);
	free(o->syslog);
	free((char *)o->tlso.trust_file);
	free((char *)o->tlso.cert_file);
	free((char *)o->tlso.key_file);
	free((char *)o->tlso.fingerprint);
	free((char *)o->tlso.host);
	free(o->config_path);
	free(o->account_name);
}

static void
replace(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? xstrdup(v) : NULL;
}


/* "invalid --from (-f) value 'x' (why)" */
static int
bad(struct fail *f, const struct setting *s, const char *why, const char *v)
{
	char shown[128], flag[8] = "";

	sanitize(shown, sizeof(shown), v ? v : "", v ? strlen(v) : 0);
	if (s->shortopt != 0)
		snprintf(flag, sizeof(flag), " (-%c)", s->shortopt);
	fail_set(f, FAIL_USAGE, "invalid --%s%s value '%s'%s%s", s->name,
	    flag, shown, why ? " " : "", why ? why : "");
	return -1;
}

static int
set_name(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	char **field = strcmp(s->name, "host") == 0 ? &o->host :
	    strcmp(s->name, "domain") == 0 ? &o->domain : &o->user;

	if (v == NULL || *v == '\0' || has_ctl(v) || strchr(v, ' ') != NULL)
		return bad(f, s, NULL, v);
	replace(field, v);
	return 0;
}

static int
set_from(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	(void)s;
	/* CR or LF in an address is a data error (SPEC: 65), the
	 * classic header and command injection */
	if (v == NULL || has_ctl(v)) {
		char shown[128];

		sanitize(shown, sizeof(shown), v ? v : "", v ? strlen(v) : 0);
		fail_set(f, FAIL_DATA, "control character in the sender "
		    "address '%s'", shown);
		return -1;
	}
	replace(&o->from, v);
	return 0;
}

static int
set_passeval(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	/* a shell command: newlines and tabs are its own business */
	for (const char *p = v ? v : ""; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') ||
		    *p == 0x7f)
			return bad(f, s, NULL, v);
	if (v == NULL || *v == '\0')
		return bad(f, s, NULL, v);
	replace(&o->passwordeval, v);
	return 0;
}


static int
set_port(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	if (parse_number(v, 1, 65535) < 0)
		return bad(f, s, "(1 to 65535)", v);
	replace(&o->port, v);
	o->port_set = 1;
	return 0;
}

static int
set_timeout(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	long n;

	if (v != NULL && strcmp(v, "off") == 0) {
		o->timeout = 0;
		return 0;
	}
	/* a day: longer than any RFC 5321 4.5.3.2 deadline */
	if ((n = parse_number(v, 1, 86400)) < 0)
		return bad(f, s, "(1 to 86400 seconds)", v);
	o->timeout = (int)n;
	return 0;
}

static int
set_tls(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	static const char *const names[] = { "auto", "starttls", "implicit",
	    "off" };

	for (int i = 0; i < 4; i++)
		if (v != NULL && strcmp(v, names[i]) == 0) {
			o->tls = (enum smtp_tls)i;
			return 0;
		}
	return bad(f, s, "(auto, starttls, implicit, off)", v);
}

static int
set_certcheck(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	int b = parse_onoff(v);

	if (b < 0)
		return bad(f, s, "(on or off)", v);
	o->tlso.nocheck = !b;
	return 0;
}

static int
set_minver(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	if (v != NULL && strcmp(v, "1.2") == 0)
		o->tlso.min_version = 12;
	else if (v != NULL && strcmp(v, "1.3") == 0)
		o->tlso.min_version = 13;
	else
		return bad(f, s, "(1.2 or 1.3)", v);
	return 0;
}

static int
set_tlsfile(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	const char **field = strcmp(s->name, "tls-trust-file") == 0 ?
	    &o->tlso.trust_file : strcmp(s->name, "tls-cert-file") == 0 ?
	    &o->tlso.cert_file : strcmp(s->name, "tls-key-file") == 0 ?
	    &o->tlso.key_file : &o->tlso.fingerprint;

	if (v == NULL || *v == '\0' || has_ctl(v))
		return bad(f, s, NULL, v);
	free((char *)*field);
	*field = xstrdup(v);
	return 0;
}

static int
set_auth(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	int m;

	o->auth_set = 1;
	if (v == NULL || *v == '\0' || parse_onoff(v) == 1)
		o->auth = SMTP_AUTH_ON;
	else if (parse_onoff(v) == 0)
		o->auth = SMTP_AUTH_OFF;
	else if ((m = sasl_mech_parse(v)) >= 0)
		o->auth = m;
	else
		return bad(f, s, "(on, off, plain, login, cram-md5, "
		    "scram-sha-256, scram-sha-1, xoauth2, oauthbearer, "
		    "external)", v);
	return 0;
}

static int
set_protocol(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	if (v != NULL && strcmp(v, "smtp") == 0)
		o->proto = SMTP_PROTO_SMTP;
	else if (v != NULL && strcmp(v, "lmtp") == 0)
		o->proto = SMTP_PROTO_LMTP;
	else
		return bad(f, s, "(smtp or lmtp)", v);
	return 0;
}

static int
set_notify(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	/* RFC 3461 4.1: NEVER alone, or a list of the others */
	char *copy, *tok, *save = NULL;
	int never = 0, other = 0, ok = 1;

	if (v == NULL || *v == '\0')
		return bad(f, s, NULL, v);
	if (strcmp(v, "off") == 0) {
		replace(&o->dsn_notify, NULL);
		return 0;
	}
	copy = xstrdup(v);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "never") == 0)
			never = 1;
		else if (strcasecmp(tok, "success") == 0 ||
		    strcasecmp(tok, "failure") == 0 ||
		    strcasecmp(tok, "delay") == 0)
			other = 1;
		else
			ok = 0;
	}
	free(copy);
	if (!ok || never == other)
		return bad(f, s, "(never, or success,delay,failure)", v);
	replace(&o->dsn_notify, v);
	return 0;
}

static int
set_ret(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	if (v != NULL && strcmp(v, "off") == 0) {
		replace(&o->dsn_ret, NULL);
		return 0;
	}
	if (v == NULL || (strcasecmp(v, "full") != 0 &&
	    strcasecmp(v, "hdrs") != 0 && strcasecmp(v, "headers") != 0))
		return bad(f, s, "(full or hdrs)", v);
	replace(&o->dsn_ret, strcasecmp(v, "full") == 0 ? "full" : "hdrs");
	return 0;
}

static int
set_envid(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	/* RFC 3461 4.4: at most 100 characters */
	if (v == NULL || *v == '\0' || has_ctl(v) || strlen(v) > 100)
		return bad(f, s, NULL, v);
	replace(&o->dsn_envid, v);
	return 0;
}

static int
set_fullname(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	(void)s;
	if (v == NULL || has_ctl_utf8(v)) {
		/* header injection through -F is a data error */
		fail_set(f, FAIL_DATA, "control character in the -F name");
		return -1;
	}
	replace(&o->fullname, v);
	return 0;
}

static int
tri(const char *v, enum tri *t, int allow_on)
{
	int b;

	if (v != NULL && strcasecmp(v, "auto") == 0) {
		*t = TRI_AUTO;
		return 0;
	}
	if ((b = parse_onoff(v)) < 0 || (b == 1 && !allow_on))
		return -1;
	*t = b ? TRI_ON : TRI_OFF;
	return 0;
}

static int
set_setfrom(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	return tri(v, &o->set_from, 1) == 0 ? 0 :
	    bad(f, s, "(auto, on or off)", v);
}

static int
set_setdate(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	return tri(v, &o->set_date, 0) == 0 ? 0 : bad(f, s, "(auto or off)", v);
}

static int
set_setmsgid(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	return tri(v, &o->set_msgid, 0) == 0 ? 0 : bad(f, s, "(auto or off)", v);
}

static int
set_report(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	if (v != NULL && strcmp(v, "json") == 0)
		o->report_json = 1;
	else if (v != NULL && strcmp(v, "off") == 0)
		o->report_json = 0;
	else
		return bad(f, s, "(json or off)", v);
	return 0;
}

static int
set_syslog(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	int b = parse_onoff(v);
	(void)s;

	(void)f;
	if (b == 0)
		replace(&o->syslog, NULL);
	else
		replace(&o->syslog, b == 1 ? "LOG_MAIL" : v);
	return 0;
}

static int
set_verbose(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	int b = parse_onoff(v);

	if (b < 0)
		return bad(f, s, "(on or off)", v);
	o->verbose = b ? o->verbose + 1 : 0;
	return 0;
}

static int
set_mode(struct opts *o, const struct setting *s, const char *v,
    struct fail *f)
{
	(void)v;
	(void)f;
	o->mode = strcmp(s->name, "serverinfo") == 0 ? MODE_SERVERINFO :
	    strcmp(s->name, "flush") == 0 ? MODE_FLUSH : MODE_LIST;
	return 0;
}

const char *
opts_config_key(const char *name, int *flag)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0 &&
		    (table[i].where & CFG)) {
			*flag = table[i].kind == K_FLAG ||
			    table[i].arg != OPTS_ARG_REQUIRED;
			return table[i].name;
		}
	return NULL;
}

const char *
opts_name(size_t i, int *shortopt, enum opts_arg *arg)
{
	if (i >= sizeof(table) / sizeof(table[0]))
		return NULL;
	if (shortopt != NULL)
		*shortopt = table[i].where & CLI ? table[i].shortopt : 0;
	if (arg != NULL)
		*arg = table[i].arg;
	return table[i].name;
}

int
opts_set(struct opts *o, const char *name, const char *v, int from_config,
    struct fail *f)
{
	const struct setting *s = NULL;
	int b;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0)
			s = &table[i];
	if (s == NULL || !(s->where & (from_config ? CFG : CLI))) {
		if (s != NULL && strcmp(name, "password") == 0)
			fail_set(f, FAIL_USAGE, "a password is never taken "
			    "from the command line (use --passwordeval, "
			    "SMTPSEND_PASSWORD, ~/.netrc or the config file)");
		else
			fail_set(f, FAIL_USAGE, "'%s' is not allowed %s", name,
			    from_config ? "in a config file" :
			    "on the command line");
		return -1;
	}
	switch (s->kind) {
	case K_STR:
		if (v != NULL && has_ctl(v))
			return bad(f, s, NULL, v);
		replace((char **)((char *)o + s->off), v ? v : "");
		return 0;
	case K_FLAG:
		if ((b = parse_onoff(v)) < 0)
			return bad(f, s, "(on or off)", v);
		*(int *)((char *)o + s->off) = b;
		return 0;
	default:
		return s->fn(o, s, v, f);
	}
}

int
opts_finish(struct opts *o, struct fail *f)
{
	size_t n = strlen(o->host);
	char *h;

	/* RFC 8314: port 465 is implicit TLS */
	if (o->tls == SMTP_TLS_IMPLICIT && !o->port_set)
		replace(&o->port, "465");
	else if (o->tls == SMTP_TLS_AUTO && strcmp(o->port, "465") == 0)
		o->tls = SMTP_TLS_IMPLICIT;
	if (o->tls_host != NULL)
		h = xstrdup(o->tls_host);
	else if (n >= 2 && o->host[0] == '[' && o->host[n - 1] == ']')
		h = xstrndup(o->host + 1, n - 2);
	else
		h = xstrdup(o->host);
	free((char *)o->tlso.host);
	o->tlso.host = h;
	if (o->auth == SMTP_AUTH_OFF && o->user != NULL && !o->auth_set)
		o->auth = SMTP_AUTH_ON;
	if (o->tls != SMTP_TLS_OFF && tlsio_check_opts(&o->tlso, f) == -1)
		return -1;
	if (o->queue_only && o->queue == NULL)
		o->queue_only = 0;	/* -odq without a queue: deliver */
	return 0;
}

static const char *
onoff(int b)
{
	return b ? "on" : "off";
}

void
opts_print(const struct opts *o, FILE *fp)
{
	static const char *const tls[] = { "auto", "starttls", "implicit",
	    "off" };
	static const char *const tris[] = { "auto", "on", "off" };

	if (o->config_path != NULL)
		fprintf(fp, "config: %s\n", o->config_path);
	if (o->account_name != NULL)
		fprintf(fp, "account: %s\n", o->account_name);
	fprintf(fp, "host: %s\nport: %s\nprotocol: %s\ndomain: %s\n",
	    o->host, o->port, o->proto == SMTP_PROTO_LMTP ? "lmtp" : "smtp",
	    o->domain ? o->domain : "");
	fprintf(fp, "timeout: %d\ntls: %s\n", o->timeout, tls[o->tls]);
	if (o->tls != SMTP_TLS_OFF)
		fprintf(fp, "tls-trust-file: %s\ntls-certcheck: %s\n"
		    "tls-min-version: 1.%d\n", o->tlso.trust_file ?
		    o->tlso.trust_file : "system", onoff(!o->tlso.nocheck),
		    o->tlso.min_version == 13 ? 3 : 2);
	if (o->tlso.fingerprint)
		fprintf(fp, "tls-fingerprint: %s\n", o->tlso.fingerprint);
	if (o->tlso.cert_file)
		fprintf(fp, "tls-cert-file: %s\n", o->tlso.cert_file);
	fprintf(fp, "auth: %s\n", o->auth == SMTP_AUTH_OFF ? "off" :
	    o->auth == SMTP_AUTH_ON ? "on" : sasl_mech_names[o->auth]);
	if (o->user)
		fprintf(fp, "user: %s\n", o->user);
	if (o->password)
		fprintf(fp, "password: ***\n");
	if (o->passwordeval)
		fprintf(fp, "passwordeval: %s\n", o->passwordeval);
	fprintf(fp, "set-from-header: %s\nset-date-header: %s\n"
	    "set-msgid-header: %s\nremove-bcc-headers: %s\n"
	    "undisclosed-recipients: %s\nauto-from: %s\n",
	    tris[o->set_from], tris[o->set_date], tris[o->set_msgid],
	    onoff(o->remove_bcc), onoff(o->undisclosed), onoff(o->auto_from));
	if (o->maildomain)
		fprintf(fp, "maildomain: %s\n", o->maildomain);
	if (o->aliases)
		fprintf(fp, "aliases: %s\n", o->aliases);
	if (o->queue)
		fprintf(fp, "queue: %s\n", o->queue);
	if (o->logfile)
		fprintf(fp, "logfile: %s\n", o->logfile);
	if (o->syslog)
		fprintf(fp, "syslog: %s\n", o->syslog);
	if (o->dsn_notify)
		fprintf(fp, "dsn-notify: %s\n", o->dsn_notify);
	if (o->dsn_ret)
		fprintf(fp, "dsn-return: %s\n", o->dsn_ret);
}

/* msmtp's %U (user), %H (host name), %C (canonical), %M (maildomain) */
static char *
expand(const char *s, const struct opts *o)
{
	char host[256] = "localhost";
	struct buf {
		char	*p;
		size_t	 n;
	} out = { xmalloc(1), 0 };

	if (gethostname(host, sizeof(host) - 1) != 0)
		xstrlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (; *s; s++) {
		const char *put = NULL;
		size_t k;

		if (s[0] == '%' && s[1] != '\0') {
			switch (s[1]) {
			case 'U': put = user_login(); break;
			case 'H': put = host; break;
			case 'C': put = host_fqdn(); break;
			case 'M': put = o->maildomain ? o->maildomain :
			    host_fqdn(); break;
			}
		}
		if (put == NULL)
			put = s, k = 1;
		else
			k = strlen(put), s++;
		out.p = xrealloc(out.p, out.n + k + 1);
		memcpy(out.p + out.n, put, k);
		out.n += k;
	}
	out.p[out.n] = '\0';
	return out.p;
}

/* Expand a %-pattern setting in place. */
static void
expand_field(char **field, const struct opts *o)
{
	char *v;

	if (*field == NULL || strchr(*field, '%') == NULL)
		return;
	v = expand(*field, o);
	free(*field);
	*field = v;
}

/* The config file's items, then the command line's (msmtp
 * allow_from_override off: the account's from stands). */
static int
apply_all(struct opts *o, const struct conf *conf, const struct cli *c,
    struct fail *f)
{
	for (size_t i = 0; i < conf->n; i++) {
		const struct conf_item *it = &conf->v[i];

		if (opts_set(o, it->key, it->value, 1, f) == -1) {
			char why[sizeof(f->msg)];
			enum fail_hint h = f->hint;

			xstrlcpy(why, f->msg, sizeof(why));
			fail_reset(f);
			fail_set(f, FAIL_CONFIG, "%s:%d: %s", it->file,
			    it->line, why);
			fail_hint(f, h);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].name, "from") == 0 &&
		    !o->allow_from_override && o->from != NULL)
			continue;
		if (opts_set(o, c->v[i].name, c->v[i].value, 0, f) == -1)
			return -1;
	}
	return 0;
}

int
opts_load(struct opts *o, const struct cli *c, struct fail *f)
{
	struct conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	if (conf_load(cli_last(c, "config"), cli_last(c, "account"),
	    cli_last(c, "from"), &conf, f) == -1) {
		conf_free(&conf);
		return -1;
	}
	rc = apply_all(o, &conf, c, f);
	if (conf.path != NULL)
		o->config_path = xstrdup(conf.path);
	if (conf.account != NULL)
		o->account_name = xstrdup(conf.account);
	conf_free(&conf);
	if (rc == -1)
		return -1;
	if (c->bs)
		o->mode = MODE_BS;
	if (o->domain == NULL)
		o->domain = xstrdup(host_fqdn());
	expand_field(&o->domain, o);
	expand_field(&o->from, o);
	return opts_finish(o, f);
}
