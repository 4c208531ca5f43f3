/*
 * cli.h - the command line, sendmail's flags included, turned into
 * (setting, value) pairs that options.c applies after the config file.
 *
 * Long options are matched exactly, never by abbreviation: getopt_long
 * would take "--pass" for any option starting so, and could run a
 * secret as a command.  Nothing here prints or exits: a bad command
 * line is FAIL_USAGE with a one-line reason.
 */
#ifndef SMTPSEND_CLI_H
#define SMTPSEND_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "util.h"

/* One setting from the command line, by its long option name. */
struct cli_set {
	const char	*name;
	const char	*value;		/* NULL for a flag without value */
};

struct cli {
	struct cli_set	*v;
	size_t		 n;
	int		 bs;		/* -bs: SMTP on stdin/stdout */
	int		 help, version;	/* --help, --version */
	char	       **args;		/* the operands (recipients) */
	int		 nargs;
};

/* Parse argv (argv[0] excluded).  0, or -1 with FAIL_USAGE. */
int		 cli_parse(struct cli *, int argc, char **argv, struct fail *);
/* The last value given for a setting, or NULL; cli_has: given at all. */
const char	*cli_last(const struct cli *, const char *name);
int		 cli_has(const struct cli *, const char *name);
void		 cli_add(struct cli *, const char *name, const char *value);
void		 cli_free(struct cli *);
/* --help's text. */
void		 cli_help(FILE *);

/*
 * Whether this command line sends a message read from standard input
 * (the default mode): a guess that works on any argv, even one that
 * does not parse, so that a usage error can still keep the message
 * (SPEC "Reliability").  Mode flags (-bs -bp -q --flush --list-queue
 * -S --serverinfo --help --version) and a message file say no.
 */
int		 cli_reads_stdin(int argc, char **argv);

#endif
