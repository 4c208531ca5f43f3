/*
 * deliver.h - the modes (send, --serverinfo, -q, -bp, -bs) and the ONE
 * deliver() they share: run the session, name each refusal, keep what
 * was not delivered (the queue, its failed/ folder, ~/dead.letter),
 * write the report and log line, and say what the run's exit status
 * is.  Each mode returns a failure class; only main() turns it into an
 * exit code.
 */
#ifndef SMTPSEND_DELIVER_H
#define SMTPSEND_DELIVER_H

#include "front.h"

struct cli;

/* The default mode: the message on stdin or --file to its recipients. */
enum fail_class	 run_send(struct ctx *, const struct cli *);
enum fail_class	 run_serverinfo(struct ctx *);
enum fail_class	 run_flush(struct ctx *);
enum fail_class	 run_list(struct ctx *);
enum fail_class	 run_bs(struct ctx *);

/*
 * Keep a message read from stdin that will not be sent because the run
 * failed before it could be (a usage or config error): read it whole
 * and append it to ~/dead.letter, saying so on stderr.  Nothing when
 * stdin is a terminal or empty.
 */
void		 keep_stdin(void);

/* ~/dead.letter */
const char	*dead_letter_path(void);

#endif
