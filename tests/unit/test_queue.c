/*
 * test_queue.c - unit tests for queue.c: store and list (fields, exact
 * bytes, modes), the four outcomes, oldest first, a message locked by
 * another process, two racing flushes (each message exactly once), a
 * malformed file, kill -9 inside delivery, crash leftovers, unsafe
 * directories.  Children are forked: under valgrind use
 * --child-silent-after-fork=yes (their copy of the heap is not a leak).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "queue.h"
#include "t.h"

/* Messages in the race: enough that both flushes overlap for long. */
#define NRACE	20

struct ctx {
	enum queue_outcome	 out;
	const char		*why;
	struct strv		 seen;		/* ids in delivery order */
	int			 log;		/* O_APPEND file, or -1 */
	int			 die;		/* SIGKILL inside deliver */
	int			 bad;		/* fd gave other bytes */
	int			 slow;		/* usleep per delivery */
	const char		*expect;	/* msg_load(fd) gives this */
};

static char root[] = "/tmp/test_queue.XXXXXX";
/* Run once by the next flock() call, just before it locks. */
static void (*before_flock)(int);
static enum queue_outcome other_outcome;
static char qdir[256];

static void	 fresh(const char *);
static char	*slurp(const char *, size_t *);
static void	 spew(const char *, const char *, size_t);
static struct msg *make_msg(const char *);
static char	*msg_bytes(struct msg *, size_t *);
static int	 store(struct msg *, const char *, const char *, const char *,
		    const char *, char *);
static enum queue_outcome deliver(void *, const struct queue_entry *, char *,
		    size_t);
static void	 ctx_init(struct ctx *, enum queue_outcome, const char *);
static int	 flush(struct ctx *, struct queue_counts *);
static size_t	 count(void);
static int	 exists(const char *);
static int	 mode_of(const char *);
static void	 test_store_list(void);
static void	 test_reject(void);
static void	 test_outcomes(void);
static void	 test_order(void);
static void	 test_big(void);
static void	 other_flush(int);
static void	 test_locked(void);
static void	 test_stale_open(void);
static void	 test_race(void);
static void	 test_malformed(void);
static void	 test_kill(void);
static void	 test_leftovers(void);
static void	 test_unsafe(void);

static const char MSG1[] = "From: a@example.org\r\nTo: b@example.net\r\n"
    "Subject: one\r\n\r\nBody line\r\n.leading dot\r\nlast\r\n";

/* A new, missing queue directory for each test. */
static void
fresh(const char *name)
{
	snprintf(qdir, sizeof(qdir), "%s/%s", root, name);
}

static char *
slurp(const char *path, size_t *lenp)
{
	char *p = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	do {
		p = realloc(p, n + 4096 + 1);
		r = read(fd, p + n, 4096);
		if (r > 0)
			n += (size_t)r;
	} while (r > 0);
	close(fd);
	p[n] = '\0';
	*lenp = n;
	return p;
}

static void
spew(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, s, n) != (ssize_t)n)
		perror(path);
	close(fd);
}

/* A struct msg for text, exactly as given (nothing added). */
static struct msg *
make_msg(const char *text)
{
	static const struct msg_opts none;
	char path[300];
	struct fail f;
	struct msg *m;
	int fd;

	snprintf(path, sizeof(path), "%s/input", root);
	spew(path, text, strlen(text));
	fail_reset(&f);
	fd = open(path, O_RDONLY);
	m = msg_load(fd, "test", &none, &f);
	close(fd);
	if (m == NULL)
		fprintf(stderr, "msg_load: %s\n", f.msg);
	return m;
}

static char *
msg_bytes(struct msg *m, size_t *lenp)
{
	struct fail f;
	char *p = NULL;
	size_t n = 0;
	ssize_t r;

	fail_reset(&f);
	msg_rewind(m, &f);
	do {
		p = realloc(p, n + 4096);
		r = msg_read(m, p + n, 4096, &f);
		if (r > 0)
			n += (size_t)r;
	} while (r > 0);
	*lenp = n;
	return p;
}

/* rcpts: comma-separated. */
static int
store(struct msg *m, const char *sender, const char *rcpts,
    const char *account, const char *why, char *id)
{
	struct strv rv = { NULL, 0, 0 };
	struct queue_env env;
	struct fail f;
	int rc;

	for (const char *s = rcpts, *c; s != NULL && *s != '\0'; s = c ?
	    c + 1 : NULL) {
		c = strchr(s, ',');
		strv_addn(&rv, s, c ? (size_t)(c - s) : strlen(s));
	}
	env.sender = sender;
	env.rcpts = &rv;
	env.account = account;
	env.why = why;
	env.failed = NULL;
	fail_reset(&f);
	rc = queue_store(qdir, &env, m, id, &f);
	if (rc == -1)
		rc = -(int)f.cls;
	strv_free(&rv);
	return rc;
}

/*
 * Records the id, checks that fd yields exactly the stored message,
 * answers ctx->out with ctx->why.
 */
static enum queue_outcome
deliver(void *arg, const struct queue_entry *e, char *why, size_t cap)
{
	struct ctx *c = arg;
	char buf[4096];
	off_t total = 0;
	ssize_t r;

	strv_add(&c->seen, e->id);
	if (c->log != -1) {
		char line[QUEUE_ID_MAX + 1];
		int n = snprintf(line, sizeof(line), "%s\n", e->id);

		if (write(c->log, line, (size_t)n) != n)
			c->bad++;
	}
	if (c->slow)
		usleep(1000);
	if (c->die)
		kill(getpid(), SIGKILL);
	if (lseek(e->fd, 0, SEEK_CUR) != e->offset)
		c->bad++;
	if (c->expect != NULL) {
		/* how smtpsend sends it: msg_load() reads fd in place */
		static const struct msg_opts none;
		struct fail f;
		struct msg *m;
		char *got;
		size_t n;

		fail_reset(&f);
		if ((m = msg_load(e->fd, e->id, &none, &f)) == NULL)
			c->bad++;
		else {
			got = msg_bytes(m, &n);
			if (n != strlen(c->expect) ||
			    memcmp(got, c->expect, n) != 0)
				c->bad++;
			free(got);
			msg_free(m);
		}
		lseek(e->fd, e->offset, SEEK_SET);
	}
	while ((r = read(e->fd, buf, sizeof(buf))) > 0)
		total += r;
	if (total != e->size)
		c->bad++;
	if (c->why != NULL)
		snprintf(why, cap, "%s", c->why);
	return c->out;
}

static void
ctx_init(struct ctx *c, enum queue_outcome out, const char *why)
{
	memset(c, 0, sizeof(*c));
	c->out = out;
	c->why = why;
	c->log = -1;
}

static int
flush(struct ctx *c, struct queue_counts *qc)
{
	struct fail f;

	fail_reset(&f);
	if (queue_flush(qdir, deliver, c, qc, &f) == -1) {
		fprintf(stderr, "  queue_flush: %s\n", f.msg);
		return -1;
	}
	return 0;
}

/* Number of listed messages (-1 cast on error). */
static size_t
count(void)
{
	struct queue_entry *v;
	struct fail f;
	size_t n;

	fail_reset(&f);
	if (queue_list(qdir, &v, &n, &f) == -1)
		return (size_t)-1;
	queue_list_free(v, n);
	return n;
}

static int
exists(const char *fmt)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", qdir, fmt);
	return lstat(path, &st) == 0;
}

static int
mode_of(const char *sub)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", qdir, *sub ? "/" : "", sub);
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void
test_store_list(void)
{
	struct queue_entry *v;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], path[512], want[512];
	char *stored, *wire;
	size_t n, slen, wlen;
	long long created;
	time_t t0 = time(NULL), t1;
	mode_t old = umask(0);	/* modes must not depend on the umask */

	fresh("store");
	CHECK(store(m, "a@example.org", "b@example.net,\"c d\"@example.com",
	    NULL, NULL, id) == 0);
	t1 = time(NULL);
	umask(old);
	CHECK(strlen(id) > 30 && strlen(id) < QUEUE_ID_MAX);
	CHECK(mode_of("") == 0700);
	CHECK(mode_of("tmp") == 0700);
	CHECK(mode_of("failed") == 0700);
	CHECK(mode_of(id) == 0600);

	/* the file: envelope, then exactly the msg_read() stream */
	snprintf(path, sizeof(path), "%s/%s", qdir, id);
	stored = slurp(path, &slen);
	wire = msg_bytes(m, &wlen);
	CHECK_BYTES(wire, wlen, MSG1, sizeof(MSG1) - 1);
	if (stored == NULL || sscanf(stored, "smtpsend-queue 1\ncreated %lld",
	    &created) != 1)
		created = -1;
	CHECK(created >= (long long)t0 && created <= (long long)t1);
	snprintf(want, sizeof(want), "smtpsend-queue 1\ncreated %lld\n"
	    "from <a@example.org>\nto <b@example.net>\n"
	    "to <\"c d\"@example.com>\nattempts 0\ndata\n", created);
	CHECK(stored != NULL && slen == strlen(want) + wlen);
	if (stored != NULL && slen >= strlen(want)) {
		CHECK_BYTES(stored, strlen(want), want, strlen(want));
		CHECK_BYTES(stored + strlen(want), slen - strlen(want), wire,
		    wlen);
	}
	free(stored);
	free(wire);

	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 1);
	if (n == 1) {
		CHECK_STR(v[0].id, id);
		CHECK(v[0].created >= t0 && v[0].created <= t1);
		CHECK(v[0].size == msg_size(m));
		CHECK(v[0].size == (off_t)sizeof(MSG1) - 1);
		CHECK_STR(v[0].sender, "a@example.org");
		CHECK(v[0].rcpts.n == 2);
		if (v[0].rcpts.n == 2) {
			CHECK_STR(v[0].rcpts.v[0], "b@example.net");
			CHECK_STR(v[0].rcpts.v[1], "\"c d\"@example.com");
		}
		CHECK(v[0].account == NULL);
		CHECK(v[0].attempts == 0);
		CHECK(v[0].last_error == NULL);
		CHECK(v[0].fd == -1);
	}
	queue_list_free(v, n);

	/* null sender, an account, queued after a failed try */
	CHECK(store(m, "", "x@example.net", "work",
	    "451 4.3.0 try\r\nlater", id2) == 0);
	CHECK(strcmp(id, id2) < 0);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 2);
	if (n == 2) {
		CHECK_STR(v[0].id, id);
		CHECK_STR(v[1].id, id2);
		CHECK_STR(v[1].sender, "");
		CHECK_STR(v[1].account, "work");
		CHECK(v[1].attempts == 1);
		CHECK_STR(v[1].last_error, "451 4.3.0 try\\x0d\\x0alater");
	}
	queue_list_free(v, n);
	msg_free(m);
}

static void
test_reject(void)
{
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], cmd[600];
	size_t n = 99;
	FILE *p;

	fresh("reject");
	CHECK(store(m, "a@x\r\nRCPT TO:<evil@x>", "b@y", NULL, NULL, id) ==
	    -FAIL_DATA);
	CHECK(id[0] == '\0');
	CHECK(store(m, "a@x", "b@y,c@z\nto <evil@x>", NULL, NULL, id) ==
	    -FAIL_DATA);
	CHECK(store(m, "a@x", "b@y", "acc\rx", NULL, id) == -FAIL_DATA);
	CHECK(store(m, "a@x", "", NULL, NULL, id) == -FAIL_DATA);
	CHECK(count() == 0);
	/* after a good store, nothing is left in tmp/ */
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	snprintf(cmd, sizeof(cmd), "ls -A %s/tmp | wc -l", qdir);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%zu", &n) != 1)
			n = 99;
		pclose(p);
	}
	CHECK(n == 0);
	CHECK(count() == 1);
	msg_free(m);
}

static void
test_outcomes(void)
{
	struct queue_counts qc;
	struct queue_entry *v;
	struct ctx c;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], name[600], *before, *after, *s;
	size_t n, blen, alen;

	fresh("outcomes");
	/* an empty queue (and a missing directory) is fine */
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 0 && c.seen.n == 0);
	strv_free(&c.seen);
	CHECK(count() == 0);

	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	snprintf(name, sizeof(name), "%s/%s", qdir, id);
	before = slurp(name, &blen);

	/* RETRY twice: counted, why kept, message file untouched */
	ctx_init(&c, QUEUE_RETRY, "421 4.7.0 busy");
	CHECK(flush(&c, &qc) == 0 && qc.kept == 1 && qc.sent == 0);
	CHECK(c.seen.n == 1 && c.bad == 0);
	strv_free(&c.seen);
	ctx_init(&c, QUEUE_RETRY, "450 4.2.0 mailbox busy");
	CHECK(flush(&c, &qc) == 0 && qc.kept == 1 && c.bad == 0);
	strv_free(&c.seen);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 1);
	if (n == 1) {
		CHECK(v[0].attempts == 2);
		CHECK_STR(v[0].last_error, "450 4.2.0 mailbox busy");
	}
	queue_list_free(v, n);
	snprintf(name, sizeof(name), "%s.status", id);
	CHECK(exists(name));
	CHECK(mode_of(name) == 0600);
	snprintf(name, sizeof(name), "%s/%s", qdir, id);
	after = slurp(name, &alen);
	CHECK(before != NULL && after != NULL && alen == blen &&
	    memcmp(before, after, blen) == 0);
	free(after);

	/* SKIP: nothing counted */
	ctx_init(&c, QUEUE_SKIP, "ignored");
	CHECK(flush(&c, &qc) == 0 && qc.kept == 1 && c.seen.n == 1);
	strv_free(&c.seen);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 1 &&
	    v[0].attempts == 2);
	queue_list_free(v, n);

	/* FAILED: moved aside whole, the reason beside it */
	ctx_init(&c, QUEUE_FAILED, "550 5.1.1 no such user");
	CHECK(flush(&c, &qc) == 0 && qc.failed == 1 && qc.kept == 0);
	strv_free(&c.seen);
	CHECK(count() == 0);
	CHECK(!exists(id));
	snprintf(name, sizeof(name), "%s.status", id);
	CHECK(!exists(name));
	snprintf(name, sizeof(name), "%s/failed/%s", qdir, id);
	after = slurp(name, &alen);
	CHECK(after != NULL && alen == blen &&
	    memcmp(before, after, blen) == 0);
	free(after);
	snprintf(name, sizeof(name), "%s/failed/%s.reason", qdir, id);
	s = slurp(name, &alen);
	CHECK_STR(s, "550 5.1.1 no such user\n");
	free(s);
	CHECK(mode_of("failed") == 0700);
	free(before);

	/* SENT: gone, status too */
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	ctx_init(&c, QUEUE_RETRY, "421 later");
	CHECK(flush(&c, &qc) == 0);
	strv_free(&c.seen);
	ctx_init(&c, QUEUE_SENT, NULL);
	c.expect = MSG1;
	CHECK(flush(&c, &qc) == 0 && qc.sent == 1 && c.bad == 0);
	strv_free(&c.seen);
	CHECK(count() == 0);
	CHECK(!exists(id));
	snprintf(name, sizeof(name), "%s.status", id);
	CHECK(!exists(name));
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 0 && c.seen.n == 0);
	strv_free(&c.seen);
	msg_free(m);
}

static void
test_order(void)
{
	struct queue_counts qc;
	struct queue_entry *v;
	struct strv ids = { NULL, 0, 0 };
	struct ctx c;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX];
	size_t n;
	int same = 1;

	fresh("order");
	for (int i = 0; i < 6; i++) {
		CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
		strv_add(&ids, id);
	}
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 6);
	for (size_t i = 0; i < n && i < ids.n; i++)
		same &= strcmp(v[i].id, ids.v[i]) == 0;
	CHECK(same);
	queue_list_free(v, n);
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 6 && c.seen.n == 6);
	same = c.seen.n == ids.n;
	for (size_t i = 0; same && i < ids.n; i++)
		same = strcmp(c.seen.v[i], ids.v[i]) == 0;
	CHECK(same);
	strv_free(&c.seen);
	strv_free(&ids);
	msg_free(m);
}

/* A big message and an envelope larger than one read. */
static void
test_big(void)
{
	struct queue_counts qc;
	struct queue_entry *v;
	struct ctx c;
	struct fail f;
	struct strv rv = { NULL, 0, 0 };
	struct queue_env env = { "a@x", &rv, NULL, NULL, NULL };
	struct msg *m;
	char id[QUEUE_ID_MAX], path[512], *text, *stored, *wire, *p;
	size_t n, slen, wlen, i;

	fresh("big");
	text = malloc(300000 + 64);
	p = text + sprintf(text, "Subject: big\r\n\r\n");
	for (i = 0; i < 300000 / 60; i++)
		p += sprintf(p, "%058zu\r\n", i);
	m = make_msg(text);
	for (i = 0; i < 3000; i++) {
		snprintf(path, sizeof(path), "user%zu@example.org", i);
		strv_add(&rv, path);
	}
	fail_reset(&f);
	CHECK(queue_store(qdir, &env, m, id, &f) == 0);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 1);
	if (n == 1) {
		CHECK(v[0].rcpts.n == 3000);
		CHECK(v[0].size == msg_size(m));
		CHECK_STR(v[0].rcpts.v[2999], "user2999@example.org");
	}
	queue_list_free(v, n);
	snprintf(path, sizeof(path), "%s/%s", qdir, id);
	stored = slurp(path, &slen);
	wire = msg_bytes(m, &wlen);
	CHECK(wlen == strlen(text));
	CHECK(slen > wlen && memcmp(stored + slen - wlen, wire, wlen) == 0);
	free(stored);
	free(wire);
	ctx_init(&c, QUEUE_SENT, NULL);
	c.expect = text;
	CHECK(flush(&c, &qc) == 0 && qc.sent == 1 && c.bad == 0);
	strv_free(&c.seen);
	strv_free(&rv);
	free(text);
	msg_free(m);
}

static void
test_locked(void)
{
	struct queue_counts qc;
	struct ctx c;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], path[512], b;
	int up[2], down[2], st;
	pid_t pid;

	fresh("locked");
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	snprintf(path, sizeof(path), "%s/%s", qdir, id);
	if (pipe(up) == -1 || pipe(down) == -1)
		return;
	if ((pid = fork()) == 0) {
		int fd = open(path, O_RDONLY);

		close(up[0]);
		close(down[1]);
		b = fd != -1 && flock(fd, LOCK_EX) == 0 ? 'L' : 'E';
		if (write(up[1], &b, 1) != 1 || read(down[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	CHECK(read(up[0], &b, 1) == 1 && b == 'L');
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0);
	CHECK(c.seen.n == 0 && qc.busy == 1 && qc.sent == 0);
	strv_free(&c.seen);
	CHECK(count() == 1);
	close(down[1]);		/* the child exits, its lock goes */
	waitpid(pid, &st, 0);
	close(up[0]);
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 1 && qc.busy == 0);
	strv_free(&c.seen);
	CHECK(count() == 0);
	msg_free(m);
}

/*
 * Interposed on libc's flock() (the executable's definition wins at
 * link time): lets a test run a whole other flush in the window between
 * queue.c's open() of a message and its flock(), which no timing-based
 * race hits reliably.
 */
int
flock(int fd, int op)
{
	void (*h)(int) = before_flock;

	before_flock = NULL;
	if (h != NULL)
		h(fd);
	return (int)syscall(SYS_flock, fd, op);
}

/* Another process flushes the queue to the end, answering other_outcome. */
static void
other_flush(int fd)
{
	pid_t pid;
	int st;

	(void)fd;
	if ((pid = fork()) == 0) {
		struct queue_counts qc;
		struct ctx c;

		ctx_init(&c, other_outcome, "from the other flush");
		st = flush(&c, &qc) == 0 && c.seen.n == 1 ? 0 : 2;
		strv_free(&c.seen);
		_exit(st);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * Opened, then another flush sent it (unlinked) or moved it to failed/
 * before we locked: it must not be delivered again.  Kept (RETRY) by
 * the other one: still ours to deliver.
 */
static void
test_stale_open(void)
{
	static const enum queue_outcome other[] = {
		QUEUE_SENT, QUEUE_FAILED, QUEUE_RETRY,
	};
	struct queue_counts qc;
	struct ctx c;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX];

	fresh("stale");
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
		other_outcome = other[i];
		before_flock = other_flush;
		ctx_init(&c, QUEUE_SENT, NULL);
		CHECK(flush(&c, &qc) == 0);
		CHECK(before_flock == NULL);	/* the window was hit */
		if (other[i] == QUEUE_RETRY)
			CHECK(c.seen.n == 1 && qc.sent == 1);
		else
			CHECK(c.seen.n == 0 && qc.sent == 0 && qc.busy == 0);
		strv_free(&c.seen);
		CHECK(count() == 0);
	}
	msg_free(m);
}

/* Two flushes race over the same messages, several rounds. */
static void
test_race(void)
{
	struct strv ids = { NULL, 0, 0 };
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], logpath[512], *log, *line, *save;
	int round, ok = 1, go[2];

	fresh("race");
	snprintf(logpath, sizeof(logpath), "%s/race.log", root);
	for (round = 0; round < 5; round++) {
		struct strv got = { NULL, 0, 0 };
		pid_t pid[2];
		size_t len;
		int logfd, st, dup_or_missing = 0;

		for (int i = 0; i < NRACE; i++) {
			CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
			strv_add(&ids, id);
		}
		logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
		    0600);
		if (pipe(go) == -1)
			return;
		for (int k = 0; k < 2; k++) {
			if ((pid[k] = fork()) == 0) {
				struct queue_counts qc;
				struct ctx c;
				char b;

				close(go[1]);
				/* start together */
				if (read(go[0], &b, 1) < 0)
					_exit(3);
				ctx_init(&c, QUEUE_SENT, NULL);
				c.log = logfd;
				c.slow = round % 2;	/* vary the overlap */
				st = flush(&c, &qc) == 0 && c.bad == 0 ? 0 : 2;
				strv_free(&c.seen);
				/* valgrind checks children too */
				msg_free(m);
				_exit(st);
			}
		}
		close(go[0]);
		close(go[1]);	/* EOF releases both at once */
		for (int k = 0; k < 2; k++) {
			waitpid(pid[k], &st, 0);
			ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		close(logfd);
		log = slurp(logpath, &len);
		for (line = strtok_r(log, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strv_has(&got, line))
				dup_or_missing++;
			strv_add(&got, line);
		}
		for (size_t i = 0; i < ids.n; i++)
			if (!strv_has(&got, ids.v[i]))
				dup_or_missing++;
		CHECK(got.n == NRACE && dup_or_missing == 0);
		CHECK(count() == 0);
		free(log);
		strv_free(&got);
		strv_free(&ids);
	}
	CHECK(ok);
	msg_free(m);
}

static void
test_malformed(void)
{
	static const struct {
		const char	*text;
		const char	*reason;
	} bad[] = {
		{ "garbage\n", "no data line" },
		{ "garbage\ndata\nx\r\n", "unknown format version" },
		{ "smtpsend-queue 1\ncreated 1\nfrom <a@x>\nto <>\n"
		    "attempts 0\ndata\nx\r\n", "bad to line" },
		{ "smtpsend-queue 1\ncreated 1\nfrom <a@x>\nto <b@y>\n"
		    "attempts 0\nfoo\ndata\nx\r\n", "unexpected line" },
		{ "smtpsend-queue 1\ncreated 1\nfrom <a@x>\nto <b@y>\n"
		    "attempts 0\n", "no data line" },
		{ "smtpsend-queue 1\ncreated 1\nfrom <a@x>\nattempts 0\n"
		    "data\nx\r\n", "no recipient" },
		{ "smtpsend-queue 2\ncreated 1\nfrom <a@x>\nto <b@y>\n"
		    "attempts 0\ndata\nx\r\n", "unknown format version" },
		{ "smtpsend-queue 1\ncreated 1\nfrom <a@x>\nto <b@y>\n"
		    "attempts x\ndata\nx\r\n", "bad attempts line" },
		{ "smtpsend-queue 1\ncreated 1\nfrom a@x\nto <b@y>\n"
		    "attempts 0\ndata\nx\r\n", "bad from line" },
	};
	struct queue_counts qc;
	struct queue_entry *v;
	struct ctx c;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char good[QUEUE_ID_MAX], id[QUEUE_ID_MAX], path[600], want[128], *s;
	size_t n, len;

	fresh("malformed");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(store(m, "a@x", "b@y", NULL, NULL, good) == 0);
		/* a file with a valid name placed by someone else */
		snprintf(id, sizeof(id), "20000101T000000.00000000%zu-1-"
		    "0000abcd", i);
		snprintf(path, sizeof(path), "%s/%s", qdir, id);
		spew(path, bad[i].text, strlen(bad[i].text));
		snprintf(want, sizeof(want), "malformed queue file: %s",
		    bad[i].reason);
		fail_reset(&f);
		CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 2);
		if (n == 2) {
			CHECK_STR(v[0].id, id);		/* older */
			CHECK_STR(v[0].last_error, want);
			CHECK_STR(v[0].sender, "");
			CHECK_STR(v[1].id, good);
		}
		queue_list_free(v, n);
		ctx_init(&c, QUEUE_SENT, NULL);
		CHECK(flush(&c, &qc) == 0 && qc.failed == 1 && qc.sent == 1);
		CHECK(c.seen.n == 1 && c.seen.n == 1 &&
		    strcmp(c.seen.v[0], good) == 0);
		strv_free(&c.seen);
		snprintf(path, sizeof(path), "%s/failed/%s.reason", qdir, id);
		s = slurp(path, &len);
		strcat(want, "\n");
		CHECK_STR(s, want);
		free(s);
		snprintf(path, sizeof(path), "failed/%s", id);
		CHECK(exists(path));
		CHECK(count() == 0);
	}
	msg_free(m);
}

/* kill -9 inside delivery: the message stays, whole, and unlocked. */
static void
test_kill(void)
{
	struct queue_counts qc;
	struct queue_entry *v;
	struct ctx c;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], path[512], *before, *after;
	size_t n, blen, alen;
	int st;
	pid_t pid;

	fresh("kill");
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	snprintf(path, sizeof(path), "%s/%s", qdir, id);
	before = slurp(path, &blen);
	/* twice: once fresh, once with a status file present */
	for (int round = 0; round < 2; round++) {
		if ((pid = fork()) == 0) {
			ctx_init(&c, QUEUE_SENT, NULL);
			c.die = 1;
			flush(&c, &qc);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		fail_reset(&f);
		CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 1);
		if (n == 1) {
			CHECK_STR(v[0].id, id);
			CHECK(v[0].attempts == round);
		}
		queue_list_free(v, n);
		after = slurp(path, &alen);
		CHECK(after != NULL && alen == blen &&
		    memcmp(before, after, blen) == 0);
		free(after);
		if (round == 0) {
			ctx_init(&c, QUEUE_RETRY, "421 later");
			CHECK(flush(&c, &qc) == 0 && qc.kept == 1);
			strv_free(&c.seen);
		}
	}
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 1 && qc.busy == 0);
	strv_free(&c.seen);
	CHECK(count() == 0);
	free(before);
	msg_free(m);
}

/*
 * A crash mid-store leaves DIR/tmp/ID: never listed nor delivered,
 * removed once stale.  A status without its message goes; stray files
 * stay untouched.
 */
static void
test_leftovers(void)
{
	static const char env[] = "smtpsend-queue 1\ncreated 1\n"
	    "from <a@x>\nto <b@y>\nattempts 0\ndata\nSubject: x\r\n\r\nx\r\n";
	static const char tid[] = "20000101T000000.000000001-1-00000001";
	static const char tid2[] = "20000101T000000.000000002-1-00000002";
	struct timespec old[2];
	struct queue_counts qc;
	struct ctx c;
	char path[600];

	fresh("leftovers");
	CHECK(count() == 0);
	{
		struct msg *m = make_msg(MSG1);
		char id[QUEUE_ID_MAX];

		CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
		ctx_init(&c, QUEUE_SENT, NULL);
		CHECK(flush(&c, &qc) == 0 && qc.sent == 1);
		strv_free(&c.seen);
		msg_free(m);
	}
	snprintf(path, sizeof(path), "%s/tmp/%s", qdir, tid);
	spew(path, env, 20);			/* cut short */
	snprintf(path, sizeof(path), "%s/tmp/%s", qdir, tid2);
	spew(path, env, sizeof(env) - 1);	/* whole, never renamed */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 2 * 24 * 60 * 60;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	snprintf(path, sizeof(path), "%s/%s.status", qdir, tid);
	spew(path, "smtpsend-queue-status 1\nattempts 1\n", 35);
	snprintf(path, sizeof(path), "%s/README", qdir);
	spew(path, "x", 1);
	snprintf(path, sizeof(path), "%s/.hidden", qdir);
	spew(path, "x", 1);
	snprintf(path, sizeof(path), "%s/20000101T000000.000000003-1-0000000",
	    qdir);				/* almost an id */
	spew(path, env, sizeof(env) - 1);
	snprintf(path, sizeof(path), "%s/20000101T000000.000000004-1-00000004",
	    qdir);
	CHECK(mkdir(path, 0700) == 0);		/* an id-named directory */

	CHECK(count() == 0);
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(flush(&c, &qc) == 0 && qc.sent == 0 && qc.failed == 0);
	CHECK(c.seen.n == 0);
	strv_free(&c.seen);
	snprintf(path, sizeof(path), "tmp/%s", tid);
	CHECK(exists(path));			/* fresh: maybe a live store */
	snprintf(path, sizeof(path), "tmp/%s", tid2);
	CHECK(!exists(path));			/* stale: removed */
	snprintf(path, sizeof(path), "%s.status", tid);
	CHECK(!exists(path));			/* orphan status: removed */
	CHECK(exists("README") && exists(".hidden"));
	CHECK(exists("20000101T000000.000000003-1-0000000"));
	CHECK(exists("20000101T000000.000000004-1-00000004"));
	CHECK(count() == 0);
}

static void
test_unsafe(void)
{
	struct queue_counts qc;
	struct queue_entry *v;
	struct ctx c;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], path[512];
	size_t n;

	fresh("unsafe");
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	CHECK(chmod(qdir, 0770) == 0);
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == -FAIL_CONFIG);
	fail_reset(&f);
	ctx_init(&c, QUEUE_SENT, NULL);
	CHECK(queue_flush(qdir, deliver, &c, &qc, &f) == -1 &&
	    f.cls == FAIL_CONFIG && c.seen.n == 0);
	CHECK(strstr(f.msg, "writable by group or others") != NULL);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == -1 && f.cls == FAIL_CONFIG);
	CHECK(chmod(qdir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/failed", qdir);
	CHECK(chmod(path, 0702) == 0);
	fail_reset(&f);
	CHECK(queue_flush(qdir, deliver, &c, &qc, &f) == -1 &&
	    f.cls == FAIL_CONFIG && c.seen.n == 0);
	CHECK(chmod(path, 0700) == 0);

	/* a file where DIR should be */
	snprintf(qdir, sizeof(qdir), "%s/input", root);
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == -FAIL_CONFIG);
	/* missing parents are created */
	snprintf(qdir, sizeof(qdir), "%s/deep/er/queue", root);
	CHECK(store(m, "a@x", "b@y", NULL, NULL, id) == 0);
	CHECK(count() == 1);
	msg_free(m);
}

/* A permanent failure at send time goes straight to failed/ with the
 * server's reply, never into the queue proper (SPEC Reliability). */
static void
test_store_failed(void)
{
	struct strv rv = { NULL, 0, 0 };
	struct queue_env env = { "a@x", &rv, NULL, "550 5.1.1 <b@y> unknown",
	    NULL };
	struct queue_entry *v;
	struct fail f;
	struct msg *m = make_msg(MSG1);
	char id[QUEUE_ID_MAX], name[600], *text;
	size_t n, len;

	fresh("storefailed");
	strv_add(&rv, "b@y");
	fail_reset(&f);
	CHECK(queue_store(qdir, &env, m, id, &f) == 0 && id[0] != '\0');
	snprintf(name, sizeof(name), "%s/failed/%s", qdir, id);
	CHECK(access(name, F_OK) == 0);
	snprintf(name, sizeof(name), "%s/%s", qdir, id);
	CHECK(access(name, F_OK) == -1 && errno == ENOENT);
	snprintf(name, sizeof(name), "%s/failed/%s.reason", qdir, id);
	text = slurp(name, &len);
	CHECK(text != NULL && strcmp(text, "550 5.1.1 <b@y> unknown\n") == 0);
	free(text);
	fail_reset(&f);
	CHECK(queue_list(qdir, &v, &n, &f) == 0 && n == 0);
	queue_list_free(v, n);
	strv_free(&rv);
	msg_free(m);
}

int
main(void)
{
	char cmd[100];

	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_store_list();
	test_reject();
	test_outcomes();
	test_store_failed();
	test_order();
	test_big();
	test_locked();
	test_stale_open();
	test_race();
	test_malformed();
	test_kill();
	test_leftovers();
	test_unsafe();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (t_fail == 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	T_DONE("queue");
}
