/*
 * smtpsend.c - command line, message input, reporting, exit codes.
 *
 * The only module that prints or exits.  It turns argv into
 * struct smtp_params, loads the message (msg.c), runs the session
 * (smtp.c) with callbacks that show replies, and maps the outcome to
 * one exit code (exit_code(), the single failure -> sysexits map).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "msg.h"
#include "smtp.h"
#include "tlsio.h"

#define VERSION	"0.1.0"

struct opts {
	const char	*host;
	const char	*port;
	const char	*domain;
	const char	*from;		/* -f as given, NULL if none */
	const char	*fullname;	/* -F */
	const char	*file;
	const char	*dsn_notify, *dsn_ret, *dsn_envid;
	enum smtp_tls	 tls;
	struct tlsio_opts tlso;
	int		 port_set;
	int		 auth;		/* SMTP_AUTH_* or enum sasl_mech */
	const char	*user;
	const char	*passwordeval;
	char		*netrc_user;
	int		 auth_set;
	enum smtp_proto	 proto;
	int		 read_rcpts;
	int		 verbose;
	int		 quiet;
	int		 timeout;
	int		 allow_partial;
	int		 pretend;
	int		 serverinfo;
	int		 tty;		/* stderr is a terminal */
	struct strv	 rcpt;
};

enum {
	OPT_HOST = 256, OPT_PORT, OPT_DOMAIN, OPT_TLS, OPT_PROTOCOL,
	OPT_FILE, OPT_QUIET, OPT_TIMEOUT, OPT_PARTIAL, OPT_VERSION,
	OPT_HELP, OPT_TLS_TRUST, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_FP,
	OPT_TLS_CHECK, OPT_TLS_MIN, OPT_AUTH, OPT_USER, OPT_PASSEVAL,
};

static const struct option longopts[] = {
	{ "host",		required_argument, NULL, OPT_HOST },
	{ "port",		required_argument, NULL, OPT_PORT },
	{ "domain",		required_argument, NULL, OPT_DOMAIN },
	{ "from",		required_argument, NULL, 'f' },
	{ "tls",		required_argument, NULL, OPT_TLS },
	{ "tls-trust-file",	required_argument, NULL, OPT_TLS_TRUST },
	{ "tls-cert-file",	required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key-file",	required_argument, NULL, OPT_TLS_KEY },
	{ "tls-fingerprint",	required_argument, NULL, OPT_TLS_FP },
	{ "tls-certcheck",	required_argument, NULL, OPT_TLS_CHECK },
	{ "tls-min-version",	required_argument, NULL, OPT_TLS_MIN },
	{ "auth",		optional_argument, NULL, OPT_AUTH },
	{ "user",		required_argument, NULL, OPT_USER },
	{ "passwordeval",	required_argument, NULL, OPT_PASSEVAL },
	{ "protocol",		required_argument, NULL, OPT_PROTOCOL },
	{ "file",		required_argument, NULL, OPT_FILE },
	{ "read-recipients",	no_argument,	   NULL, 't' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "quiet",		no_argument,	   NULL, OPT_QUIET },
	{ "timeout",		required_argument, NULL, OPT_TIMEOUT },
	{ "allow-partial",	no_argument,	   NULL, OPT_PARTIAL },
	{ "pretend",		no_argument,	   NULL, 'P' },
	{ "serverinfo",		no_argument,	   NULL, 'S' },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	{ "help",		no_argument,	   NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

/*
 * Short options: ours, then sendmail's that take an argument and are
 * ignored (-B -h -L -O -A -e -o), and -b for the mode.
 */
static const char shortopts[] = ":f:r:F:tivPSN:R:V:b:B:h:L:O:A:e:o:UGnm";

static void	 usage(const char *, const char *) __attribute__((noreturn));
static void	 die(int, const char *, ...)
		    __attribute__((noreturn, format(printf, 2, 3)));

static const char *progname = "smtpsend";

/* The one place where a failure class becomes an exit code. */
static int
exit_code(enum fail_class cls)
{
	static const int map[FAIL_MAX] = {
		[FAIL_NONE] = 0,
		[FAIL_USAGE] = 64,	/* EX_USAGE */
		[FAIL_DATA] = 65,	/* EX_DATAERR */
		[FAIL_NOINPUT] = 66,	/* EX_NOINPUT */
		[FAIL_RCPT] = 67,	/* EX_NOUSER */
		[FAIL_RESOLVE] = 68,	/* EX_NOHOST */
		[FAIL_PERM] = 69,	/* EX_UNAVAILABLE */
		[FAIL_INTERNAL] = 70,	/* EX_SOFTWARE */
		[FAIL_IO] = 74,		/* EX_IOERR */
		[FAIL_TEMP] = 75,	/* EX_TEMPFAIL */
		[FAIL_PROTOCOL] = 76,	/* EX_PROTOCOL */
		[FAIL_AUTH] = 77,	/* EX_NOPERM */
		[FAIL_TLS] = 77,	/* EX_NOPERM */
		[FAIL_CONFIG] = 78,	/* EX_CONFIG */
	};

	return (int)cls >= 0 && cls < FAIL_MAX ? map[cls] : 70;
}

static void
die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* A usage error: one line, the reason and where to look. */
static void
usage(const char *fmt, const char *what)
{
	fprintf(stderr, "%s: ", progname);
	fprintf(stderr, fmt, what);
	fprintf(stderr, " (see %s --help)\n", progname);
	exit(64);
}

static void
help(void)
{
	printf(
"usage: smtpsend [OPTION]... [--] [RECIPIENT]...\n"
"       smtpsend [OPTION]... -t [--] [RECIPIENT]...\n"
"       smtpsend --serverinfo --host=HOST [OPTION]...\n"
"Send the message on standard input (headers, blank line, body) through an\n"
"SMTP relay, reporting each server reply.\n"
"\n"
"Server:\n"
"  --host=HOST            relay: name, IDN, IPv4 or [IPv6] (default localhost)\n"
"  --port=N               port (default 25)\n"
"  --protocol=smtp|lmtp   protocol (default smtp)\n"
"  --domain=NAME          EHLO/LHLO argument (default: this host's FQDN)\n"
"  --timeout=SECONDS      one limit for connect and each reply (default:\n"
"                         connect 60 s, then RFC 5321 4.5.3.2)\n"
"TLS (verified against the system trust store by default):\n"
"  --tls=auto|starttls|implicit|off\n"
"                         auto (default): implicit TLS on port 465, else\n"
"                         STARTTLS when offered; a non-loopback server\n"
"                         without STARTTLS is an error. starttls: required.\n"
"                         implicit: TLS from the start (port 465). off\n"
"  --tls-trust-file=FILE  CA bundle instead of the system store\n"
"  --tls-cert-file=FILE, --tls-key-file=FILE\n"
"                         client certificate and key\n"
"  --tls-fingerprint=SHA256:HEX\n"
"                         pin the server certificate\n"
"  --tls-certcheck=on|off off skips verification (loud warning)\n"
"  --tls-min-version=1.2|1.3 (default 1.2)\n"
"Authentication (only inside TLS unless --tls=off):\n"
"  --auth[=on|off|MECH]   on picks the strongest shared mechanism; MECH:\n"
"                         plain, login, cram-md5, scram-sha-256,\n"
"                         scram-sha-1, xoauth2, oauthbearer, external\n"
"  --user=NAME            login (implies --auth=on)\n"
"  --passwordeval=CMD     password or token from CMD's output; else\n"
"                         SMTPSEND_PASSWORD, else ~/.netrc\n"
"Envelope and message:\n"
"  -f, -r, --from=ADDR    envelope sender; '<>' or '' is the null sender\n"
"  -F NAME                display name for an added From: header\n"
"  -t, --read-recipients  also send to To/Cc/Bcc (or Resent-*) addresses;\n"
"                         Bcc headers are removed\n"
"  --file=FILE            read the message from FILE instead of stdin\n"
"  -N LIST, -R full|hdrs, -V ENVID\n"
"                         DSN NOTIFY, RET and ENVID (RFC 3461)\n"
"  --allow-partial        deliver to the accepted recipients even if others\n"
"                         are refused (exit 67)\n"
"Output:\n"
"  -v, --verbose          show the whole dialogue on stderr (-> / <-)\n"
"  --quiet                nothing on success\n"
"  -P, --pretend          print settings, envelope and headers; send nothing\n"
"  -S, --serverinfo       show the server's greeting and capabilities\n"
"  --version, --help\n"
"Sendmail flags accepted and ignored: -i -oi -bm -oXX -odi -em -B -h -L -O\n"
"-U -G -n -m -A.\n"
"\n"
"Exit status: 0 sent; 64 usage; 65 bad message or address; 66 no input;\n"
"67 recipient refused; 68 unknown host; 69 refused; 74 I/O error;\n"
"75 temporary failure (try again); 76 protocol error; 77 authentication\n"
"or TLS verification failed.\n"
"See smtpsend(1).\n");
	exit(0);
}

/*
 * Long options are matched exactly, never by abbreviation (getopt_long
 * would take "--pass" for any option starting so): check every long
 * option before getopt_long sees it.
 */
static void
check_exact(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *p;
		size_t n;
		const struct option *o;

		if (strcmp(a, "--") == 0)
			return;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			/* a short option cluster: skip a separate argument */
			for (p = a + 1; *p; p++) {
				const char *s = *p == ':' ? NULL :
				    strchr(shortopts + 1, *p);

				if (s != NULL && s[1] == ':') {
					if (p[1] == '\0')
						i++;
					break;
				}
			}
			continue;
		}
		n = strcspn(a + 2, "=");
		for (o = longopts; o->name != NULL; o++)
			if (strlen(o->name) == n &&
			    strncmp(o->name, a + 2, n) == 0)
				break;
		if (o->name == NULL) {
			char shown[64];

			sanitize(shown, sizeof(shown), a, n + 2);
			usage("unknown option '%s'", shown);
		}
		if (o->has_arg == required_argument && a[2 + n] != '=')
			i++;
	}
}

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
parse_int(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die(64, "invalid %s '%s' (%ld to %ld)", what, s, lo, hi);
	return (int)v;
}

static void
parse_tls(struct opts *o, const char *v)
{
	if (strcmp(v, "auto") == 0)
		o->tls = TLS_AUTO;
	else if (strcmp(v, "off") == 0)
		o->tls = TLS_OFF;
	else if (strcmp(v, "starttls") == 0)
		o->tls = TLS_STARTTLS;
	else if (strcmp(v, "implicit") == 0)
		o->tls = TLS_IMPLICIT;
	else
		die(64, "invalid --tls value '%s' (auto, starttls, implicit, "
		    "off)", v);
}

static void
parse_dsn(struct opts *o, int c, const char *v)
{
	if (c == 'R') {
		if (strcasecmp(v, "full") != 0 && strcasecmp(v, "hdrs") != 0)
			die(64, "invalid -R value '%s' (full or hdrs)", v);
		o->dsn_ret = v;
	} else if (c == 'N') {
		/* RFC 3461 4.1: NEVER alone, or a list of the others */
		char *copy = xstrdup(v), *tok, *save = NULL;
		int never = 0, other = 0;

		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (strcasecmp(tok, "never") == 0)
				never = 1;
			else if (strcasecmp(tok, "success") == 0 ||
			    strcasecmp(tok, "failure") == 0 ||
			    strcasecmp(tok, "delay") == 0)
				other = 1;
			else
				die(64, "invalid -N value '%s' (never, or "
				    "success,delay,failure)", v);
		}
		free(copy);
		if (never == other)
			die(64, "invalid -N value '%s'", v);
		o->dsn_notify = v;
	} else {
		if (has_ctl(v) || strlen(v) > 100)	/* RFC 3461 4.4 */
			die(64, "invalid -V value");
		o->dsn_envid = v;
	}
}

static void
parse_auth(struct opts *o, const char *v)
{
	int m;

	if (v == NULL || strcmp(v, "on") == 0)
		o->auth = SMTP_AUTH_ON;
	else if (strcmp(v, "off") == 0)
		o->auth = SMTP_AUTH_OFF;
	else if ((m = sasl_mech_parse(v)) >= 0)
		o->auth = m;
	else
		die(64, "invalid --auth value '%s' (on, off, plain, login, "
		    "cram-md5, scram-sha-256, scram-sha-1, xoauth2, "
		    "oauthbearer, external)", v);
}

/* Sendmail's -b modes: only -bm (the default: deliver) is here. */
static void
parse_mode(const char *v)
{
	if (strcmp(v, "m") != 0)
		die(64, "unsupported mode -b%s", v);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	check_exact(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HOST:
			if (*optarg == '\0' || has_ctl(optarg))
				die(64, "invalid --host value");
			o->host = optarg;
			break;
		case OPT_PORT:
			parse_int(optarg, 1, 65535, "port");
			o->port = optarg;
			o->port_set = 1;
			break;
		case OPT_DOMAIN:
			if (*optarg == '\0' || has_ctl(optarg) ||
			    strchr(optarg, ' ') != NULL)
				die(64, "invalid --domain value");
			o->domain = optarg;
			break;
		case 'f':
		case 'r':
			o->from = optarg;
			break;
		case 'F':
			if (has_ctl(optarg))
				die(65, "control character in -F name");
			o->fullname = optarg;
			break;
		case OPT_TLS:
			parse_tls(o, optarg);
			break;
		case OPT_TLS_TRUST:
			o->tlso.trust_file = optarg;
			break;
		case OPT_TLS_CERT:
			o->tlso.cert_file = optarg;
			break;
		case OPT_TLS_KEY:
			o->tlso.key_file = optarg;
			break;
		case OPT_TLS_FP:
			o->tlso.fingerprint = optarg;
			break;
		case OPT_TLS_CHECK:
			if (strcmp(optarg, "on") == 0)
				o->tlso.nocheck = 0;
			else if (strcmp(optarg, "off") == 0)
				o->tlso.nocheck = 1;
			else
				die(64, "invalid --tls-certcheck value '%s' "
				    "(on or off)", optarg);
			break;
		case OPT_TLS_MIN:
			if (strcmp(optarg, "1.2") == 0)
				o->tlso.min_version = 12;
			else if (strcmp(optarg, "1.3") == 0)
				o->tlso.min_version = 13;
			else
				die(64, "invalid --tls-min-version value '%s' "
				    "(1.2 or 1.3)", optarg);
			break;
		case OPT_AUTH:
			parse_auth(o, optarg);
			o->auth_set = 1;
			break;
		case OPT_USER:
			if (*optarg == '\0' || has_ctl(optarg))
				die(64, "invalid --user value");
			o->user = optarg;
			break;
		case OPT_PASSEVAL:
			o->passwordeval = optarg;
			break;
		case OPT_PROTOCOL:
			if (strcmp(optarg, "smtp") == 0)
				o->proto = PROTO_SMTP;
			else if (strcmp(optarg, "lmtp") == 0)
				o->proto = PROTO_LMTP;
			else
				die(64, "invalid --protocol value '%s' (smtp "
				    "or lmtp)", optarg);
			break;
		case OPT_FILE:
			o->file = optarg;
			break;
		case 't':
			o->read_rcpts = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		case OPT_QUIET:
			o->quiet = 1;
			break;
		case OPT_TIMEOUT:
			o->timeout = parse_int(optarg, 1, 86400, "timeout");
			break;
		case OPT_PARTIAL:
			o->allow_partial = 1;
			break;
		case 'P':
			o->pretend = 1;
			break;
		case 'S':
			o->serverinfo = 1;
			break;
		case 'N':
		case 'R':
		case 'V':
			parse_dsn(o, c, optarg);
			break;
		case 'b':
			parse_mode(optarg);
			break;
		case OPT_VERSION:
			printf("smtpsend %s\n", VERSION);
			exit(0);
		case OPT_HELP:
			help();
		case 'i': case 'B': case 'h': case 'L': case 'O': case 'A':
		case 'e': case 'o': case 'U': case 'G': case 'n': case 'm':
			break;	/* sendmail flags, accepted and ignored */
		case ':':
			usage("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt != 0 && optopt < 256) {
				char shown[8];

				if (optopt < 0x20 || optopt >= 0x7f)
					usage("unknown option '%s'", "-?");
				snprintf(shown, sizeof(shown), "-%c", optopt);
				usage("unknown option '%s'", shown);
			}
			usage("unknown option '%s'", argv[optind - 1]);
		}
	}
}

/* This host's FQDN for EHLO and Message-ID, else "localhost". */
static const char *
fqdn(void)
{
	static char name[256];
	struct addrinfo hints, *res = NULL;

	if (name[0] != '\0')
		return name;
	if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
		xstrlcpy(name, "localhost", sizeof(name));
		return name;
	}
	if (strchr(name, '.') == NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 &&
		    res->ai_canonname != NULL &&
		    strchr(res->ai_canonname, '.') != NULL)
			xstrlcpy(name, res->ai_canonname, sizeof(name));
		if (res != NULL)
			freeaddrinfo(res);
	}
	if (strchr(name, '.') == NULL || has_ctl(name))
		xstrlcpy(name, "localhost", sizeof(name));
	return name;
}

static const char *
login_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");

	if (pw != NULL && pw->pw_name != NULL && *pw->pw_name)
		return pw->pw_name;
	return u != NULL && *u && !has_ctl(u) ? u : "root";
}

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && *h)
		return h;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

/*
 * TLS policy: implicit TLS on port 465 (RFC 8314), the relay name for
 * SNI and the host check, options checked before any connection.
 */
static void
setup_tls(struct opts *o)
{
	struct fail f = { 0 };
	size_t n = strlen(o->host);
	static char host[256];

	if (o->tls == TLS_IMPLICIT && !o->port_set)
		o->port = "465";
	else if (o->tls == TLS_AUTO && strcmp(o->port, "465") == 0)
		o->tls = TLS_IMPLICIT;
	if (n >= 2 && o->host[0] == '[' && o->host[n - 1] == ']' &&
	    n - 2 < sizeof(host)) {
		memcpy(host, o->host + 1, n - 2);
		host[n - 2] = '\0';
		o->tlso.host = host;
	} else
		o->tlso.host = o->host;
	if (o->tls != TLS_OFF && tlsio_check_opts(&o->tlso, &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	if (o->tls != TLS_OFF && o->tlso.nocheck)
		fprintf(stderr, "%s: WARNING: TLS certificate verification "
		    "is off (--tls-certcheck=off): anyone on the path can "
		    "read and change this session\n", progname);
}

/* Output of --passwordeval: at most this much (an OAuth token is a few
 * KiB; anything bigger is not a password). */
#define SECRET_MAX	(64 * 1024)

/* Run the password command; its output less one trailing newline. */
static char *
run_passwordeval(const char *cmd, struct fail *f)
{
	int pfd[2], status;
	pid_t pid;
	char *buf = xmalloc(SECRET_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (pipe(pfd) == -1 || (pid = fork()) == -1) {
		fail_set(f, FAIL_CONFIG, "--passwordeval: %s", strerror(errno));
		free(buf);
		return NULL;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (len < SECRET_MAX && (n = read(pfd[0], buf + len,
	    SECRET_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0 ||
	    strlen(buf) != len) {
		fail_set(f, FAIL_CONFIG, "--passwordeval command %s",
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0 ?
		    "failed" : "gave no usable password");
		sasl_secret_free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The password or token, never from argv: --passwordeval, then
 * SMTPSEND_PASSWORD, then ~/.netrc (machine = the relay host).
 */
static char *
get_secret(void *arg, int again, struct fail *f)
{
	struct opts *o = arg;
	const char *env = getenv("SMTPSEND_PASSWORD");
	char path[4096], *login = NULL, *pass = NULL;
	int r;

	(void)again;	/* each call already asks the source anew */
	if (o->passwordeval != NULL)
		return run_passwordeval(o->passwordeval, f);
	if (env != NULL && *env)
		return xstrdup(env);
	snprintf(path, sizeof(path), "%s/.netrc", home_dir());
	r = conf_netrc(path, o->tlso.host, o->user, &login, &pass, f);
	free(login);
	if (r == 1 && pass != NULL)
		return pass;
	sasl_secret_free(pass);
	if (r != -1)
		fail_set(f, FAIL_CONFIG, "no password for %s: use "
		    "--passwordeval, SMTPSEND_PASSWORD or ~/.netrc",
		    o->user ? o->user : "AUTH");
	return NULL;
}

/* AUTH without --user: the login may come from ~/.netrc. */
static void
setup_auth(struct opts *o)
{
	char path[4096], *pass = NULL;
	struct fail f = { 0 };

	if (o->auth == SMTP_AUTH_OFF && o->user != NULL)
		o->auth = o->auth_set ? SMTP_AUTH_OFF : SMTP_AUTH_ON;
	if (o->auth == SMTP_AUTH_OFF || o->user != NULL ||
	    o->auth == SASL_EXTERNAL)
		return;
	snprintf(path, sizeof(path), "%s/.netrc", home_dir());
	if (conf_netrc(path, o->tlso.host, NULL, &o->netrc_user, &pass,
	    &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	sasl_secret_free(pass);
	if (o->netrc_user == NULL)
		die(78, "authentication needs a user name: --user, or a "
		    "login in ~/.netrc for %s", o->tlso.host);
	o->user = o->netrc_user;
}

/* --- output callbacks ------------------------------------------------ */

static void
on_reply(void *arg, enum smtp_phase ph, const struct smtp_reply *r)
{
	const struct opts *o = arg;
	char text[SMTP_LINE_MAX * 4 + 16];

	if (o->serverinfo) {
		for (size_t i = 0; i < r->nlines; i++) {
			sanitize(text, sizeof(text), r->line[i],
			    strlen(r->line[i]));
			if (ph == PH_GREETING)
				printf("%s %d %s\n", i == 0 ? "greeting:" :
				    "         ", r->code, text);
			else if ((ph == PH_EHLO || ph == PH_HELO) && i == 0)
				printf("hello:    %d %s\n", r->code, text);
			else if (ph == PH_EHLO && text[0] != '\0')
				printf("capability: %s\n", text);
		}
	}
	if (o->verbose) {
		for (size_t i = 0; i < r->nlines; i++) {
			sanitize(text, sizeof(text), r->line[i],
			    strlen(r->line[i]));
			fprintf(stderr, "<- %d%c%s\n", r->code,
			    i + 1 == r->nlines ? ' ' : '-', text);
		}
	} else if (o->tty && !o->quiet && !o->serverinfo) {
		if (ph == PH_EHLO) {
			sanitize(text, sizeof(text), r->line[0],
			    strlen(r->line[0]));
			fprintf(stderr, "%d %s\n", r->code, text);
		} else {
			smtp_reply_text(r, text, sizeof(text));
			fprintf(stderr, "%s\n", text);
		}
	}
}

static void
on_send(void *arg, const char *line, size_t len)
{
	const struct opts *o = arg;
	char text[SMTP_LINE_MAX * 4];

	if (o->verbose) {
		sanitize(text, sizeof(text), line, len);
		fprintf(stderr, "-> %s\n", text);
	}
}

static void
on_info(void *arg, const char *text)
{
	const struct opts *o = arg;

	if (o->serverinfo)
		printf("%s\n", text);
	else if (o->verbose)
		fprintf(stderr, "-- %s\n", text);
}

static void
on_warn(void *arg, const char *text)
{
	const struct opts *o = arg;

	if (o->verbose)
		fprintf(stderr, "%s: warning: %s\n", progname, text);
}

/* Warnings about the message itself (a broken long line) always show. */
static void
on_msg_warn(void *arg, const char *text)
{
	const struct opts *o = arg;

	if (!o->quiet || o->verbose)
		fprintf(stderr, "%s: warning: %s\n", progname, text);
}

/* --- main flow ----------------------------------------------------- */

static void
add_recipients(struct opts *o, char **argv, int argc)
{
	struct fail f = { 0 };

	for (int i = 0; i < argc; i++)
		if (msg_parse_addrlist(argv[i], strlen(argv[i]), &o->rcpt,
		    &f) == -1)
			die(exit_code(f.cls), "%s", f.msg);
}

/* The message; *fdp stays open as long as the message is used (msg.c
 * reads a regular file in place). */
static const char *
dead_letter_path(void)
{
	static char path[4096];

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/dead.letter", home_dir());
	return path;
}

/* Same mailbox: local parts exact (RFC 5321 2.4), domains in any case. */
static int
rcpt_known(const struct strv *sv, const char *a)
{
	const char *at = strrchr(a, '@');
	size_t local = at ? (size_t)(at - a) : strlen(a);

	for (size_t i = 0; i < sv->n; i++) {
		const char *b = sv->v[i], *bt = strrchr(b, '@');
		size_t blocal = bt ? (size_t)(bt - b) : strlen(b);

		if (local == blocal && strncmp(a, b, local) == 0 &&
		    ((at == NULL && bt == NULL) || (at != NULL && bt != NULL &&
		    strcasecmp(at, bt) == 0)))
			return 1;
	}
	return 0;
}

static struct msg *
load_message(const struct opts *o, const char *from_addr, int *fdp,
    struct fail *f)
{
	struct msg_opts mo = { 0 };
	struct msg *m;
	int fd = 0, salvaged = 0;

	mo.read_recipients = o->read_rcpts;
	mo.fullname = o->fullname;
	mo.from_addr = from_addr;
	mo.msgid_domain = o->domain;
	mo.add_date = mo.add_msgid = mo.add_from = 1;
	mo.warn = on_msg_warn;
	mo.warnarg = (void *)o;
	if (o->file == NULL) {
		mo.salvage_path = dead_letter_path();
		mo.salvage_sender = from_addr;
		mo.salvaged = &salvaged;
	}
	if (o->file != NULL) {
		fd = open(o->file, O_RDONLY | O_CLOEXEC);
		if (fd == -1) {
			fail_set(f, FAIL_NOINPUT, "cannot open %s: %s",
			    o->file, strerror(errno));
			return NULL;
		}
	}
	m = msg_load(fd, o->file ? o->file : "stdin", &mo, f);
	if (m == NULL && salvaged) {
		size_t n = strlen(f->msg);
		const char *sep = "; message saved in ";

		xstrlcpy(f->msg + n, sep, sizeof(f->msg) - n);
		n = strlen(f->msg);
		xstrlcpy(f->msg + n, dead_letter_path(), sizeof(f->msg) - n);
	}
	if (m == NULL && o->file != NULL) {
		close(fd);
		fd = -1;
	}
	*fdp = fd;
	return m;
}

static void
pretend(const struct opts *o, const char *sender, struct msg *m)
{
	char buf[4096];
	size_t left = msg_header_size(m);
	struct fail f = { 0 };
	ssize_t n;

	printf("host: %s\nport: %s\nprotocol: %s\ntls: %s\ndomain: %s\n"
	    "timeout: %d\n", o->host, o->port,
	    o->proto == PROTO_LMTP ? "lmtp" : "smtp",
	    o->tls == TLS_OFF ? "off" : "auto", o->domain, o->timeout);
	printf("from: <%s>\n", sender);
	for (size_t i = 0; i < o->rcpt.n; i++)
		printf("to: <%s>\n", o->rcpt.v[i]);
	printf("size: %lld\n\n", (long long)msg_size(m));
	if (msg_rewind(m, &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	while (left > 0 && (n = msg_read(m, buf, left < sizeof(buf) ?
	    left : sizeof(buf), &f)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != '\r')
				putchar(buf[i]);
		left -= (size_t)n;
	}
}

/* Keep a message that came on stdin and was not delivered. */
static void
save_dead_letter(struct msg *m, const char *sender)
{
	const char *path = dead_letter_path();
	struct fail f = { 0 };

	if (msg_save_mbox(m, path, sender, &f) == -1)
		fprintf(stderr, "%s: could not save the message: %s\n",
		    progname, f.msg);
	else
		fprintf(stderr, "%s: message saved in %s\n", progname, path);
}

static int
report(const struct opts *o, const struct smtp_result *res, int rc)
{
	for (size_t i = 0; i < res->nrcpt; i++) {
		const struct smtp_rcpt_result *r = &res->rcpt[i];

		if (!r->accepted && r->text != NULL)
			fprintf(stderr, "%s: RCPT TO:<%s> rejected: %s\n",
			    progname, r->addr, r->text);
	}
	if (rc == 0 && res->nrefused > 0) {
		fprintf(stderr, "%s: delivered to %zu of %zu recipients\n",
		    progname, res->naccepted, res->nrcpt);
		return 67;
	}
	if (rc == 0)
		return 0;
	(void)o;
	fprintf(stderr, "%s: %s\n", progname, res->fail.msg);
	return exit_code(res->fail.cls);
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct smtp_params p = { 0 };
	struct smtp_result res;
	struct fail f = { 0 };
	struct msg *m = NULL;
	const struct strv *hdr;
	char *sender = NULL, *defaddr;
	int rc = -1, code, infd = -1;

	signal(SIGPIPE, SIG_IGN);
	progname = basename(argv[0]);
	if (strcmp(progname, "smtpsend") != 0 &&
	    strcmp(progname, "sendmail") != 0)
		progname = "smtpsend";
	o.host = "localhost";
	o.port = "25";
	o.tls = TLS_AUTO;
	o.auth = SMTP_AUTH_OFF;
	o.tty = isatty(STDERR_FILENO);
	parse_args(&o, argc, argv);
	if (o.domain == NULL)
		o.domain = fqdn();
	setup_tls(&o);
	setup_auth(&o);
	if (o.tls == TLS_OFF && o.auth != SMTP_AUTH_OFF &&
	    o.auth != SASL_EXTERNAL)
		fprintf(stderr, "%s: warning: --tls=off: the password will "
		    "be sent in clear\n", progname);
	add_recipients(&o, argv + optind, argc - optind);
	if (o.from != NULL && msg_parse_addr(o.from, &sender, &f) == -1)
		die(exit_code(f.cls), "invalid sender: %s", f.msg);

	p.host = o.host;
	p.port = o.port;
	p.helo = o.domain;
	p.proto = o.proto;
	p.tls = o.tls;
	p.tlsopts = &o.tlso;
	p.auth = o.auth;
	p.user = o.user;
	p.have_cert = o.tlso.cert_file != NULL;
	p.get_secret = get_secret;
	p.on_info = on_info;
	p.timeout = o.timeout;
	p.allow_partial = o.allow_partial;
	p.serverinfo = o.serverinfo;
	p.dsn_notify = o.dsn_notify;
	p.dsn_ret = o.dsn_ret;
	p.dsn_envid = o.dsn_envid;
	p.on_reply = on_reply;
	p.on_send = on_send;
	p.on_warn = on_warn;
	p.cbarg = &o;

	if (o.serverinfo) {
		p.sender = "";
		rc = smtp_session(&p, NULL, &res);
		code = rc == 0 ? 0 : report(&o, &res, rc);
		smtp_result_free(&res);
		return code;
	}

	defaddr = xmalloc(strlen(login_name()) + strlen(o.domain) + 2);
	sprintf(defaddr, "%s@%s", login_name(), o.domain);
	m = load_message(&o, sender != NULL && *sender ? sender : defaddr,
	    &infd, &f);
	if (m == NULL)
		die(exit_code(f.cls), "%s", f.msg);
	hdr = msg_recipients(m);
	for (size_t i = 0; hdr != NULL && i < hdr->n; i++)
		if (!rcpt_known(&o.rcpt, hdr->v[i]))
			strv_add(&o.rcpt, hdr->v[i]);
	if (sender == NULL)
		sender = xstrdup(msg_from_addr(m) != NULL ? msg_from_addr(m) :
		    defaddr);
	if (o.rcpt.n == 0) {
		fprintf(stderr, "%s: no recipients (give them as arguments, "
		    "or use -t to read them from the headers)\n", progname);
		code = 65;
	} else if (o.pretend) {
		pretend(&o, sender, m);
		code = 0;
	} else {
		p.sender = sender;
		p.rcpt = (const char *const *)o.rcpt.v;
		p.nrcpt = o.rcpt.n;
		rc = smtp_session(&p, m, &res);
		code = report(&o, &res, rc);
		smtp_result_free(&res);
	}
	/* Nothing lost: a message from stdin that was not delivered goes
	 * to ~/dead.letter; a --file message stays where it is.  A partial
	 * delivery (--allow-partial) is not saved: re-sending it would
	 * duplicate it for the recipients who got it. */
	if (code != 0 && rc != 0 && o.file == NULL)
		save_dead_letter(m, sender);
	msg_free(m);
	if (o.file != NULL && infd != -1)
		close(infd);
	strv_free(&o.rcpt);
	free(sender);
	free(defaddr);
	free(o.netrc_user);
	return code;
}
