/*
 * front.h - what the front end's rooms share: smtpsend.c (main, the
 * output callbacks, the one exit-code map) and deliver.c (the modes and
 * the one deliver()).  Only these two print; nothing below them does.
 */
#ifndef SMTPSEND_FRONT_H
#define SMTPSEND_FRONT_H

#include "options.h"
#include "queue.h"
#include "smtp.h"
#include "util.h"

extern const char *progname;

/* The run's state, handed to the engine's callbacks as their arg. */
struct ctx {
	struct opts		*o;
	int			 tty;		/* stderr is a terminal */
	long long		 t0, t_greeting;
	int			 salvaged;	/* bad input saved whole */
	struct smtp_params	 params;	/* the connection's settings */
	/* the queue flush: one connection for many messages */
	struct smtp_conn	*conn;
	int			 relay_down;
	char			 down_why[QUEUE_WHY_MAX];
	enum fail_class		 down_cls;
};

/* THE failure class -> exit status map (sysexits.h). */
int	 front_exit_code(enum fail_class);

/* "smtpsend: TEXT\n" on stderr: errors and notes, one line each. */
void	 say(const char *, ...) __attribute__((format(printf, 1, 2)));

/* The option a failure's hint names, as text to append ("" if none);
 * say_fail: the failure's line with it. */
const char *front_hint(enum fail_hint);
void	 say_fail(const struct fail *);

/* Fill x->params from x->o, with smtpsend.c's callbacks. */
void	 front_params(struct ctx *);

/* Warnings about the message itself: printed even without -v. */
void	 front_msg_warn(void *, const char *);

#endif
