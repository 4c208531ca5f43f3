/*
 * cli.c - argv into settings: smtpsend's long options (every setting of
 * options.c), its short options, and sendmail's flags (-b modes, -o,
 * the ones accepted and ignored).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

/* Long options: every setting of options.c's table, plus --version
 * and --help; built once from the table (one place names a setting). */
static struct option *longopts;

static void
build_longopts(void)
{
	size_t n = 0, i;
	enum opts_arg arg;
	const char *name;

	if (longopts != NULL)
		return;
	while (opts_name(n, NULL, NULL) != NULL)
		n++;
	longopts = xcalloc(n + 3, sizeof(*longopts));
	for (i = 0; (name = opts_name(i, NULL, &arg)) != NULL; i++) {
		longopts[i].name = name;
		longopts[i].has_arg = arg == OPTS_ARG_NONE ? no_argument :
		    arg == OPTS_ARG_REQUIRED ? required_argument :
		    optional_argument;
	}
	longopts[i++].name = "version";
	longopts[i].name = "help";
}

/* The setting a short option stands for (-f from, -t read-recipients
 * ...), from the table; NULL for sendmail's own flags. */
static const char *
short_setting(int ch, int *takes_value)
{
	const char *name;
	enum opts_arg arg;
	int c;

	for (size_t i = 0; (name = opts_name(i, &c, &arg)) != NULL; i++)
		if (c == ch) {
			/* an optional value has no short spelling: -t */
			*takes_value = arg == OPTS_ARG_REQUIRED;
			return name;
		}
	return NULL;
}

/*
 * Short options: ours (-f -r -F -t -v -P -S -N -R -V -C -a -X -q), then
 * sendmail's: -b for the mode, -o (-odq queues), and the ones accepted
 * and ignored (-i, -B -h -L -O -A -e with a value, -U -G -n -m).
 */
static const char shortopts[] =
    ":f:r:F:tivPSN:R:V:C:a:X:q::b:B:h:L:O:A:e:o:UGnm";

static int	 bad_option(struct fail *, const char *, size_t);

void
cli_add(struct cli *c, const char *name, const char *value)
{
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n].name = name;
	c->v[c->n].value = value;
	c->n++;
}

const char *
cli_last(const struct cli *c, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, name) == 0)
			v = c->v[i].value;
	return v;
}

int
cli_has(const struct cli *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, name) == 0)
			return 1;
	return 0;
}

void
cli_free(struct cli *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static int
bad_option(struct fail *f, const char *a, size_t n)
{
	char shown[64];

	sanitize(shown, sizeof(shown), a, n);
	fail_set(f, FAIL_USAGE, "unknown option '%s'", shown);
	return -1;
}

/* Does the short option cluster a (after its '-') take the next
 * argument as a value? */
static int
cluster_takes_next(const char *a)
{
	for (const char *p = a; *p; p++) {
		const char *s = *p == ':' ? NULL : strchr(shortopts + 1, *p);

		if (s != NULL && s[1] == ':')
			return p[1] == '\0' && s[2] != ':';
	}
	return 0;
}

/*
 * Check every long option before getopt_long sees it: matched exactly,
 * never by abbreviation.
 */
static int
check_exact(int argc, char **argv, struct fail *f)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct option *o;
		size_t n;

		if (strcmp(a, "--") == 0)
			return 0;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			if (cluster_takes_next(a + 1))
				i++;
			continue;
		}
		n = strcspn(a + 2, "=");
		for (o = longopts; o->name != NULL; o++)
			if (strlen(o->name) == n &&
			    strncmp(o->name, a + 2, n) == 0)
				break;
		if (o->name == NULL)
			return bad_option(f, a, n + 2);
		if (o->has_arg == required_argument && a[2 + n] != '=')
			i++;
	}
	return 0;
}

/* Sendmail's -b modes. */
static int
parse_mode(struct cli *c, const char *v, struct fail *f)
{
	char shown[32];

	if (strcmp(v, "m") == 0)
		return 0;
	if (strcmp(v, "p") == 0)
		cli_add(c, "list-queue", NULL);
	else if (strcmp(v, "s") == 0)
		c->bs = 1;
	else {
		sanitize(shown, sizeof(shown), v, strlen(v));
		fail_set(f, FAIL_USAGE, "unsupported mode '-b%s'", shown);
		return -1;
	}
	return 0;
}

static int
parse_short(struct cli *c, int ch, const char *arg, char **argv,
    struct fail *f)
{
	char shown[8];

	int value = 1;
	const char *name = ch == 'r' ? "from" : short_setting(ch, &value);

	if (name != NULL && ch != ':' && ch != '?') {
		/* -q's optional value is sendmail's interval: ignored */
		cli_add(c, name, value ? arg : NULL);
		return 0;
	}
	switch (ch) {
	case 'b':		return parse_mode(c, arg, f);
	case 'o':
		/* -odq: queue only (with a queue); other -o: ignored */
		if (strcmp(arg, "dq") == 0)
			cli_add(c, "queue-only", NULL);
		break;
	case 'i': case 'B': case 'h': case 'L': case 'O': case 'A':
	case 'e': case 'U': case 'G': case 'n': case 'm':
		break;	/* sendmail flags, accepted and ignored */
	case ':':
		sanitize(shown, sizeof(shown), argv[optind - 1],
		    strlen(argv[optind - 1]));
		fail_set(f, FAIL_USAGE, "option '%s' needs a value", shown);
		return -1;
	default:
		if (optopt > 0x20 && optopt < 0x7f) {
			snprintf(shown, sizeof(shown), "-%c", optopt);
			return bad_option(f, shown, strlen(shown));
		}
		return bad_option(f, optopt == 0 ? argv[optind - 1] : "-?",
		    optopt == 0 ? strlen(argv[optind - 1]) : 2);
	}
	return 0;
}

int
cli_parse(struct cli *c, int argc, char **argv, struct fail *f)
{
	int ch, idx;

	memset(c, 0, sizeof(*c));
	build_longopts();
	if (check_exact(argc, argv, f) == -1)
		return -1;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, &idx))
	    != -1) {
		const char *name = longopts[idx].name;

		if (ch != 0) {
			if (parse_short(c, ch, optarg, argv, f) == -1)
				return -1;
		} else if (strcmp(name, "version") == 0)
			c->version = 1;
		else if (strcmp(name, "help") == 0)
			c->help = 1;
		else
			cli_add(c, name, optarg);
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return 0;
}

int
cli_reads_stdin(int argc, char **argv)
{
	static const char *const modes[] = { "-bs", "-bp", "--flush",
	    "--list-queue", "--serverinfo", "-S", "--help", "--version" };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
			if (strcmp(a, modes[k]) == 0)
				return 0;
		if (strncmp(a, "-q", 2) == 0 || strncmp(a, "--file", 6) == 0)
			return 0;
	}
	return 1;
}

void
cli_help(FILE *fp)
{
	fputs(
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
"See smtpsend(1).\n", fp);
}

