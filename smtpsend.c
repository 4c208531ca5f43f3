/*
 * smtpsend.c - main: the command line (sendmail's flags included), the
 * config file, credentials, output, the one failure -> exit code map,
 * and the modes (send, --serverinfo, the queue, -bs).
 *
 * The only module that prints or exits.  Settings go through
 * options.c (one table for argv and the config file); the message
 * through msg.c; the session through smtp.c, whose callbacks print
 * here; outcomes become one line on stderr, a report, a log line and
 * one exit code.
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
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bs.h"
#include "conf.h"
#include "msg.h"
#include "options.h"
#include "queue.h"
#include "report.h"
#include "smtp.h"
#include "tlsio.h"

#define VERSION	"0.2.0"

static const char *progname = "smtpsend";

static void	 die(int, const char *, ...)
		    __attribute__((noreturn, format(printf, 2, 3)));
static void	 usage(const char *, const char *) __attribute__((noreturn));

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
"       smtpsend -q | --flush [OPTION]...      deliver the queue\n"
"       smtpsend -bp | --list-queue            list the queue\n"
"       sendmail -bs                           SMTP on stdin/stdout\n"
"Send the message on standard input (headers, blank line, body) through an\n"
"SMTP relay, reporting each server reply.\n"
"\n"
"Server:\n"
"  --host=HOST            relay: name, IDN, IPv4 or [IPv6] (default localhost)\n"
"  --port=N               port (default 25; 465 with --tls=implicit)\n"
"  --protocol=smtp|lmtp   protocol (default smtp)\n"
"  --domain=NAME          EHLO/LHLO argument (default: this host's FQDN)\n"
"  --source-ip=ADDR       connect from this local address\n"
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
"  --tls-host=NAME        name to verify instead of --host\n"
"Authentication (only inside TLS unless --tls=off):\n"
"  --auth[=on|off|MECH]   on picks the strongest shared mechanism; MECH:\n"
"                         plain, login, cram-md5, scram-sha-256,\n"
"                         scram-sha-1, xoauth2, oauthbearer, external\n"
"  --user=NAME            login (implies --auth=on)\n"
"  --passwordeval=CMD     password or token from CMD's output; else the\n"
"                         config file, SMTPSEND_PASSWORD, ~/.netrc\n"
"Envelope and message:\n"
"  -f, -r, --from=ADDR    envelope sender; '<>' or '' is the null sender\n"
"  -F NAME, --fullname=NAME\n"
"                         display name for an added From: header\n"
"  -t, --read-recipients  also send to To/Cc/Bcc (or Resent-*) addresses;\n"
"                         Bcc headers are removed\n"
"  --file=FILE            read the message from FILE instead of stdin\n"
"  -N, --dsn-notify=LIST, -R, --dsn-return=full|hdrs, -V, --dsn-envid=ID\n"
"                         DSN NOTIFY, RET and ENVID (RFC 3461)\n"
"  --allow-partial        deliver to the accepted recipients even if others\n"
"                         are refused (exit 67)\n"
"  --aliases=FILE         aliases for recipients without a domain\n"
"  --maildomain=DOMAIN    domain for recipients without one, and auto-from\n"
"  --auto-from[=on|off]   envelope sender user@maildomain\n"
"  --allow-from-override[=on|off]\n"
"                         -f may override the config's from (default on)\n"
"  --set-from-header=auto|on|off, --set-date-header=auto|off,\n"
"  --set-msgid-header=auto|off, --remove-bcc-headers[=on|off],\n"
"  --undisclosed-recipients[=on|off]\n"
"                         header policy (defaults: auto, auto, auto, on, off)\n"
"Reliability and reports:\n"
"  --queue=DIR            keep messages that cannot be sent now in DIR\n"
"  --queue-only[=on|off]  (-odq) queue without trying to send\n"
"  -q, --flush            deliver the queue; -bp, --list-queue: list it\n"
"  --report=json          one JSON object per message on stdout\n"
"  -X FILE, --logfile=FILE\n"
"                         append one line per message to FILE\n"
"  --syslog[=on|off|FACILITY]\n"
"                         one line per message to syslog\n"
"Config:\n"
"  -C FILE, --config=FILE config file (default ~/.config/smtpsend/config,\n"
"                         ~/.smtpsendrc, /etc/smtpsend.conf); -a NAME,\n"
"                         --account=NAME: its account (msmtp syntax)\n"
"Output:\n"
"  -v, --verbose          show the whole dialogue on stderr (-> / <-)\n"
"  --quiet                nothing on success\n"
"  -P, --pretend          print settings, envelope and headers; send nothing\n"
"  -S, --serverinfo       show the server's greeting, capabilities and TLS\n"
"  --version, --help\n"
"Sendmail flags accepted and ignored: -i -oi -bm -oXX -odi -em -B -h -L -O\n"
"-U -G -n -m -A.\n"
"\n"
"Exit status: 0 sent (or queued); 64 usage; 65 bad message or address;\n"
"66 no input; 67 recipient refused; 68 unknown host; 69 refused;\n"
"74 I/O error; 75 temporary failure (try again); 76 protocol error;\n"
"77 authentication or TLS verification failed; 78 bad configuration.\n"
"See smtpsend(1).\n");
	exit(0);
}

/* --- the command line ------------------------------------------------ */

/* Long options: every setting of options.c, plus --version, --help. */
static const struct option longopts[] = {
	{ "host",		required_argument, NULL, 0 },
	{ "port",		required_argument, NULL, 0 },
	{ "domain",		required_argument, NULL, 0 },
	{ "source-ip",		required_argument, NULL, 0 },
	{ "protocol",		required_argument, NULL, 0 },
	{ "timeout",		required_argument, NULL, 0 },
	{ "tls",		required_argument, NULL, 0 },
	{ "tls-trust-file",	required_argument, NULL, 0 },
	{ "tls-cert-file",	required_argument, NULL, 0 },
	{ "tls-key-file",	required_argument, NULL, 0 },
	{ "tls-fingerprint",	required_argument, NULL, 0 },
	{ "tls-certcheck",	required_argument, NULL, 0 },
	{ "tls-min-version",	required_argument, NULL, 0 },
	{ "tls-host",		required_argument, NULL, 0 },
	{ "auth",		optional_argument, NULL, 0 },
	{ "user",		required_argument, NULL, 0 },
	{ "password",		required_argument, NULL, 0 },
	{ "passwordeval",	required_argument, NULL, 0 },
	{ "from",		required_argument, NULL, 0 },
	{ "fullname",		required_argument, NULL, 0 },
	{ "file",		required_argument, NULL, 0 },
	{ "dsn-notify",		required_argument, NULL, 0 },
	{ "dsn-return",		required_argument, NULL, 0 },
	{ "dsn-envid",		required_argument, NULL, 0 },
	{ "read-recipients",	optional_argument, NULL, 0 },
	{ "allow-partial",	optional_argument, NULL, 0 },
	{ "aliases",		required_argument, NULL, 0 },
	{ "maildomain",		required_argument, NULL, 0 },
	{ "auto-from",		optional_argument, NULL, 0 },
	{ "allow-from-override", optional_argument, NULL, 0 },
	{ "set-from-header",	required_argument, NULL, 0 },
	{ "set-date-header",	required_argument, NULL, 0 },
	{ "set-msgid-header",	required_argument, NULL, 0 },
	{ "remove-bcc-headers",	optional_argument, NULL, 0 },
	{ "undisclosed-recipients", optional_argument, NULL, 0 },
	{ "queue",		required_argument, NULL, 0 },
	{ "queue-only",		optional_argument, NULL, 0 },
	{ "flush",		no_argument,	   NULL, 0 },
	{ "list-queue",		no_argument,	   NULL, 0 },
	{ "report",		required_argument, NULL, 0 },
	{ "logfile",		required_argument, NULL, 0 },
	{ "syslog",		optional_argument, NULL, 0 },
	{ "config",		required_argument, NULL, 0 },
	{ "account",		required_argument, NULL, 0 },
	{ "verbose",		no_argument,	   NULL, 0 },
	{ "quiet",		optional_argument, NULL, 0 },
	{ "pretend",		no_argument,	   NULL, 0 },
	{ "serverinfo",		no_argument,	   NULL, 0 },
	{ "version",		no_argument,	   NULL, 0 },
	{ "help",		no_argument,	   NULL, 0 },
	{ NULL, 0, NULL, 0 }
};

/*
 * Short options: ours (-f -r -F -t -v -P -S -N -R -V -C -a -X -q), then
 * sendmail's: -b for the mode, -o (-odq queues), and the ones accepted
 * and ignored (-i, -B -h -L -O -A -e with a value, -U -G -n -m).
 */
static const char shortopts[] = ":f:r:F:tivPSN:R:V:C:a:X:q::b:B:h:L:O:A:e:o:UGnm";

/* One setting from the command line, applied after the config file. */
struct cli_set {
	const char	*name;
	const char	*value;
};

struct cli {
	struct cli_set	*v;
	size_t		 n;
	int		 bs;		/* -bs */
	int		 mode_set;
};

static void
cli_add(struct cli *c, const char *name, const char *value)
{
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n].name = name;
	c->v[c->n].value = value;
	c->n++;
}

static const char *
cli_last(const struct cli *c, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, name) == 0)
			v = c->v[i].value;
	return v;
}

/*
 * Long options are matched exactly, never by abbreviation (getopt_long
 * would take "--pass" for any option starting so, and run a secret as a
 * command): check every long option before getopt_long sees it.
 */
static void
check_exact(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *p;
		const struct option *o;
		size_t n;

		if (strcmp(a, "--") == 0)
			return;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			/* a short option cluster: skip a separate value */
			for (p = a + 1; *p; p++) {
				const char *s = *p == ':' ? NULL :
				    strchr(shortopts + 1, *p);

				if (s != NULL && s[1] == ':') {
					if (p[1] == '\0' && s[2] != ':')
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

/* Sendmail's -b modes. */
static void
parse_mode(struct cli *c, const char *v)
{
	if (strcmp(v, "m") == 0)
		return;
	if (strcmp(v, "p") == 0)
		cli_add(c, "list-queue", NULL);
	else if (strcmp(v, "s") == 0)
		c->bs = 1;
	else
		usage("unsupported mode '-b%s'", v);
}

static void
parse_short(struct cli *c, int ch, const char *arg, char **argv)
{
	static char shown[8];

	switch (ch) {
	case 'f': case 'r':	cli_add(c, "from", arg); break;
	case 'F':		cli_add(c, "fullname", arg); break;
	case 't':		cli_add(c, "read-recipients", NULL); break;
	case 'v':		cli_add(c, "verbose", NULL); break;
	case 'P':		cli_add(c, "pretend", NULL); break;
	case 'S':		cli_add(c, "serverinfo", NULL); break;
	case 'N':		cli_add(c, "dsn-notify", arg); break;
	case 'R':		cli_add(c, "dsn-return", arg); break;
	case 'V':		cli_add(c, "dsn-envid", arg); break;
	case 'C':		cli_add(c, "config", arg); break;
	case 'a':		cli_add(c, "account", arg); break;
	case 'X':		cli_add(c, "logfile", arg); break;
	case 'q':		cli_add(c, "flush", NULL); break;
	case 'b':		parse_mode(c, arg); break;
	case 'o':
		/* -odq: queue only (with a queue); other -o: ignored */
		if (strcmp(arg, "dq") == 0)
			cli_add(c, "queue-only", NULL);
		break;
	case 'i': case 'B': case 'h': case 'L': case 'O': case 'A':
	case 'e': case 'U': case 'G': case 'n': case 'm':
		break;	/* sendmail flags, accepted and ignored */
	case ':':
		usage("option '%s' needs a value", argv[optind - 1]);
	default:
		if (optopt > 0x20 && optopt < 0x7f) {
			snprintf(shown, sizeof(shown), "-%c", optopt);
			usage("unknown option '%s'", shown);
		}
		usage("unknown option '%s'", optopt == 0 ?
		    argv[optind - 1] : "-?");
	}
}

static void
parse_cmdline(struct cli *c, int argc, char **argv)
{
	int ch, idx;

	check_exact(argc, argv);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, &idx))
	    != -1) {
		if (ch != 0) {
			parse_short(c, ch, optarg, argv);
			continue;
		}
		if (strcmp(longopts[idx].name, "version") == 0) {
			printf("smtpsend %s\n", VERSION);
			exit(0);
		}
		if (strcmp(longopts[idx].name, "help") == 0)
			help();
		cli_add(c, longopts[idx].name, optarg);
	}
}

/* --- the config file and the settings ------------------------------ */

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

/* msmtp's %U (user), %H (host name), %C (canonical), %M (maildomain) */
static char *
expand(const char *s, const struct opts *o)
{
	char host[256] = "localhost", out[1024];
	size_t n = 0;

	gethostname(host, sizeof(host) - 1);
	for (; *s && n + 1 < sizeof(out); s++) {
		const char *put = NULL;

		if (s[0] == '%' && s[1] != '\0') {
			switch (s[1]) {
			case 'U': put = login_name(); break;
			case 'H': put = host; break;
			case 'C': put = fqdn(); break;
			case 'M': put = o->maildomain ? o->maildomain : fqdn();
				break;
			}
		}
		if (put == NULL) {
			out[n++] = *s;
			continue;
		}
		n += xstrlcpy(out + n, put, sizeof(out) - n);
		if (n >= sizeof(out))
			n = sizeof(out) - 1;
		s++;
	}
	out[n] = '\0';
	return xstrdup(out);
}

/*
 * Precedence: built-in defaults < config defaults < account < command
 * line.  -C, -a and -f pick the file and the account (msmtp: with no
 * -a, the account whose from matches -f).
 */
static void
apply_settings(struct opts *o, const struct cli *c)
{
	const char *from = cli_last(c, "from");
	struct conf conf;
	struct fail f = { 0 };

	memset(&conf, 0, sizeof(conf));
	if (conf_load(cli_last(c, "config"), cli_last(c, "account"),
	    from, &conf, &f) == -1)
		die(78, "%s", f.msg);
	for (size_t i = 0; i < conf.n; i++) {
		const struct conf_item *it = &conf.v[i];

		if (opts_set(o, it->key, it->value, 1, &f) == -1)
			die(78, "%s:%d: %s", it->file, it->line, f.msg);
	}
	if (conf.path != NULL)
		o->config_path = xstrdup(conf.path);
	if (conf.account != NULL)
		o->account_name = xstrdup(conf.account);
	conf_free(&conf);
	/* msmtp allow_from_override off: the account's from stands */
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].name, "from") == 0 &&
		    !o->allow_from_override && o->from != NULL)
			continue;
		if (opts_set(o, c->v[i].name, c->v[i].value, 0, &f) == -1)
			die(exit_code(f.cls), "%s", f.msg);
	}
	if (c->bs)
		o->mode = MODE_BS;
	if (o->domain == NULL)
		o->domain = xstrdup(fqdn());
	else if (strchr(o->domain, '%') != NULL) {
		char *d = expand(o->domain, o);

		free(o->domain);
		o->domain = d;
	}
	if (o->from != NULL && strchr(o->from, '%') != NULL) {
		char *fr = expand(o->from, o);

		free(o->from);
		o->from = fr;
	}
	if (opts_finish(o, &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
}

struct ctx {
	struct opts	*o;
	int		 tty;		/* stderr is a terminal */
	long long	 t0, t_greeting;
	int		 infd;		/* the message's input descriptor */
	int		 salvaged;
	/* the queue flush */
	struct smtp_conn *conn;
	struct smtp_result open_res;
	int		 relay_down;
	char		 down_why[QUEUE_WHY_MAX];
	enum fail_class	 down_cls;
};

/* --- credentials ----------------------------------------------------- */

/* Output of --passwordeval: at most this much (an OAuth token is a few
 * KiB; anything bigger is not a password). */
#define SECRET_MAX	(64 * 1024)

/* Run the password command; its output less one trailing newline. */
static char *
run_passwordeval(const char *cmd, struct fail *f)
{
	int pfd[2], status = 0;
	pid_t pid;
	char *buf = xmalloc(SECRET_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (pipe(pfd) == -1 || (pid = fork()) == -1) {
		fail_set(f, FAIL_CONFIG, "passwordeval: %s", strerror(errno));
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
		fail_set(f, FAIL_CONFIG, "the passwordeval command %s",
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0 ?
		    "failed" : "gave no usable password");
		sasl_secret_free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The password or token, never from argv: passwordeval, the config
 * file's password, SMTPSEND_PASSWORD, ~/.netrc (machine = relay host).
 */
static char *
get_secret(void *arg, int again, struct fail *f)
{
	struct opts *o = ((struct ctx *)arg)->o;
	const char *env = getenv("SMTPSEND_PASSWORD");
	char path[4096], *login = NULL, *pass = NULL;
	int r;

	(void)again;	/* each call asks the source anew */
	if (o->passwordeval != NULL)
		return run_passwordeval(o->passwordeval, f);
	if (o->password != NULL && *o->password)
		return xstrdup(o->password);
	if (env != NULL && *env)
		return xstrdup(env);
	snprintf(path, sizeof(path), "%s/.netrc", home_dir());
	r = conf_netrc(path, o->tlso.host, o->user, &login, &pass, f);
	sasl_secret_free(login);
	if (r == 1 && pass != NULL)
		return pass;
	sasl_secret_free(pass);
	if (r != -1)
		fail_set(f, FAIL_CONFIG, "no password for %s: use "
		    "--passwordeval, the config file, SMTPSEND_PASSWORD or "
		    "~/.netrc", o->user ? o->user : "AUTH");
	return NULL;
}

/* AUTH without --user: the login may come from ~/.netrc. */
static void
setup_auth(struct opts *o)
{
	char path[4096], *login = NULL, *pass = NULL;
	struct fail f = { 0 };

	if (o->auth == SMTP_AUTH_OFF || o->user != NULL ||
	    o->auth == SASL_EXTERNAL)
		return;
	snprintf(path, sizeof(path), "%s/.netrc", home_dir());
	if (conf_netrc(path, o->tlso.host, NULL, &login, &pass, &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	sasl_secret_free(pass);
	if (login == NULL)
		die(78, "authentication needs a user name: --user, or a "
		    "login in ~/.netrc for %s", o->tlso.host);
	o->user = xstrdup(login);
	sasl_secret_free(login);
}

/* --- output callbacks ------------------------------------------------ */


static void
on_reply(void *arg, enum smtp_phase ph, const struct smtp_reply *r)
{
	struct ctx *x = arg;
	const struct opts *o = x->o;
	char text[SMTP_LINE_MAX * 4 + 16];

	if (ph == SMTP_PH_GREETING && x->t_greeting == 0)
		x->t_greeting = now_ms();
	if (o->mode == MODE_SERVERINFO) {
		for (size_t i = 0; i < r->nlines; i++) {
			sanitize(text, sizeof(text), r->line[i],
			    strlen(r->line[i]));
			if (ph == SMTP_PH_GREETING)
				printf("%s %d %s\n", i == 0 ? "greeting:" :
				    "         ", r->code, text);
			else if ((ph == SMTP_PH_EHLO || ph == SMTP_PH_HELO) &&
			    i == 0)
				printf("hello:    %d %s\n", r->code, text);
			else if (ph == SMTP_PH_EHLO && text[0] != '\0')
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
	} else if (x->tty && !o->quiet && o->mode != MODE_SERVERINFO &&
	    o->mode != MODE_BS) {
		if (ph == SMTP_PH_EHLO) {
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
	const struct ctx *x = arg;
	char text[SMTP_LINE_MAX * 4];

	if (x->o->verbose) {
		sanitize(text, sizeof(text), line, len);
		fprintf(stderr, "-> %s\n", text);
	}
}

static void
on_info(void *arg, const char *text)
{
	const struct ctx *x = arg;

	if (x->o->mode == MODE_SERVERINFO)
		printf("%s\n", text);
	else if (x->o->verbose)
		fprintf(stderr, "-- %s\n", text);
}

static void
on_warn(void *arg, const char *text)
{
	const struct ctx *x = arg;

	if (x->o->verbose)
		fprintf(stderr, "%s: warning: %s\n", progname, text);
}

/* Warnings about the message itself (a broken long line) always show. */
static void
on_msg_warn(void *arg, const char *text)
{
	const struct ctx *x = arg;

	if (!x->o->quiet || x->o->verbose)
		fprintf(stderr, "%s: warning: %s\n", progname, text);
}

static void
init_params(struct smtp_params *p, struct ctx *x)
{
	struct opts *o = x->o;

	memset(p, 0, sizeof(*p));
	p->host = o->host;
	p->port = o->port;
	p->source_ip = o->source_ip;
	p->helo = o->domain;
	p->proto = o->proto;
	p->tls = o->tls;
	p->tlsopts = &o->tlso;
	p->timeout = o->timeout;
	p->allow_partial = o->allow_partial;
	p->auth = o->auth;
	p->user = o->user;
	p->have_cert = o->tlso.cert_file != NULL;
	p->get_secret = get_secret;
	p->on_reply = on_reply;
	p->on_send = on_send;
	p->on_info = on_info;
	p->on_warn = on_warn;
	p->cbarg = x;
}

static void
init_mail(struct smtp_mail *ml, const struct opts *o, const char *sender,
    const struct strv *rcpt, struct msg *m)
{
	memset(ml, 0, sizeof(*ml));
	ml->sender = sender;
	ml->rcpt = (const char *const *)rcpt->v;
	ml->nrcpt = rcpt->n;
	ml->dsn_notify = o->dsn_notify;
	ml->dsn_ret = o->dsn_ret;
	ml->dsn_envid = o->dsn_envid;
	ml->msg = m;
}

/* --- recipients and the message ------------------------------------- */

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

static void
rcpt_add(struct strv *sv, const char *a)
{
	if (!rcpt_known(sv, a))
		strv_add(sv, a);
}

/* Bytes of an aliases file read: real ones are a few KiB. */
#define ALIASES_MAX	(1024 * 1024)

/*
 * The aliases file (msmtp syntax): "local: addr, addr" lines and
 * "default: addr"; '#' comments.  Returns the addresses for name, from
 * its own line or the default one, in out; 0 if none apply.
 */
static int
alias_lookup(const char *path, const char *name, struct strv *out)
{
	FILE *fp = fopen(path, "r");
	char line[4096];
	char *def = NULL;
	int found = 0, lineno = 0;
	struct fail f = { 0 };

	if (fp == NULL)
		die(78, "aliases file %s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		char *colon, *key, *end;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		key = line + strspn(line, " \t");
		if (*key == '#' || *key == '\0')
			continue;
		if ((colon = strchr(key, ':')) == NULL)
			die(78, "%s:%d: expected 'name: address, ...'", path,
			    lineno);
		*colon = '\0';
		for (end = colon; end > key && (end[-1] == ' ' ||
		    end[-1] == '\t'); end--)
			end[-1] = '\0';
		if (strcasecmp(key, name) == 0) {
			if (msg_parse_addrlist(colon + 1, strlen(colon + 1),
			    out, &f) == -1)
				die(78, "%s:%d: %s", path, lineno, f.msg);
			found = 1;
		} else if (strcasecmp(key, "default") == 0 && def == NULL)
			def = xstrdup(colon + 1);
	}
	fclose(fp);
	if (!found && def != NULL) {
		if (msg_parse_addrlist(def, strlen(def), out, &f) == -1)
			die(78, "%s: default: %s", path, f.msg);
		found = 1;
	}
	free(def);
	return found;
}

/*
 * Recipients without a domain (cron mails "root"): the aliases file,
 * else @maildomain; with neither they go as they are.
 */
static void
resolve_local(const struct opts *o, struct strv *rcpt)
{
	struct strv out = { NULL, 0, 0 };

	for (size_t i = 0; i < rcpt->n; i++) {
		const char *a = rcpt->v[i];
		struct strv al = { NULL, 0, 0 };

		if (strchr(a, '@') != NULL || a[0] == '"')
			rcpt_add(&out, a);
		else if (o->aliases != NULL && alias_lookup(o->aliases, a,
		    &al)) {
			for (size_t k = 0; k < al.n; k++) {
				if (strchr(al.v[k], '@') == NULL &&
				    o->maildomain != NULL) {
					char *q = xmalloc(strlen(al.v[k]) +
					    strlen(o->maildomain) + 2);

					sprintf(q, "%s@%s", al.v[k],
					    o->maildomain);
					rcpt_add(&out, q);
					free(q);
				} else
					rcpt_add(&out, al.v[k]);
			}
		} else if (o->maildomain != NULL) {
			char *q = xmalloc(strlen(a) + strlen(o->maildomain) + 2);

			sprintf(q, "%s@%s", a, o->maildomain);
			rcpt_add(&out, q);
			free(q);
		} else
			rcpt_add(&out, a);
		strv_free(&al);
	}
	strv_free(rcpt);
	*rcpt = out;
}

/*
 * The message; x->infd stays open as long as the message is used
 * (msg.c reads a regular file in place).  header_from is the address
 * for an added From:.
 */
static struct msg *
load_message(struct ctx *x, int fd, const char *name, const char *header_from,
    int policies, struct fail *f)
{
	const struct opts *o = x->o;
	struct msg_opts mo = { 0 };

	mo.read_recipients = o->read_rcpts && policies;
	mo.fullname = o->fullname;
	mo.from_addr = header_from;
	mo.msgid_domain = o->domain;
	mo.add_date = policies && o->set_date != TRI_OFF;
	mo.add_msgid = policies && o->set_msgid != TRI_OFF;
	mo.add_from = policies && o->set_from != TRI_OFF;
	mo.replace_from = policies && o->set_from == TRI_ON;
	mo.keep_bcc = !o->remove_bcc || !policies;
	mo.undisclosed = policies && o->undisclosed;
	mo.warn = on_msg_warn;
	mo.warnarg = x;
	if (fd == 0 && o->file == NULL && o->mode == MODE_SEND) {
		mo.salvage_path = dead_letter_path();
		mo.salvage_sender = header_from;
		mo.salvaged = &x->salvaged;
	}
	return msg_load(fd, name, &mo, f);
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

/* --- reports --------------------------------------------------------- */

static void
emit_report(struct ctx *x, const struct smtp_mail *ml, struct msg *m,
    const struct smtp_result *res, const char *status,
    const char *queue_id, const char *error, int code)
{
	const struct opts *o = x->o;
	struct report r;
	struct fail lf = { 0 };

	if (!o->report_json && o->logfile == NULL && o->syslog == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.host = o->host;
	r.port = o->port;
	r.from = ml->sender;
	r.rcpt = ml->rcpt;
	r.nrcpt = ml->nrcpt;
	r.size = m != NULL ? msg_size(m) : -1;
	r.res = res;
	r.status = status;
	r.queue_id = queue_id;
	r.error = error;
	r.exit_code = code;
	r.tls = res != NULL && res->tls;
	r.user = o->auth != SMTP_AUTH_OFF ? o->user : NULL;
	r.connect_ms = x->t_greeting ? x->t_greeting - x->t0 : -1;
	r.total_ms = now_ms() - x->t0;
	if (o->report_json)	/* in -bs mode stdout is the SMTP channel */
		report_json(o->mode == MODE_BS ? stderr : stdout, &r);
	if (o->logfile != NULL && report_logfile(o->logfile, &r, &lf) == -1)
		fprintf(stderr, "%s: cannot write the log: %s\n", progname,
		    lf.msg);
	if (o->syslog != NULL)
		report_syslog(o->syslog, &r);
}

/* Each refused recipient, then the failure: one line each. */
static int
report_errors(const struct smtp_result *res, int rc)
{
	for (size_t i = 0; i < res->nrcpt; i++) {
		const struct smtp_rcpt_result *r = &res->rcpt[i];

		if (!r->accepted && r->text != NULL && r->after_data)
			fprintf(stderr, "%s: <%s> refused after the data: %s\n",
			    progname, r->addr, r->text);
		else if (!r->accepted && r->text != NULL)
			fprintf(stderr, "%s: RCPT TO:<%s> rejected: %s\n",
			    progname, r->addr, r->text);
	}
	if (rc == 0 && res->nrefused > 0) {
		fprintf(stderr, "%s: delivered to %zu of %zu recipients\n",
		    progname, res->ndelivered, res->nrcpt);
		return 67;
	}
	if (rc == 0)
		return 0;
	fprintf(stderr, "%s: %s\n", progname, res->fail.msg);
	return exit_code(res->fail.cls);
}

/* --- the modes ------------------------------------------------------- */

static int
run_serverinfo(struct ctx *x)
{
	struct smtp_params p;
	struct smtp_result res;
	int rc, code;

	init_params(&p, x);
	x->o->tlso.describe = on_info;
	x->o->tlso.describe_arg = x;
	rc = smtp_session(&p, NULL, &res);
	code = rc == 0 ? 0 : report_errors(&res, rc);
	smtp_result_free(&res);
	return code;
}

/* The server's words for a failure: the failing reply, else the first
 * refused recipient's, else our own message. */
static const char *
failure_reply(const struct smtp_result *res)
{
	if (res->code != 0)
		return res->reply;
	for (size_t i = 0; i < res->nrcpt; i++)
		if (!res->rcpt[i].accepted && res->rcpt[i].text != NULL)
			return res->rcpt[i].text;
	return res->fail.msg;
}

/*
 * Put a message in the queue; prints the line that says so.  why: the
 * temporary failure that queued it, or NULL (-odq).
 */
static int
to_queue(struct ctx *x, const struct smtp_mail *ml, struct msg *m,
    const char *why, const char *failed, char *id, struct fail *f)
{
	struct queue_env env;
	struct strv rcpts = { NULL, 0, 0 };
	int rc;

	for (size_t i = 0; i < ml->nrcpt; i++)
		strv_add(&rcpts, ml->rcpt[i]);
	memset(&env, 0, sizeof(env));
	env.sender = ml->sender;
	env.rcpts = &rcpts;
	env.account = x->o->account_name;
	env.why = why;
	env.failed = failed;
	rc = queue_store(x->o->queue, &env, m, id, f);
	strv_free(&rcpts);
	if (rc == -1) {
		fprintf(stderr, "%s: could not queue the message: %s\n",
		    progname, f->msg);
		return -1;
	}
	if (failed != NULL)
		fprintf(stderr, "%s: message kept in %s/failed/%s\n",
		    progname, x->o->queue, id);
	else if (!x->o->quiet)
		fprintf(stderr, "%s: message queued as %s in %s%s%s\n",
		    progname, id, x->o->queue, why ? ": " : "",
		    why ? why : "");
	return 0;
}

/* RFC 5321 4.1.2: a sender needs a domain; cron's "root" gets
 * @maildomain (else this host's name).  "" (null sender) stays. */
static char *
qualify(const struct opts *o, const char *a)
{
	const char *dom = o->maildomain && *o->maildomain ? o->maildomain :
	    o->domain;
	char *q;

	if (*a == '\0' || strchr(a, '@') != NULL)
		return xstrdup(a);
	q = xmalloc(strlen(a) + strlen(dom) + 2);
	sprintf(q, "%s@%s", a, dom);
	return q;
}

/* The envelope sender: -f (or the config's from), else user@maildomain
 * with auto-from, else the message's From:, else user@host. */
static char *
envelope_sender(const struct opts *o, struct msg *m, const char *defaddr)
{
	char *s = NULL;
	struct fail f = { 0 };

	if (o->from != NULL) {
		char *q;

		if (msg_parse_addr(o->from, &s, &f) == -1)
			die(exit_code(f.cls), "invalid sender: %s", f.msg);
		q = qualify(o, s);
		free(s);
		return q;
	}
	if (o->auto_from) {
		s = xmalloc(strlen(login_name()) + strlen(o->maildomain ?
		    o->maildomain : o->domain) + 2);
		sprintf(s, "%s@%s", login_name(), o->maildomain ?
		    o->maildomain : o->domain);
		return s;
	}
	if (m != NULL && msg_from_addr(m) != NULL)
		return qualify(o, msg_from_addr(m));
	return xstrdup(defaddr);
}

static int
deliver_one(struct ctx *x, const struct smtp_params *p,
    const struct smtp_mail *ml, struct msg *m)
{
	const struct opts *o = x->o;
	struct smtp_result res;
	char id[QUEUE_ID_MAX] = "";
	int rc, code;

	struct fail qf = { 0 };

	if (o->queue_only) {
		if (to_queue(x, ml, m, NULL, NULL, id, &qf) == -1) {
			code = exit_code(qf.cls);
			emit_report(x, ml, m, NULL, "failed", NULL, qf.msg,
			    code);
			if (o->file == NULL)
				save_dead_letter(m, ml->sender);
			return code;
		}
		emit_report(x, ml, m, NULL, "queued", id, NULL, 0);
		return 0;
	}
	rc = smtp_session(p, ml, &res);
	code = report_errors(&res, rc);
	/* A temporary failure with a queue: keep it there and succeed.
	 * After the final dot it may have been delivered: keeping it
	 * risks a duplicate, dropping it risks a loss; we keep it.  A
	 * permanent one is kept in the queue's failed folder. */
	if (rc != 0 && o->queue != NULL && code == 75 &&
	    to_queue(x, ml, m, res.fail.msg, NULL, id, &qf) == 0) {
		emit_report(x, ml, m, &res, "queued", id, res.fail.msg, 0);
		smtp_result_free(&res);
		return 0;
	}
	if (rc != 0 && o->queue != NULL && code != 75 && qf.cls == FAIL_NONE &&
	    to_queue(x, ml, m, NULL, failure_reply(&res), id, &qf) == 0) {
		emit_report(x, ml, m, &res, "failed", id, res.fail.msg, code);
		smtp_result_free(&res);
		return code;
	}
	emit_report(x, ml, m, &res, rc != 0 ? "failed" : res.nrefused ?
	    "partial" : "sent", NULL, rc != 0 ? res.fail.msg : NULL, code);
	/* Nothing lost: a message from stdin that was not delivered goes
	 * to ~/dead.letter; a --file message stays where it is.  A partial
	 * delivery is not saved: re-sending it would duplicate it for the
	 * recipients who got it. */
	if (rc != 0 && o->file == NULL)
		save_dead_letter(m, ml->sender);
	smtp_result_free(&res);
	return code;
}

static void
pretend(const struct opts *o, const char *sender, const struct strv *rcpt,
    struct msg *m)
{
	char buf[4096];
	size_t left = msg_header_size(m);
	struct fail f = { 0 };
	ssize_t n;

	opts_print(o, stdout);
	printf("from: <%s>\n", sender);
	for (size_t i = 0; i < rcpt->n; i++)
		printf("to: <%s>\n", rcpt->v[i]);
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

static int
run_send(struct ctx *x, char **args, int nargs)
{
	struct opts *o = x->o;
	struct smtp_params p;
	struct smtp_mail ml;
	struct strv rcpt = { NULL, 0, 0 };
	struct fail f = { 0 };
	struct msg *m;
	const struct strv *hdr;
	char *sender, *defaddr, *hfrom = NULL;
	int fd = 0, code;

	for (int i = 0; i < nargs; i++)
		if (msg_parse_addrlist(args[i], strlen(args[i]), &rcpt, &f)
		    == -1)
			die(exit_code(f.cls), "%s", f.msg);
	defaddr = qualify(o, login_name());
	/* the address of an added From: is the envelope sender's */
	if (o->from != NULL && msg_parse_addr(o->from, &hfrom, &f) == -1)
		die(exit_code(f.cls), "invalid sender: %s", f.msg);
	if (hfrom == NULL || *hfrom == '\0') {
		free(hfrom);
		hfrom = envelope_sender(o, NULL, defaddr);
	}
	if (o->file != NULL && (fd = open(o->file, O_RDONLY | O_CLOEXEC))
	    == -1)
		die(66, "cannot open %s: %s", o->file, strerror(errno));
	m = load_message(x, fd, o->file ? o->file : "stdin", hfrom, 1, &f);
	if (m == NULL) {
		if (x->salvaged)
			die(exit_code(f.cls), "%s; message saved in %s",
			    f.msg, dead_letter_path());
		die(exit_code(f.cls), "%s", f.msg);
	}
	hdr = msg_recipients(m);
	for (size_t i = 0; hdr != NULL && i < hdr->n; i++)
		rcpt_add(&rcpt, hdr->v[i]);
	resolve_local(o, &rcpt);
	sender = envelope_sender(o, m, defaddr);
	init_params(&p, x);
	init_mail(&ml, o, sender, &rcpt, m);
	if (rcpt.n == 0) {
		fprintf(stderr, "%s: no recipients (give them as arguments, "
		    "or use -t to read them from the headers)\n", progname);
		code = 65;
		if (o->file == NULL && !o->pretend)
			save_dead_letter(m, sender);
	} else if (o->pretend) {
		pretend(o, sender, &rcpt, m);
		code = 0;
	} else
		code = deliver_one(x, &p, &ml, m);
	msg_free(m);
	if (fd > 0)
		close(fd);
	strv_free(&rcpt);
	free(sender);
	free(defaddr);
	free(hfrom);
	return code;
}

static void
age(time_t created, char *out, size_t cap)
{
	long long s = (long long)(time(NULL) - created);

	if (s < 0)
		s = 0;
	if (s < 3600)
		snprintf(out, cap, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static int
run_list(struct ctx *x)
{
	struct queue_entry *e = NULL;
	struct fail f = { 0 };
	size_t n = 0;
	char a[32], shown[QUEUE_WHY_MAX];

	if (x->o->queue == NULL)
		die(78, "no queue configured (--queue=DIR, or the queue key "
		    "in the config file)");
	if (queue_list(x->o->queue, &e, &n, &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	if (n == 0)
		printf("queue %s is empty\n", x->o->queue);
	for (size_t i = 0; i < n; i++) {
		age(e[i].created, a, sizeof(a));
		printf("%s  %s  %lld  <%s> ->", e[i].id, a,
		    (long long)e[i].size, e[i].sender ? e[i].sender : "");
		for (size_t k = 0; k < e[i].rcpts.n; k++)
			printf("%s <%s>", k ? "," : "", e[i].rcpts.v[k]);
		putchar('\n');
		if (e[i].account != NULL)
			printf("    account: %s\n", e[i].account);
		if (e[i].attempts > 0 || e[i].last_error != NULL) {
			sanitize(shown, sizeof(shown), e[i].last_error ?
			    e[i].last_error : "", e[i].last_error ?
			    strlen(e[i].last_error) : 0);
			printf("    attempts: %d, last error: %s\n",
			    e[i].attempts, shown);
		}
	}
	queue_list_free(e, n);
	return 0;
}

/* The connection a flush reuses, and what happened to it. */
static struct smtp_params flush_params;

static enum queue_outcome
flush_open(struct ctx *x, char *why, size_t cap)
{
	struct smtp_result res;

	if (x->conn != NULL && smtp_alive(x->conn))
		return QUEUE_SENT;
	smtp_close(x->conn);
	x->conn = smtp_open(&flush_params, &res);
	if (x->conn == NULL) {
		/* the relay, not the message: keep it, skip the rest */
		fprintf(stderr, "%s: %s\n", progname, res.fail.msg);
		x->relay_down = 1;
		x->down_cls = res.fail.cls;
		xstrlcpy(x->down_why, res.fail.msg, sizeof(x->down_why));
		xstrlcpy(why, res.fail.msg, cap);
		smtp_result_free(&res);
		return QUEUE_RETRY;
	}
	smtp_result_free(&res);
	return QUEUE_SENT;
}

static enum queue_outcome
flush_one(void *arg, const struct queue_entry *e, char *why, size_t cap)
{
	struct ctx *x = arg;
	const struct opts *o = x->o;
	struct smtp_mail ml;
	struct smtp_result res;
	struct fail f = { 0 };
	struct msg *m;
	enum queue_outcome out;
	int rc, code;

	if (e->account != NULL && (o->account_name == NULL ||
	    strcmp(e->account, o->account_name) != 0)) {
		snprintf(why, cap, "queued for account %s (flush with -a %s)",
		    e->account, e->account);
		/* errors always show: a cron flush must say what it left */
		fprintf(stderr, "%s: message %s not sent: %s\n", progname,
		    e->id, why);
		return QUEUE_SKIP;
	}
	if (x->relay_down) {
		xstrlcpy(why, x->down_why, cap);
		return QUEUE_SKIP;
	}
	if ((m = load_message(x, e->fd, e->id, NULL, 0, &f)) == NULL) {
		/* a local read error is temporary; bad data is not */
		xstrlcpy(why, f.msg, cap);
		return f.cls == FAIL_DATA ? QUEUE_FAILED : QUEUE_RETRY;
	}
	init_mail(&ml, o, e->sender, &e->rcpts, m);
	x->t0 = now_ms();
	x->t_greeting = 0;
	if (flush_open(x, why, cap) == QUEUE_RETRY) {
		emit_report(x, &ml, m, NULL, "queued", e->id, why, 75);
		msg_free(m);
		return QUEUE_RETRY;
	}
	rc = smtp_send(x->conn, &ml, &res);
	code = report_errors(&res, rc);
	if (rc == 0)
		out = QUEUE_SENT;
	else {
		/* keep the server's own words for -bp and failed/ */
		out = code == 75 ? QUEUE_RETRY : QUEUE_FAILED;
		xstrlcpy(why, failure_reply(&res), cap);
	}
	emit_report(x, &ml, m, &res, out == QUEUE_SENT ? (res.nrefused ?
	    "partial" : "sent") : out == QUEUE_RETRY ? "queued" : "failed",
	    e->id, rc ? res.fail.msg : NULL, code);
	smtp_result_free(&res);
	msg_free(m);
	return out;
}

static int
run_flush(struct ctx *x)
{
	struct queue_counts c = { 0, 0, 0, 0 };
	struct fail f = { 0 };
	int rc;

	if (x->o->queue == NULL)
		die(78, "no queue configured (--queue=DIR, or the queue key "
		    "in the config file)");
	init_params(&flush_params, x);
	rc = queue_flush(x->o->queue, flush_one, x, &c, &f);
	smtp_close(x->conn);
	x->conn = NULL;
	if (rc == -1)
		fprintf(stderr, "%s: %s\n", progname, f.msg);
	if (x->o->verbose || (x->tty && !x->o->quiet))
		fprintf(stderr, "%s: queue %s: %d sent, %d kept, %d failed, "
		    "%d busy\n", progname, x->o->queue, c.sent, c.kept,
		    c.failed, c.busy);
	if (rc == -1)
		return exit_code(f.cls);
	if (c.kept > 0)
		return x->relay_down ? exit_code(x->down_cls) == 0 ? 75 :
		    exit_code(x->down_cls) : 75;
	return c.failed > 0 ? 69 : 0;
}

/* -bs: each message the local client sends is relayed like one from
 * the command line; the relay's verdict is the local reply. */
static void
bs_relay(void *arg, const char *sender, const struct strv *rcpts, int fd,
    char *reply, size_t cap)
{
	struct ctx *x = arg;
	struct strv rcpt = { NULL, 0, 0 };
	struct smtp_params p;
	struct smtp_mail ml;
	struct smtp_result res;
	struct fail f = { 0 };
	struct msg *m;
	char id[QUEUE_ID_MAX] = "", sid[128];
	int rc, code;

	x->t0 = now_ms();
	x->t_greeting = 0;
	if ((m = load_message(x, fd, "-bs message", *sender ? sender : NULL,
	    1, &f)) == NULL) {
		snprintf(reply, cap, "%s %s", f.cls == FAIL_DATA ?
		    "554 5.6.0" : "451 4.3.0", f.msg);
		return;
	}
	for (size_t i = 0; i < rcpts->n; i++)
		rcpt_add(&rcpt, rcpts->v[i]);
	resolve_local(x->o, &rcpt);
	init_params(&p, x);
	init_mail(&ml, x->o, sender, &rcpt, m);
	rc = smtp_session(&p, &ml, &res);
	code = rc == 0 && res.nrefused ? 67 : rc == 0 ? 0 :
	    exit_code(res.fail.cls);
	if (rc == 0)
		snprintf(reply, cap, "250 2.0.0 Ok: delivered%s%s",
		    report_server_id(res.final, sid, sizeof(sid)) ?
		    " as " : "", report_server_id(res.final, sid, sizeof(sid))
		    ? sid : "");
	else if (x->o->queue != NULL && code == 75 &&
	    to_queue(x, &ml, m, res.fail.msg, NULL, id, &f) == 0) {
		snprintf(reply, cap, "250 2.0.0 Ok: queued as %s", id);
		code = 0;
	} else if (failure_reply(&res) != res.fail.msg &&
	    !res.maybe_delivered)
		snprintf(reply, cap, "%s", failure_reply(&res));
	else
		snprintf(reply, cap, "%s %s", code == 75 ? "451 4.4.1" :
		    code == 65 ? "554 5.6.0" : "554 5.0.0", res.fail.msg);
	emit_report(x, &ml, m, &res, code == 0 ? (id[0] ? "queued" : "sent") :
	    code == 67 ? "partial" : "failed", id[0] ? id : NULL,
	    rc ? res.fail.msg : NULL, code);
	smtp_result_free(&res);
	msg_free(m);
	strv_free(&rcpt);
}

static int
run_bs(struct ctx *x)
{
	struct fail f = { 0 };

	x->o->read_rcpts = 0;	/* the envelope says who */
	if (bs_serve(STDIN_FILENO, STDOUT_FILENO, x->o->domain, bs_relay, x,
	    &f) == -1)
		die(exit_code(f.cls), "%s", f.msg);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct cli c;
	struct ctx x;
	int code;

	signal(SIGPIPE, SIG_IGN);
	progname = basename(argv[0]);
	if (strcmp(progname, "sendmail") != 0 &&
	    strcmp(progname, "mailq") != 0)
		progname = "smtpsend";
	opts_init(&o);
	memset(&c, 0, sizeof(c));
	memset(&x, 0, sizeof(x));
	parse_cmdline(&c, argc, argv);
	if (strcmp(progname, "mailq") == 0)
		cli_add(&c, "list-queue", NULL);
	apply_settings(&o, &c);
	x.o = &o;
	x.tty = isatty(STDERR_FILENO);
	x.t0 = now_ms();
	if (o.mode != MODE_LIST && !o.pretend)
		setup_auth(&o);
	if (o.tls != SMTP_TLS_OFF && o.tlso.nocheck && o.mode != MODE_LIST)
		fprintf(stderr, "%s: WARNING: TLS certificate verification "
		    "is off (--tls-certcheck=off): anyone on the path can "
		    "read and change this session\n", progname);
	if (o.tls == SMTP_TLS_OFF && o.auth != SMTP_AUTH_OFF &&
	    o.auth != SASL_EXTERNAL && o.mode != MODE_LIST && !o.pretend)
		fprintf(stderr, "%s: warning: --tls=off: authentication "
		    "will send the password in clear\n", progname);
	switch (o.mode) {
	case MODE_SERVERINFO:
		code = run_serverinfo(&x);
		break;
	case MODE_LIST:
		code = run_list(&x);
		break;
	case MODE_FLUSH:
		code = run_flush(&x);
		break;
	case MODE_BS:
		code = run_bs(&x);
		break;
	default:
		code = run_send(&x, argv + optind, argc - optind);
		break;
	}
	fflush(stdout);
	opts_free(&o);
	free(c.v);
	return code;
}
