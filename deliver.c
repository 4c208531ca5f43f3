/*
 * deliver.c - the modes and the one deliver() they share.
 *
 * deliver() is "run the session, name each refusal, keep what was not
 * delivered, report": the same steps whether the message came on stdin,
 * from --file, from a -bs client or from the queue.  What differs by
 * origin is only where an undelivered message is kept (table in
 * keep_whole()) and what the caller is told (struct outcome).
 *
 * Nothing lost (SPEC "Reliability"): every path ends in exactly one of
 * delivered, queued, filed in the queue's failed/, appended to
 * ~/dead.letter, left in place (--file), or handed back to the -bs
 * client with a 4xx/5xx reply.  A partial delivery (LMTP, or
 * --allow-partial) keeps only the recipients that did not get it, so a
 * retry never duplicates.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bs.h"
#include "cli.h"
#include "deliver.h"
#include "envelope.h"
#include "msg.h"
#include "report.h"

enum origin { FROM_STDIN, FROM_FILE, FROM_BS, FROM_QUEUE };

/* One message to deliver. */
struct job {
	enum origin		 from;
	const char		*sender;
	const struct strv	*rcpt;
	struct msg		*m;
	const char		*account;	/* FROM_QUEUE: the entry's */
	const char		*qid;		/* FROM_QUEUE: its id */
};

/* What became of it. */
struct outcome {
	enum fail_class		 cls;	/* for the exit status */
	enum queue_outcome	 q;	/* FROM_QUEUE */
	char			 id[QUEUE_ID_MAX];	/* queued as */
	char			 why[QUEUE_WHY_MAX];	/* FROM_QUEUE */
	char			 reply[BS_REPLY_MAX];	/* FROM_BS */
	int			 partial;	/* delivered to some only */
};

/* Recipients by what happened to them. */
struct split {
	size_t		 delivered;
	struct strv	 temp;		/* try again: 4xx, no answer */
	struct strv	 perm;		/* refused for good */
};

/* --- keeping messages ------------------------------------------------- */

const char *
dead_letter_path(void)
{
	static char *path;

	if (path == NULL)
		path = xasprintf("%s/dead.letter", user_home());
	return path;
}

/* Append to ~/dead.letter; 0 if it is there. */
static int
save_dead_letter(struct msg *m, const char *sender, const char *note)
{
	struct fail f = { 0 };

	if (msg_save_mbox(m, dead_letter_path(), sender, &f) == -1) {
		say("could not save the message: %s", f.msg);
		return -1;
	}
	say("message saved in %s%s", dead_letter_path(), note ? note : "");
	return 0;
}

/*
 * Store (sender, rcpts, m) in the queue: as waiting (why: the temporary
 * failure, NULL for -odq) or, with failed set, straight into failed/.
 * Says where on stderr; 0, or -1 with *cls the queue's failure class
 * (cls may be NULL).
 */
static int
to_queue(struct ctx *x, const struct job *j, const struct strv *rcpts,
    const char *why, const char *failed, char *id, enum fail_class *cls)
{
	struct queue_env env;
	struct fail f = { 0 };

	memset(&env, 0, sizeof(env));
	env.sender = j->sender;
	env.rcpts = rcpts;
	env.account = j->from == FROM_QUEUE ? j->account : x->o->account_name;
	env.why = why;
	env.failed = failed;
	if (queue_store(x->o->queue, &env, j->m, id, &f) == -1) {
		say("could not queue the message: %s", f.msg);
		if (cls != NULL)
			*cls = f.cls;
		return -1;
	}
	if (failed != NULL)
		say("message kept in %s/failed/%s", x->o->queue, id);
	else if (!x->o->quiet)
		say("message queued as %s in %s%s%s", id, x->o->queue,
		    why ? ": " : "", why ? why : "");
	return 0;
}

/* One line naming recipients: "<a>, <b>". */
static void
name_rcpts(char *out, size_t cap, const struct strv *sv)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sv->n && o < cap; i++) {
		int n = snprintf(out + o, cap - o, "%s<%s>", i ? ", " : "",
		    sv->v[i]);

		if (n < 0 || (size_t)n >= cap - o) {
			/* a display list: cut visibly */
			if (cap > 4)
				memcpy(out + cap - 4, "...", 4);
			break;
		}
		o += (size_t)n;
	}
}

/* --- the session's result -------------------------------------------- */

static void
split_rcpts(const struct smtp_result *res, struct split *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < res->nrcpt; i++) {
		const struct smtp_rcpt_result *r = &res->rcpt[i];

		if (r->state == SMTP_RCPT_DELIVERED)
			s->delivered++;
		else if (r->state == SMTP_RCPT_PERMFAIL)
			strv_add(&s->perm, r->addr);
		else
			strv_add(&s->temp, r->addr);
	}
}

static void
split_free(struct split *s)
{
	strv_free(&s->temp);
	strv_free(&s->perm);
}

/* Each refused recipient, one line each. */
static void
print_refusals(const struct smtp_result *res)
{
	for (size_t i = 0; i < res->nrcpt; i++) {
		const struct smtp_rcpt_result *r = &res->rcpt[i];

		if (r->text == NULL || (r->state != SMTP_RCPT_PERMFAIL &&
		    r->state != SMTP_RCPT_TEMPFAIL))
			continue;
		if (r->after_data)
			say("message refused for <%s> after the data: %s",
			    r->addr, r->text);
		else
			say("RCPT TO:<%s> rejected: %s", r->addr, r->text);
	}
}

/* The server's words for a failure: the failing reply, else the first
 * refused recipient's, else our own message. */
static const char *
failure_reply(const struct smtp_result *res)
{
	if (res->code != 0)
		return res->reply;
	for (size_t i = 0; i < res->nrcpt; i++)
		if ((res->rcpt[i].state == SMTP_RCPT_PERMFAIL ||
		    res->rcpt[i].state == SMTP_RCPT_TEMPFAIL) &&
		    res->rcpt[i].text != NULL)
			return res->rcpt[i].text;
	return res->fail.msg;
}

static void
emit_report(struct ctx *x, const struct job *j, const struct smtp_result *res,
    const char *status, const char *qid, const char *error,
    enum fail_class cls)
{
	const struct opts *o = x->o;
	struct report r;
	struct fail lf = { 0 };

	if (!o->report_json && o->logfile == NULL && o->syslog == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.host = o->host;
	r.port = o->port;
	r.from = j->sender;
	r.rcpt = (const char *const *)j->rcpt->v;
	r.nrcpt = j->rcpt->n;
	r.size = j->m != NULL ? msg_size(j->m) : -1;
	r.res = res;
	r.status = status;
	r.queue_id = qid;
	r.error = error;
	r.exit_code = front_exit_code(cls);
	r.tls = res != NULL && res->tls;
	r.user = o->auth != SMTP_AUTH_OFF ? o->user : NULL;
	r.connect_ms = x->t_greeting ? x->t_greeting - x->t0 : -1;
	r.total_ms = now_ms() - x->t0;
	if (o->report_json)	/* in -bs mode stdout is the SMTP channel */
		report_json(o->mode == MODE_BS ? stderr : stdout, &r);
	if (o->logfile != NULL && report_logfile(o->logfile, &r, &lf) == -1)
		say("cannot write the log: %s", lf.msg);
	if (o->syslog != NULL)
		report_syslog(o->syslog, &r);
}

/* --- deliver ------------------------------------------------------------ */

/* The flush's connection, opened once; -1 when the relay is down (the
 * relay's fault, not the message's: the rest of the run skips). */
static int
flush_open(struct ctx *x, struct smtp_result *res)
{
	if (x->conn != NULL && smtp_alive(x->conn)) {
		memset(res, 0, sizeof(*res));
		return 0;
	}
	smtp_close(x->conn);
	x->conn = smtp_open(&x->params, res);
	if (x->conn != NULL) {
		smtp_result_free(res);
		return 0;
	}
	x->relay_down = 1;
	x->down_cls = res->fail.cls;
	xstrlcpy(x->down_why, res->fail.msg, sizeof(x->down_why));
	return -1;
}

static int
run_session(struct ctx *x, const struct job *j, struct smtp_result *res)
{
	const struct opts *o = x->o;
	struct smtp_mail mail;

	memset(&mail, 0, sizeof(mail));
	mail.sender = j->sender;
	mail.rcpt = (const char *const *)j->rcpt->v;
	mail.nrcpt = j->rcpt->n;
	mail.dsn_notify = o->dsn_notify;
	mail.dsn_ret = o->dsn_ret;
	mail.dsn_envid = o->dsn_envid;
	mail.msg = j->m;
	x->t0 = now_ms();
	x->t_greeting = 0;
	if (j->from != FROM_QUEUE)
		return smtp_session(&x->params, &mail, res);
	if (flush_open(x, res) == -1)
		return -1;
	return smtp_send(x->conn, &mail, res);
}

/* A signal arrived: whatever the session says, this is the failure. */
static void
note_signal(struct smtp_result *res)
{
	int sig = util_signal;

	fail_reset(&res->fail);
	fail_set(&res->fail, FAIL_TEMP, "interrupted by %s%s",
	    sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" :
	    sig == SIGHUP ? "SIGHUP" : "a signal", res->maybe_delivered ?
	    " after the end of the data; the message may have been "
	    "delivered" : "");
}

/*
 * Nothing was delivered: keep the whole message where its origin says.
 *   temporary + queue  -> queued (exit 0; 75 after a signal)
 *   permanent + queue  -> failed/ (exit: the failure)
 *   stdin, no queue    -> ~/dead.letter
 *   --file, no queue   -> stays where it is
 *   -bs                -> the local client gets 451/554 and keeps it
 *   queue entry        -> RETRY or FAILED (queue.c moves it)
 */
static void
keep_whole(struct ctx *x, const struct job *j, const struct smtp_result *res,
    struct outcome *out)
{
	enum fail_class cls = res->fail.cls;
	int temp = cls == FAIL_TEMP;

	out->cls = cls;
	if (j->from == FROM_QUEUE) {
		/* the relay being down is not the message's fault */
		out->q = temp || x->relay_down ? QUEUE_RETRY : QUEUE_FAILED;
		xstrlcpy(out->why, failure_reply(res), sizeof(out->why));
		return;
	}
	if (x->o->queue != NULL && j->from != FROM_BS) {
		if (to_queue(x, j, j->rcpt, temp ? res->fail.msg : NULL,
		    temp ? NULL : failure_reply(res), out->id, NULL) == 0) {
			if (temp && util_signal == 0)
				out->cls = FAIL_NONE;
			return;
		}
		out->id[0] = '\0';
	}
	if (j->from == FROM_BS && x->o->queue != NULL && temp &&
	    to_queue(x, j, j->rcpt, res->fail.msg, NULL, out->id, NULL) == 0) {
		out->cls = util_signal ? FAIL_TEMP : FAIL_NONE;
		return;
	}
	if (j->from == FROM_STDIN)
		(void)save_dead_letter(j->m, j->sender, NULL);
}

/*
 * Delivered to some: the permanent refusals are named (and filed in
 * failed/ when there is a queue); the temporary ones are queued for
 * just those recipients, so that nobody gets the message twice.
 * Without a queue nothing is kept (SPEC: a re-send would duplicate);
 * the exit status is 67 and the line names who did not get it.
 */
static void
keep_part(struct ctx *x, const struct job *j, const struct smtp_result *res,
    struct split *s, struct outcome *out)
{
	char names[512], id[QUEUE_ID_MAX];
	int queue = x->o->queue != NULL;

	say("delivered to %zu of %zu recipients", s->delivered, j->rcpt->n);
	out->partial = 1;
	out->cls = s->perm.n > 0 ? FAIL_RCPT : FAIL_NONE;
	out->q = QUEUE_SENT;
	if (s->perm.n > 0 && queue)
		(void)to_queue(x, j, &s->perm, NULL, failure_reply(res), id,
		    NULL);
	if (s->temp.n == 0)
		return;
	if (queue && to_queue(x, j, &s->temp, res->fail.msg[0] ?
	    res->fail.msg : failure_reply(res), NULL, out->id, NULL) == 0) {
		if (util_signal)
			out->cls = FAIL_TEMP;
		return;
	}
	if (j->from == FROM_QUEUE) {
		/* a flush has a queue: this was a store failure */
		out->q = QUEUE_RETRY;
		xstrlcpy(out->why, failure_reply(res), sizeof(out->why));
		return;
	}
	name_rcpts(names, sizeof(names), &s->temp);
	say("not delivered to %s (temporary; --queue would retry %s)", names,
	    s->temp.n == 1 ? "it alone" : "them alone");
	/* SPEC: refused -> 67; the link lost after the data -> 75 */
	if (out->cls == FAIL_NONE)
		out->cls = res->fail.cls == FAIL_TEMP && res->maybe_delivered ?
		    FAIL_TEMP : FAIL_RCPT;
}

/* A reply line for the -bs client, cut visibly if it is too long (bs.c
 * sends it as one line). */
static void __attribute__((format(printf, 3, 4)))
reply_fmt(char *reply, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(reply, cap, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= cap && cap > 4)
		memcpy(reply + cap - 4, "...", 4);
}

/* The reply a -bs client gets for this outcome. */
static void
bs_reply(const struct smtp_result *res, const struct split *s,
    const struct outcome *out, char *reply, size_t cap)
{
	char sid[128], names[512];
	int has_sid = report_server_id(res->final, sid, sizeof(sid));

	if (s->delivered == 0) {
		if (out->id[0] != '\0')
			reply_fmt(reply, cap, "250 2.0.0 Ok: queued as %s",
			    out->id);
		else if (failure_reply(res) != res->fail.msg &&
		    !res->maybe_delivered)
			reply_fmt(reply, cap, "%s", failure_reply(res));
		else
			reply_fmt(reply, cap, "%s %s", res->fail.cls ==
			    FAIL_TEMP || res->fail.cls == FAIL_CONFIG ?
			    "451 4.3.0" : res->fail.cls == FAIL_DATA ?
			    "554 5.6.0" : "554 5.0.0", res->fail.msg);
		return;
	}
	if (s->perm.n == 0 && s->temp.n == 0) {
		reply_fmt(reply, cap, "250 2.0.0 Ok: delivered%s%s",
		    has_sid ? " as " : "", has_sid ? sid : "");
		return;
	}
	/* SPEC: never a plain 250 when a recipient was refused */
	name_rcpts(names, sizeof(names), s->perm.n ? &s->perm : &s->temp);
	reply_fmt(reply, cap, "250 2.0.0 Ok: delivered to %zu of %zu "
	    "recipients%s%s; %s %s%s%s", s->delivered, res->nrcpt,
	    has_sid ? " as " : "", has_sid ? sid : "",
	    s->perm.n ? "refused:" : out->id[0] ? "queued for" :
	    "not delivered to", names, s->perm.n ? ": " : "",
	    s->perm.n ? failure_reply(res) : "");
}

static const char *
status_of(const struct job *j, const struct split *s,
    const struct outcome *out, int rc)
{
	if (j->from == FROM_QUEUE && out->q == QUEUE_RETRY)
		return "queued";
	if (s->delivered > 0)
		return s->perm.n || s->temp.n ? "partial" : "sent";
	if (out->id[0] != '\0' && rc != 0 && out->cls == FAIL_NONE)
		return "queued";
	return rc == 0 ? "sent" : "failed";
}

static void
deliver(struct ctx *x, const struct job *j, struct outcome *out)
{
	struct smtp_result res;
	struct split s;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	rc = util_signal ? -1 : run_session(x, j, &res);
	if (util_signal) {
		if (res.rcpt == NULL) {
			smtp_result_free(&res);
			memset(&res, 0, sizeof(res));
		}
		note_signal(&res);
		rc = -1;
	}
	split_rcpts(&res, &s);
	if (j->from != FROM_BS)
		print_refusals(&res);
	if (rc != 0 && j->from != FROM_BS)
		say_fail(&res.fail);
	if (s.delivered > 0 && s.delivered < j->rcpt->n)
		keep_part(x, j, &res, &s, out);
	else if (rc != 0)
		keep_whole(x, j, &res, out);
	else
		out->q = QUEUE_SENT;
	if (j->from == FROM_BS)
		bs_reply(&res, &s, out, out->reply, sizeof(out->reply));
	emit_report(x, j, &res, status_of(j, &s, out, rc), out->id[0] ? out->id :
	    j->qid, rc ? res.fail.msg : NULL, out->cls);
	split_free(&s);
	smtp_result_free(&res);
}

/* --- send ------------------------------------------------------------- */

/*
 * The message; fd stays open as long as the message is used (msg.c
 * reads a regular file in place).  header_from is the address for an
 * added From:.
 */
static struct msg *
load_message(struct ctx *x, int fd, const char *name, const char *header_from,
    int policies, struct fail *f)
{
	const struct opts *o = x->o;
	struct msg_opts mo;

	memset(&mo, 0, sizeof(mo));
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
	/* SPEC: From/Sender/To/Cc "root" gets the domain in the header
	 * too (as Postfix does for local submissions) */
	mo.qualify_domain = !policies ? NULL : o->maildomain != NULL &&
	    *o->maildomain ? o->maildomain : o->domain;
	mo.warn = front_msg_warn;
	mo.warnarg = x;
	if (fd == 0 && o->file == NULL && o->mode == MODE_SEND) {
		mo.salvage_path = dead_letter_path();
		mo.salvage_sender = header_from;
		mo.salvaged = &x->salvaged;
	}
	return msg_load(fd, name, &mo, f);
}

void
keep_stdin(void)
{
	struct msg_opts mo;
	struct msg *m;
	struct fail f = { 0 };
	int salvaged = 0;

	if (isatty(STDIN_FILENO))
		return;
	memset(&mo, 0, sizeof(mo));
	mo.keep_bcc = 1;
	mo.salvage_path = dead_letter_path();
	mo.salvage_sender = user_login();
	mo.salvaged = &salvaged;
	if ((m = msg_load(STDIN_FILENO, "stdin", &mo, &f)) == NULL) {
		if (salvaged)
			say("message saved in %s", dead_letter_path());
		else if (f.cls != FAIL_NONE)
			say("could not keep the message: %s", f.msg);
		return;
	}
	if (msg_input_size(m) > 0)
		(void)save_dead_letter(m, user_login(), NULL);
	msg_free(m);
}

static void
pretend(const struct opts *o, const struct envelope *e, struct msg *m)
{
	char buf[4096];
	size_t left = msg_header_size(m);
	struct fail f = { 0 };
	ssize_t n;

	opts_print(o, stdout);
	printf("from: <%s>\n", e->sender);
	for (size_t i = 0; i < e->rcpt.n; i++)
		printf("to: <%s>\n", e->rcpt.v[i]);
	printf("size: %lld\n\n", (long long)msg_size(m));
	if (msg_rewind(m, &f) == -1) {
		say_fail(&f);
		return;
	}
	while (left > 0 && (n = msg_read(m, buf, left < sizeof(buf) ?
	    left : sizeof(buf), &f)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != '\r')
				putchar(buf[i]);
		left -= (size_t)n;
	}
}

/* A message that never reached deliver(): keep it (SPEC). */
static void
keep_unsent(const struct ctx *x, struct msg *m, const char *sender)
{
	if (x->o->file == NULL && !x->o->pretend)
		(void)save_dead_letter(m, sender, NULL);
}

static enum fail_class
send_loaded(struct ctx *x, const struct cli *c, struct msg *m)
{
	struct envelope e;
	struct fail f = { 0 };
	struct job j;
	struct outcome out;

	if (envelope_build(&e, x->o, c->args, c->nargs, m, &f) == -1) {
		say_fail(&f);
		keep_unsent(x, m, e.sender ? e.sender : user_login());
		envelope_free(&e);
		return f.cls;
	}
	if (e.rcpt.n == 0) {
		say("no recipients (give them as arguments, or use -t to "
		    "read them from the headers)");
		keep_unsent(x, m, e.sender);
		envelope_free(&e);
		return FAIL_DATA;
	}
	if (x->o->pretend) {
		pretend(x->o, &e, m);
		envelope_free(&e);
		return FAIL_NONE;
	}
	memset(&j, 0, sizeof(j));
	memset(&out, 0, sizeof(out));
	j.from = x->o->file != NULL ? FROM_FILE : FROM_STDIN;
	j.sender = e.sender;
	j.rcpt = &e.rcpt;
	j.m = m;
	if (x->o->queue_only) {
		out.cls = FAIL_NONE;
		(void)to_queue(x, &j, &e.rcpt, NULL, NULL, out.id, &out.cls);
		if (out.cls != FAIL_NONE)
			keep_unsent(x, m, e.sender);
		emit_report(x, &j, NULL, out.cls == FAIL_NONE ? "queued" :
		    "failed", out.cls == FAIL_NONE ? out.id : NULL, NULL,
		    out.cls);
	} else
		deliver(x, &j, &out);
	envelope_free(&e);
	return out.cls;
}

enum fail_class
run_send(struct ctx *x, const struct cli *c)
{
	const struct opts *o = x->o;
	struct fail f = { 0 };
	struct msg *m;
	char *hfrom;
	int fd = STDIN_FILENO;
	enum fail_class cls;

	if (o->file != NULL && (fd = open(o->file, O_RDONLY | O_CLOEXEC))
	    == -1) {
		say("cannot open %s: %s", o->file, strerror(errno));
		return FAIL_NOINPUT;
	}
	if (envelope_check(o, &f) == -1 ||
	    (hfrom = envelope_header_from(o, &f)) == NULL) {
		say_fail(&f);
		if (o->file == NULL)
			keep_stdin();
		return f.cls;
	}
	m = load_message(x, fd, o->file ? o->file : "stdin", hfrom, 1, &f);
	if (m == NULL) {
		if (x->salvaged)
			say("%s%s; message saved in %s", f.msg,
			    front_hint(f.hint), dead_letter_path());
		else
			say_fail(&f);
		cls = f.cls;
	} else {
		cls = send_loaded(x, c, m);
		msg_free(m);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	free(hfrom);
	return cls;
}

/* --- serverinfo, list ------------------------------------------------ */

enum fail_class
run_serverinfo(struct ctx *x)
{
	struct smtp_result res;
	int rc;

	rc = smtp_session(&x->params, NULL, &res);
	if (rc != 0)
		say_fail(&res.fail);
	smtp_result_free(&res);
	return rc == 0 ? FAIL_NONE : res.fail.cls;
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

static void
list_one(const struct queue_entry *e)
{
	char a[32], shown[QUEUE_WHY_MAX], addr[600];

	age(e->created, a, sizeof(a));
	sanitize(addr, sizeof(addr), e->sender ? e->sender : "",
	    e->sender ? strlen(e->sender) : 0);
	printf("%s  %s  %lld  <%s> ->", e->id, a, (long long)e->size, addr);
	for (size_t k = 0; k < e->rcpts.n; k++) {
		sanitize(addr, sizeof(addr), e->rcpts.v[k],
		    strlen(e->rcpts.v[k]));
		printf("%s <%s>", k ? "," : "", addr);
	}
	putchar('\n');
	if (e->account != NULL) {
		sanitize(addr, sizeof(addr), e->account, strlen(e->account));
		printf("    account: %s\n", addr);
	}
	if (e->attempts > 0 || e->last_error != NULL) {
		sanitize(shown, sizeof(shown), e->last_error ?
		    e->last_error : "", e->last_error ?
		    strlen(e->last_error) : 0);
		printf("    attempts: %d, last error: %s\n", e->attempts,
		    shown);
	}
}

static int
need_queue(const struct ctx *x)
{
	if (x->o->queue != NULL)
		return 0;
	say("no queue configured (--queue=DIR, or the queue key in the "
	    "config file)");
	return -1;
}

enum fail_class
run_list(struct ctx *x)
{
	struct queue_entry *e = NULL;
	struct fail f = { 0 };
	size_t n = 0;

	if (need_queue(x) == -1)
		return FAIL_CONFIG;
	if (queue_list(x->o->queue, &e, &n, &f) == -1) {
		say_fail(&f);
		return f.cls;
	}
	if (n == 0)
		printf("queue %s is empty\n", x->o->queue);
	for (size_t i = 0; i < n; i++)
		list_one(&e[i]);
	queue_list_free(e, n);
	return FAIL_NONE;
}

/* --- flush --------------------------------------------------------------- */

/* The addresses of a queue entry pass the same checks as a new send. */
static int
queue_entry_check(const struct queue_entry *e, struct fail *f)
{
	if (addr_check(e->sender ? e->sender : "", ADDR_NULL_OK, "sender",
	    NULL, f) == -1)
		return -1;
	for (size_t i = 0; i < e->rcpts.n; i++)
		if (addr_check(e->rcpts.v[i], ADDR_POSTMASTER_OK, "recipient",
		    NULL, f) == -1)
			return -1;
	return 0;
}

static enum queue_outcome
flush_one(void *arg, const struct queue_entry *e, char *why, size_t cap)
{
	struct ctx *x = arg;
	const struct opts *o = x->o;
	struct fail f = { 0 };
	struct job j;
	struct outcome out;

	if (e->account != NULL && (o->account_name == NULL ||
	    strcmp(e->account, o->account_name) != 0)) {
		snprintf(why, cap, "queued for account %s (flush with -a %s)",
		    e->account, e->account);
		/* errors always show: a cron flush must say what it left */
		say("message %s not sent: %s", e->id, why);
		return QUEUE_SKIP;
	}
	if (x->relay_down || util_signal) {
		xstrlcpy(why, x->relay_down ? x->down_why : "interrupted",
		    cap);
		return QUEUE_SKIP;
	}
	if (queue_entry_check(e, &f) == -1) {
		/* a queue file is data like any other: checked again */
		say("message %s: %s", e->id, f.msg);
		xstrlcpy(why, f.msg, cap);
		return QUEUE_FAILED;
	}
	memset(&j, 0, sizeof(j));
	j.from = FROM_QUEUE;
	j.sender = e->sender;
	j.rcpt = &e->rcpts;
	j.account = e->account;
	j.qid = e->id;
	if ((j.m = load_message(x, e->fd, e->id, NULL, 0, &f)) == NULL) {
		/* a local read error is temporary; bad data is not */
		xstrlcpy(why, f.msg, cap);
		return f.cls == FAIL_DATA ? QUEUE_FAILED : QUEUE_RETRY;
	}
	deliver(x, &j, &out);
	msg_free(j.m);
	if (out.q != QUEUE_SENT)
		xstrlcpy(why, out.why, cap);
	return out.q;
}

enum fail_class
run_flush(struct ctx *x)
{
	struct queue_counts c = { 0, 0, 0, 0 };
	struct fail f = { 0 };
	int rc;

	if (need_queue(x) == -1)
		return FAIL_CONFIG;
	rc = queue_flush(x->o->queue, flush_one, x, &c, &f);
	smtp_close(x->conn);
	x->conn = NULL;
	if (rc == -1)
		say_fail(&f);
	if (x->o->verbose || (x->tty && !x->o->quiet))
		say("queue %s: %d sent, %d kept, %d failed, %d busy",
		    x->o->queue, c.sent, c.kept, c.failed, c.busy);
	if (rc == -1)
		return f.cls;
	if (util_signal)
		return FAIL_TEMP;
	if (c.kept > 0)
		return x->relay_down && x->down_cls != FAIL_NONE ?
		    x->down_cls : FAIL_TEMP;
	return c.failed > 0 ? FAIL_PERM : FAIL_NONE;
}

/* --- -bs ------------------------------------------------------------------ */

struct bs_state {
	struct ctx	*x;
	enum fail_class	 worst;		/* for the run's exit status */
};

/* Which outcome the run's exit status should report. */
static void
bs_note(struct bs_state *b, enum fail_class cls)
{
	if (cls == FAIL_NONE)
		return;
	if (b->worst == FAIL_NONE || cls == FAIL_RCPT)
		b->worst = cls;
}

/* Each message the local client sends is relayed like one from the
 * command line; the relay's verdict is the local reply. */
static void
bs_relay(void *arg, const char *sender, const struct strv *rcpts, int fd,
    char *reply, size_t cap)
{
	struct bs_state *b = arg;
	struct ctx *x = b->x;
	struct envelope e;
	struct fail f = { 0 };
	struct job j;
	struct outcome out;

	x->t0 = now_ms();
	x->t_greeting = 0;
	if (envelope_smtp(&e, x->o, sender, rcpts, &f) == -1) {
		reply_fmt(reply, cap, "%s %s", f.cls == FAIL_DATA ?
		    "553 5.1.3" : "451 4.3.5", f.msg);
		if (f.cls == FAIL_CONFIG) {
			/* every message will fail so: say it, exit 78 */
			say_fail(&f);
			bs_note(b, f.cls);
		}
		envelope_free(&e);
		return;
	}
	memset(&j, 0, sizeof(j));
	j.from = FROM_BS;
	j.sender = e.sender;
	j.rcpt = &e.rcpt;
	if ((j.m = load_message(x, fd, "-bs message", *e.sender ? e.sender :
	    NULL, 1, &f)) == NULL) {
		reply_fmt(reply, cap, "%s %s", f.cls == FAIL_DATA ?
		    "554 5.6.0" : "451 4.3.0", f.msg);
		envelope_free(&e);
		return;
	}
	deliver(x, &j, &out);
	xstrlcpy(reply, out.reply, cap);
	/* a whole refusal is the local client's to handle (it got the
	 * 4xx/5xx); what it cannot see from one reply is a partial one */
	if (out.partial)
		bs_note(b, out.cls);
	msg_free(j.m);
	envelope_free(&e);
}

enum fail_class
run_bs(struct ctx *x)
{
	struct bs_state b = { x, FAIL_NONE };
	struct fail f = { 0 };

	x->o->read_rcpts = 0;	/* the envelope says who */
	if (bs_serve(STDIN_FILENO, STDOUT_FILENO, x->o->domain, bs_relay, &b,
	    &f) == -1) {
		say_fail(&f);
		return f.cls;
	}
	return util_signal ? FAIL_TEMP : b.worst;
}
