/*
 * report.h - what happened to a message, for machines: one JSON object
 * per message (--report=json) and one log line per message (--logfile,
 * --syslog; msmtp's key=value format is the model).  Writes only to the
 * FILE or log it is given; smtpsend.c decides where.
 */
#ifndef SMTPSEND_REPORT_H
#define SMTPSEND_REPORT_H

#include <stdio.h>
#include <sys/types.h>

#include "util.h"

struct smtp_result;

struct report {
	const char		*host;
	const char		*port;
	const char		*from;		/* "" = null sender */
	const char *const	*rcpt;
	size_t			 nrcpt;
	off_t			 size;		/* message octets, -1 unknown */
	const struct smtp_result *res;		/* NULL if never connected */
	const char		*status;	/* sent, partial, queued, failed */
	const char		*queue_id;	/* our queue's id when queued */
	const char		*error;		/* our one-line error, or NULL */
	int			 exit_code;
	int			 tls;		/* the session was encrypted */
	const char		*user;		/* authenticated as, or NULL */
	long long		 connect_ms;	/* to the greeting, -1 unknown */
	long long		 total_ms;
};

/* The server's id for the message from its final reply ("queued as
 * X", "id=X", ...), copied to out; 0 if it names none, or one that
 * does not fit in cap (never a cut id). */
int	 report_server_id(const char *reply, char *out, size_t cap);
/* One JSON object and a newline. */
void	 report_json(FILE *, const struct report *);
/* One log line (no newline, no time), for a logfile or syslog; a line
 * longer than cap - 1 is cut and ends in "...". */
void	 report_line(char *, size_t, const struct report *);
/*
 * Append "TIME LINE\n", the whole line however long, to path with
 * append_open() (util.h: no symbolic link, a regular file of ours,
 * created 0600, locked) and one write(2).  -1 with FAIL_IO "PATH: why".
 */
int	 report_logfile(const char *path, const struct report *,
	    struct fail *);
void	 report_syslog(const char *facility, const struct report *);

#endif
