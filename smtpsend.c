/*
 * smtpsend.c - main: process hygiene (fds 0-2, signals), the command
 * line and the config file into settings, the mode dispatch, the
 * engine's output callbacks, and THE one failure -> exit status map.
 *
 * The front end is this file and deliver.c (the modes): the only code
 * that prints or exits.  Settings come from cli.c (argv) and options.c
 * (the table, the config file through conf.c); the modes and the one
 * deliver() are in deliver.c.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "deliver.h"
#include "secret.h"

#define VERSION	"0.2.0"

/* --- process hygiene ------------------------------------------------- */

/*
 * SIGTERM, SIGINT, SIGHUP: note it; every wait gives up (util.c's
 * poll_until) and deliver() keeps the message.  A second one is not
 * caught: whoever sends it wants us gone now.
 */
static void
on_signal(int sig)
{
	if (util_signal != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	util_signal = sig;
}

/*
 * SPEC "Process and files": fds 0-2 that are closed at start are opened
 * on /dev/null first, so that no socket or file takes their number (a
 * socket on fd 2 would get our diagnostics in the SMTP stream).
 */
static int
hygiene(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return -1;
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a wait must see EINTR */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
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
			else if ((ph == SMTP_PH_EHLO || ph == SMTP_PH_HELO) && i == 0)
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



static char *
get_secret(void *arg, int again, struct fail *f)
{
	(void)again;	/* each call asks the source anew */
	return secret_get(((struct ctx *)arg)->o, f);
}

void
front_params(struct ctx *x)
{
	struct opts *o = x->o;
	struct smtp_params *p = &x->params;

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

/*
 * A failure before any mode ran (usage, config): one line, and in send
 * mode the message on stdin is kept (SPEC "Reliability": one typo in
 * the system config must not drop every cron mail).
 */
static int
fail_early(const struct fail *f, int keep)
{
	if (f->cls == FAIL_USAGE)
		say("%s%s (see %s --help)", f->msg, front_hint(f->hint),
		    progname);
	else
		say_fail(f);
	if (keep)
		keep_stdin();
	return front_exit_code(f->cls);
}

/* Warnings that hold for the whole run. */
static void
warn_settings(const struct opts *o)
{
	if (o->mode == MODE_LIST)
		return;
	if (o->tls != SMTP_TLS_OFF && o->tlso.nocheck)
		say("WARNING: TLS certificate verification is off "
		    "(--tls-certcheck=off): anyone on the path can read and "
		    "change this session");
	if (o->tls == SMTP_TLS_OFF && o->auth != SMTP_AUTH_OFF &&
	    o->auth != SASL_EXTERNAL && !o->pretend)
		say("warning: --tls=off: authentication will send the "
		    "password in clear");
}

static enum fail_class
dispatch(struct ctx *x, const struct cli *c)
{
	switch (x->o->mode) {
	case MODE_SERVERINFO:
		x->o->tlso.describe = on_info;
		x->o->tlso.describe_arg = x;
		return run_serverinfo(x);
	case MODE_LIST:
		return run_list(x);
	case MODE_FLUSH:
		return run_flush(x);
	case MODE_BS:
		return run_bs(x);
	default:
		return run_send(x, c);
	}
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct cli c;
	struct ctx x;
	struct fail f = { 0 };
	int keep, code;

	if (hygiene() == -1)
		return front_exit_code(FAIL_INTERNAL);
	progname = basename(argv[0]);
	if (strcmp(progname, "sendmail") != 0 &&
	    strcmp(progname, "mailq") != 0)
		progname = "smtpsend";
	keep = strcmp(progname, "mailq") != 0 && cli_reads_stdin(argc, argv);
	opts_init(&o);
	if (cli_parse(&c, argc, argv, &f) == -1)
		return fail_early(&f, keep);
	if (c.help) {
		cli_help(stdout);
		return front_exit_code(FAIL_NONE);
	}
	if (c.version) {
		printf("smtpsend %s\n", VERSION);
		return front_exit_code(FAIL_NONE);
	}
	if (strcmp(progname, "mailq") == 0)
		cli_add(&c, "list-queue", NULL);
	if (opts_load(&o, &c, &f) == -1 ||
	    (o.mode != MODE_LIST && !o.pretend && secret_login(&o, &f) == -1))
		return fail_early(&f, keep && o.mode == MODE_SEND &&
		    o.file == NULL);
	memset(&x, 0, sizeof(x));
	x.o = &o;
	x.tty = isatty(STDERR_FILENO);
	x.t0 = now_ms();
	front_params(&x);
	warn_settings(&o);
	code = front_exit_code(dispatch(&x, &c));
	fflush(stdout);
	opts_free(&o);
	cli_free(&c);
	return code;
}
