/*
 * options.h - every setting, by its long option name.
 *
 * The command line and the config file share one table: every long
 * option is a config key (SPEC "Config file"), so precedence is simply
 * the order of application: built-in defaults, then the config file's
 * defaults section, then the account, then the command line.  Nothing
 * here prints or exits: errors come back as struct fail.
 */
#ifndef SMTPSEND_OPTIONS_H
#define SMTPSEND_OPTIONS_H

#include "smtp.h"
#include "tlsio.h"
#include "util.h"

enum mode {
	MODE_SEND,		/* deliver the message on stdin / --file */
	MODE_SERVERINFO,	/* -S */
	MODE_FLUSH,		/* -q, --flush */
	MODE_LIST,		/* -bp, --list-queue, mailq */
	MODE_BS,		/* -bs: SMTP on stdin/stdout */
};

enum tri { TRI_AUTO, TRI_ON, TRI_OFF };

struct opts {
	enum mode	 mode;
	/* server */
	char		*host, *port, *domain, *source_ip;
	int		 port_set;
	enum smtp_proto	 proto;
	int		 timeout;
	enum smtp_tls	 tls;
	struct tlsio_opts tlso;
	char		*tls_host;		/* tls_host_override */
	/* authentication */
	int		 auth;			/* SMTP_AUTH_*, enum sasl_mech */
	int		 auth_set;
	char		*user;
	char		*password;		/* config file only */
	char		*passwordeval;
	/* envelope and message */
	char		*from;			/* -f as given, NULL if none */
	char		*fullname;		/* -F */
	char		*file;
	char		*dsn_notify, *dsn_ret, *dsn_envid;
	int		 read_rcpts;
	int		 allow_partial;
	char		*aliases, *maildomain;
	int		 auto_from;
	int		 allow_from_override;
	enum tri	 set_from, set_date, set_msgid;
	int		 remove_bcc, undisclosed;
	/* reliability and reporting */
	char		*queue;
	int		 queue_only;		/* -odq */
	int		 report_json;
	char		*logfile;
	char		*syslog;		/* facility, or NULL = off */
	/* output */
	int		 verbose, quiet, pretend;
	/* config selection (command line only) */
	char		*config, *account;
	/* where each setting came from, for -P */
	int		 config_used;
	char		*config_path, *account_name;
};

void	 opts_init(struct opts *);
void	 opts_free(struct opts *);

/*
 * Apply one setting by long option name (value NULL for a flag without
 * value).  from_config: the key came from a config file (a few keys are
 * only allowed there, e.g. password, and a few only on the command
 * line).  Returns 0, or -1 with FAIL_USAGE (or FAIL_DATA for a control
 * character in -F) and a message that does not name the source.
 */
int	 opts_set(struct opts *, const char *name, const char *value,
	    int from_config, struct fail *);

/*
 * The settings table, for cli.c: the i-th setting's long option name,
 * its short option (0 if none, or if it is a config-file-only key) and
 * its argument on the command line; NULL past the end.
 */
enum opts_arg { OPTS_ARG_NONE, OPTS_ARG_REQUIRED, OPTS_ARG_OPTIONAL };
const char *opts_name(size_t i, int *shortopt, enum opts_arg *arg);
/* For conf.c: a setting that is a config key, by its canonical name
 * (its static name, NULL if none); *flag: an on/off setting. */
const char *opts_config_key(const char *name, int *flag);

/*
 * Every setting, in order: built-in defaults < the config file's
 * defaults < its account (-C, -a and -f choose file and account) <
 * the command line; then msmtp's %U %H %C %M in domain and from, then
 * opts_finish.  FAIL_CONFIG for the file ("FILE:LINE: why"), FAIL_USAGE
 * or FAIL_DATA for the command line.
 */
struct cli;
int	 opts_load(struct opts *, const struct cli *, struct fail *);

/* Settings derived from others (port 465 and implicit TLS, the TLS
 * host name, auth implied by --user); -1 with f set on conflicts. */
int	 opts_finish(struct opts *, struct fail *);

/* The resolved settings, secrets as ***, one "key: value" per line. */
void	 opts_print(const struct opts *, FILE *);

#endif
