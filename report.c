/*
 * report.c - JSON report and log lines for one message.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "smtp.h"
#include "util.h"

/* A JSON string (RFC 8259 7), or null. */
static void
json_str(FILE *fp, const char *s)
{
	size_t n;
	char *clean;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	/* SPEC: foreign bytes reach the report as the terminal sees them
	 * (sanitize(): C0, DEL, C1, invalid UTF-8 as \xhh; at most 4
	 * octets per input octet, so nothing is cut); what is left is
	 * valid UTF-8 without controls, and JSON needs only \" and \\. */
	n = strlen(s);
	clean = xmalloc(4 * n + 1);
	sanitize(clean, 4 * n + 1, s, n);
	fputc('"', fp);
	for (const char *p = clean; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', fp);
		fputc(*p, fp);
	}
	fputc('"', fp);
	free(clean);
}

int
report_server_id(const char *reply, char *out, size_t cap)
{
	/* Postfix "queued as 4XyZ", Exim "id=1abc-0001-XX", Sendmail
	 * "xAB12 Message accepted", OpenSMTPD "<id> Message accepted". */
	static const char *const marks[] = { "queued as ", "id=", NULL };
	const char *p = NULL;
	size_t n;

	out[0] = '\0';
	if (reply == NULL)
		return 0;
	for (int i = 0; marks[i] != NULL && p == NULL; i++)
		if ((p = strstr(reply, marks[i])) != NULL)
			p += strlen(marks[i]);
	if (p == NULL) {
		const char *m = strstr(reply, " Message accepted");
		const char *b = m;

		if (m == NULL)
			return 0;
		while (b > reply && b[-1] != ' ')
			b--;
		if (b == m || b - reply < 4 || strspn(b, "0123456789.") >=
		    (size_t)(m - b))
			return 0;	/* "250 2.0.0 Message accepted" */
		p = b;
	}
	n = strcspn(p, " ;,)>\t");
	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

/* The server reply behind a failure: the failing reply, else the
 * first refused recipient's; NULL (and *code 0) if none. */
static const char *
failing(const struct smtp_result *res, int *code)
{
	*code = 0;
	if (res->code != 0) {
		*code = res->code;
		return res->reply;
	}
	for (size_t i = 0; res->rcpt != NULL && i < res->nrcpt; i++)
		if (!res->rcpt[i].accepted && res->rcpt[i].code != 0) {
			*code = res->rcpt[i].code;
			return res->rcpt[i].text;
		}
	return NULL;
}

static void
json_rcpts(FILE *fp, const struct report *r)
{
	fputs("\"recipients\":[", fp);
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct smtp_rcpt_result *rr = NULL;

		if (r->res != NULL && r->res->rcpt != NULL &&
		    i < r->res->nrcpt)
			rr = &r->res->rcpt[i];
		fprintf(fp, "%s{\"address\":", i ? "," : "");
		json_str(fp, r->rcpt[i]);
		if (rr != NULL && rr->code != 0) {
			fprintf(fp, ",\"accepted\":%s,\"code\":%d,"
			    "\"enhanced\":", rr->accepted ? "true" : "false",
			    rr->code);
			json_str(fp, rr->enh[0] ? rr->enh : NULL);
			fputs(",\"text\":", fp);
			json_str(fp, rr->text);
		} else
			fputs(",\"accepted\":null,\"code\":null,"
			    "\"enhanced\":null,\"text\":null", fp);
		fputc('}', fp);
	}
	fputc(']', fp);
}

void
report_json(FILE *fp, const struct report *r)
{
	const struct smtp_result *res = r->res;
	char id[128];
	int code = res != NULL ? res->code : 0;
	const char *final = NULL;

	if (res != NULL && res->final[0])
		final = res->final;
	fputs("{\"status\":", fp);
	json_str(fp, r->status);
	fprintf(fp, ",\"exit_code\":%d,\"host\":", r->exit_code);
	json_str(fp, r->host);
	fprintf(fp, ",\"port\":%s,\"tls\":%s,\"from\":", r->port,
	    r->tls ? "true" : "false");
	json_str(fp, r->from);
	fputc(',', fp);
	json_rcpts(fp, r);
	if (r->size >= 0)
		fprintf(fp, ",\"size\":%lld", (long long)r->size);
	fputs(",\"final_reply\":", fp);
	json_str(fp, final);
	if (final != NULL) {
		fprintf(fp, ",\"final_code\":%d", atoi(final));
		fputs(",\"server_queue_id\":", fp);
		json_str(fp, report_server_id(final, id, sizeof(id)) ? id :
		    NULL);
	}
	fputs(",\"queue_id\":", fp);
	json_str(fp, r->queue_id);
	fputs(",\"error\":", fp);
	json_str(fp, r->error);
	if (r->error != NULL && res != NULL) {
		const char *why = failing(res, &code);

		fputs(",\"error_phase\":", fp);
		json_str(fp, smtp_phase_names[res->phase]);
		if (why != NULL) {
			fprintf(fp, ",\"error_code\":%d,\"error_reply\":",
			    code);
			json_str(fp, why);
		}
		fprintf(fp, ",\"may_have_been_delivered\":%s",
		    res->maybe_delivered ? "true" : "false");
	}
	fprintf(fp, ",\"timings\":{\"connect_ms\":%lld,\"total_ms\":%lld}}\n",
	    r->connect_ms, r->total_ms);
	fflush(fp);
}

/* A log line under construction: a memory stream, so that no value
 * of any length is cut on the way. */
struct line {
	FILE	*fp;
	char	*p;
	size_t	 len;
	int	 any;		/* a pair was written */
};

/*
 * key=value as in msmtp's log, the value in single quotes when it holds
 * a space.  Every byte from a server, a message or a file is escaped
 * (sanitize(): control bytes as \xHH, so no CR or LF can start a
 * second line), and a quote becomes '_', so it cannot end the quoting.
 */
static void
kv(struct line *l, const char *key, const char *val)
{
	size_t n = strlen(val ? val : ""), cap;
	char *clean;

	/* sanitize() writes at most 4 octets ("\xHH") per input octet */
	cap = 4 * n + 1;
	clean = xmalloc(cap);
	sanitize(clean, cap, val ? val : "", n);
	for (char *p = clean; *p != '\0'; p++)
		if (*p == '\'')
			*p = '_';
	fprintf(l->fp, strchr(clean, ' ') ? "%s%s='%s'" : "%s%s=%s",
	    l->any ? " " : "", key, clean);
	l->any = 1;
	free(clean);
}

/* The recipients, comma-separated, all of them. */
static char *
join_rcpts(const struct report *r)
{
	size_t n = 1, o = 0;
	char *s;

	for (size_t i = 0; i < r->nrcpt; i++)
		n += strlen(r->rcpt[i]) + 1;
	s = xmalloc(n);
	for (size_t i = 0; i < r->nrcpt; i++) {
		size_t k = strlen(r->rcpt[i]);

		if (i > 0)
			s[o++] = ',';
		memcpy(s + o, r->rcpt[i], k);
		o += k;
	}
	s[o] = '\0';
	return s;
}

static void
line_reply(struct line *l, const struct smtp_result *res)
{
	char num[16], id[128];
	const char *why;
	int fcode = 0;

	if (res->final[0]) {
		snprintf(num, sizeof(num), "%d", atoi(res->final));
		kv(l, "smtpstatus", num);
		kv(l, "smtpmsg", res->final);
		if (report_server_id(res->final, id, sizeof(id)))
			kv(l, "serverid", id);
	} else if ((why = failing(res, &fcode)) != NULL) {
		snprintf(num, sizeof(num), "%d", fcode);
		kv(l, "smtpstatus", num);
		kv(l, "smtpmsg", why);
	}
}

/* The whole line, malloc'ed; NULL when memory ran out. */
static char *
line_new(const struct report *r)
{
	struct line l = { NULL, NULL, 0, 0 };
	char num[32], *rcpts;

	if ((l.fp = open_memstream(&l.p, &l.len)) == NULL)
		return NULL;
	kv(&l, "host", r->host);
	kv(&l, "tls", r->tls ? "on" : "off");
	if (r->user != NULL)
		kv(&l, "user", r->user);
	kv(&l, "from", r->from);
	rcpts = join_rcpts(r);
	kv(&l, "recipients", rcpts);
	free(rcpts);
	snprintf(num, sizeof(num), "%lld", (long long)r->size);
	kv(&l, "mailsize", num);
	if (r->res != NULL)
		line_reply(&l, r->res);
	if (r->queue_id != NULL)
		kv(&l, "queueid", r->queue_id);
	if (r->error != NULL)
		kv(&l, "errormsg", r->error);
	kv(&l, "status", r->status);
	snprintf(num, sizeof(num), "%d", r->exit_code);
	kv(&l, "exitcode", num);
	if (ferror(l.fp)) {
		fclose(l.fp);
		free(l.p);
		return NULL;
	}
	if (fclose(l.fp) != 0) {
		free(l.p);
		return NULL;
	}
	return l.p;
}

void
report_line(char *out, size_t cap, const struct report *r)
{
	char *line = line_new(r);
	size_t n;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (line == NULL)
		return;
	n = strlen(line);
	if (n < cap)
		memcpy(out, line, n + 1);
	else if (cap > 4) {
		/* cut visibly, and never inside a UTF-8 sequence */
		n = cap - 4;
		while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
			n--;
		memcpy(out, line, n);
		memcpy(out + n, "...", 4);
	}
	free(line);
}

int
report_logfile(const char *path, const struct report *r, struct fail *f)
{
	char stamp[64], *line, *rec;
	time_t t = time(NULL);
	struct tm tm;
	size_t n;
	int fd, rc = 0;

	localtime_r(&t, &tm);
	if (strftime(stamp, sizeof(stamp), "%b %d %H:%M:%S", &tm) == 0)
		stamp[0] = '\0';
	if ((line = line_new(r)) == NULL) {
		fail_set(f, FAIL_IO, "%s: %s", path, strerror(ENOMEM));
		return -1;
	}
	n = strlen(stamp) + 1 + strlen(line) + 1;
	rec = xmalloc(n + 1);
	snprintf(rec, n + 1, "%s %s\n", stamp, line);
	free(line);
	/* Locked, and one write(2): concurrent runs never mix lines. */
	if ((fd = append_open(path, NULL, f)) == -1) {
		free(rec);
		return -1;
	}
	if (write_all(fd, rec, n) == -1) {
		fail_set(f, FAIL_IO, "%s: write: %s", path, strerror(errno));
		rc = -1;
	}
	if (close(fd) == -1 && rc == 0) {
		fail_set(f, FAIL_IO, "%s: close: %s", path, strerror(errno));
		rc = -1;
	}
	free(rec);
	return rc;
}

static int
facility(const char *name)
{
	static const struct { const char *n; int f; } t[] = {
		{ "LOG_MAIL", LOG_MAIL }, { "LOG_USER", LOG_USER },
		{ "LOG_LOCAL0", LOG_LOCAL0 }, { "LOG_LOCAL1", LOG_LOCAL1 },
		{ "LOG_LOCAL2", LOG_LOCAL2 }, { "LOG_LOCAL3", LOG_LOCAL3 },
		{ "LOG_LOCAL4", LOG_LOCAL4 }, { "LOG_LOCAL5", LOG_LOCAL5 },
		{ "LOG_LOCAL6", LOG_LOCAL6 }, { "LOG_LOCAL7", LOG_LOCAL7 },
	};

	for (size_t i = 0; name != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(name, t[i].n) == 0 ||
		    strcasecmp(name, t[i].n + 4) == 0)
			return t[i].f;
	return LOG_MAIL;
}

void
report_syslog(const char *fac, const struct report *r)
{
	/* RFC 5424 6.1: receivers should take 2048 octets; most take
	 * more (rsyslog 8 KiB).  Longer lines are cut visibly. */
	char line[4096];

	report_line(line, sizeof(line), r);
	openlog("smtpsend", LOG_PID, facility(fac));
	syslog(r->exit_code == 0 ? LOG_INFO : LOG_ERR, "%s", line);
	closelog();
}
