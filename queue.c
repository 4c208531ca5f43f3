/*
 * queue.c - the store-and-forward queue.
 *
 * Layout of DIR (all 0700, files 0600):
 *
 *	DIR/ID			envelope + message, written once, never changed
 *	DIR/ID.status		attempts and last error (absent until a retry)
 *	DIR/tmp/		files being written; renamed into place
 *	DIR/failed/ID		a permanently refused message, unchanged
 *	DIR/failed/ID.reason	the server's reply (one line)
 *
 * A queue file is text up to a line "data", then the message bytes:
 *
 *	smtpsend-queue 1
 *	created 1706745599
 *	from <alice@example.org>	("from <>" for the null sender)
 *	account work			(optional)
 *	to <bob@example.net>		(one line per recipient)
 *	attempts 0			(1 when a failed try queued it)
 *	error 451 4.3.0 try later	(optional: why it was queued)
 *	data
 *
 * ID.status, when present, overrides attempts and error:
 *
 *	smtpsend-queue-status 1
 *	attempts 3
 *	error 421 4.7.0 too busy
 *
 * Crash safety.  Every file reaches its final name by rename() from
 * DIR/tmp after fsync(), and the directory is fsync'ed after, so a
 * reader sees a whole file or none.  Delivery holds flock(LOCK_EX) on
 * the message file from before the callback until the file is gone or
 * its outcome recorded; the lock dies with the process, so a kill -9
 * leaves the message queued and unlocked.  A flush that opened a file
 * just before another flush removed or moved it checks, once it holds
 * the lock, that the name still leads to the same inode; so nothing is
 * sent twice.  Leftovers of crashes (files in DIR/tmp, ID.status without
 * its ID) are removed by queue_flush().
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "queue.h"

#define ENV_VERSION	"smtpsend-queue 1"
#define STATUS_VERSION	"smtpsend-queue-status 1"
#define STATUS_SUFFIX	".status"
#define REASON_SUFFIX	".reason"

/*
 * Bound on the envelope text: RFC 5321 4.5.3.1.3 caps a path at 256
 * octets, so this holds over 30,000 recipients, far more than any
 * server takes in one transaction; it keeps a corrupt file from making
 * us read a whole message as envelope.
 */
#define ENV_MAX		(8 * 1024 * 1024)
/* Bound on ID.status: two short lines and one QUEUE_WHY_MAX error. */
#define STATUS_MAX	(QUEUE_WHY_MAX + 256)
/* Copy buffer for the message: large enough that the syscall count
 * does not matter, small enough for the stack. */
#define COPY_BUF	(64 * 1024)
/*
 * A file in DIR/tmp older than this is the debris of a crash: a store
 * copies a message that msg_load() has already read, so it lasts
 * seconds (minutes for a huge one on a slow disk), and each write moves
 * the mtime on.  A day is far beyond any live store yet short enough
 * that debris does not pile up.
 */
#define STALE_TMP_SECS	(24 * 60 * 60)
/* Fresh ids tried before giving up: a collision needs the same
 * nanosecond, pid and 32 random bits, so a second try already never
 * happens; the bound only stops a loop on a broken system. */
#define ID_TRIES	8

const char *const queue_outcome_names[QUEUE_OUTCOME_MAX] = {
	[QUEUE_SENT] = "sent",
	[QUEUE_RETRY] = "retry",
	[QUEUE_FAILED] = "failed",
	[QUEUE_SKIP] = "skip",
};

/* How much of DIR qdir_open() prepares. */
enum qdir_mode {
	QD_READ,	/* DIR only, nothing created: listing */
	QD_FLUSH,	/* DIR must exist; tmp/ and failed/ created */
	QD_STORE,	/* everything created */
};

/* An open queue: the directories as descriptors, so that every
 * operation is relative to the directory we checked. */
struct qdir {
	const char	*path;
	int		 d, tmp, failed;
};

/* Growable text for the envelope and status files. */
struct buf {
	char	*p;
	size_t	 n, cap;
};

enum lock_result { LK_OK, LK_BUSY, LK_GONE, LK_ERR };

static int	 mkdirs(const char *);
static int	 dir_safe(int, const char *, const char *, struct fail *);
static int	 subdir(struct qdir *, const char *, int, struct fail *);
static int	 qdir_open(struct qdir *, const char *, enum qdir_mode,
		    struct fail *);
static void	 qdir_close(struct qdir *);
static int	 qfail(struct fail *, enum fail_class, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 io_fail(struct fail *, const struct qdir *, const char *,
		    const char *);
static void	 buf_add(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 one_line(char *, size_t, const char *);
static void	 make_id(char *, size_t);
static int	 id_valid(const char *);
static int	 bad_text(const char *);
static int	 env_check(const struct queue_env *, struct fail *);
static void	 env_format(struct buf *, const struct queue_env *, time_t);
static int	 tmp_create(struct qdir *, char *, struct fail *);
static int	 copy_msg(int, struct msg *, struct qdir *, const char *,
		    struct fail *);
static int	 publish(struct qdir *, const char *, int, struct fail *);
static int	 write_atomic(struct qdir *, int, const char *,
		    const struct buf *, struct fail *);
static int	 num(const char *, long long, long long *);
static char	*bracketed(const char *, const char *);
static char	*next_line(char **, char *);
static ssize_t	 env_find(int, struct buf *);
static const char *env_parse(char *, size_t, struct queue_entry *);
static int	 env_read(int, struct queue_entry *, const char **);
static void	 status_read(struct qdir *, struct queue_entry *);
static void	 entry_init(struct queue_entry *, const char *);
static void	 entry_free(struct queue_entry *);
static int	 cmp_str(const void *, const void *);
static int	 list_ids(struct qdir *, struct strv *, struct strv *,
		    struct fail *);
static int	 list_one(struct qdir *, const char *, struct queue_entry *,
		    struct fail *);
static void	 clean_tmp(struct qdir *);
static void	 clean_orphans(struct qdir *, const struct strv *);
static enum lock_result lock_entry(struct qdir *, const char *, int *,
		    struct fail *);
static int	 finish_sent(struct qdir *, const char *, struct fail *);
static int	 finish_retry(struct qdir *, const struct queue_entry *,
		    const char *, struct fail *);
static int	 finish_failed(struct qdir *, const char *, const char *,
		    struct fail *);
static int	 record(struct qdir *, const struct queue_entry *,
		    enum queue_outcome, const char *, struct queue_counts *,
		    struct fail *);
static int	 flush_one(struct qdir *, const char *, queue_deliver_fn,
		    void *, struct queue_counts *, struct fail *);

/* mkdir -p with 0700 for every level we create. */
static int
mkdirs(const char *path)
{
	char *p = xstrdup(path), *s, c;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/*
 * A queue directory must be ours and closed to others: whoever can drop
 * a file into it can make us send mail under our name.
 */
static int
dir_safe(int fd, const char *path, const char *sub, struct fail *f)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return qfail(f, FAIL_CONFIG, "queue %s%s: %s", path, sub,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return qfail(f, FAIL_CONFIG, "queue %s%s: not a directory",
		    path, sub);
	if (st.st_uid != geteuid())
		return qfail(f, FAIL_CONFIG,
		    "queue %s%s: owned by another user", path, sub);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return qfail(f, FAIL_CONFIG,
		    "queue %s%s: writable by group or others", path, sub);
	return 0;
}

static int
subdir(struct qdir *q, const char *name, int create, struct fail *f)
{
	char sub[16];
	int fd;

	snprintf(sub, sizeof(sub), "/%s", name);
	if (create && mkdirat(q->d, name, 0700) == -1 && errno != EEXIST)
		return qfail(f, FAIL_CONFIG, "queue %s%s: %s", q->path, sub,
		    strerror(errno));
	fd = openat(q->d, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd == -1)
		return qfail(f, FAIL_CONFIG, "queue %s%s: %s", q->path, sub,
		    strerror(errno));
	if (dir_safe(fd, q->path, sub, f) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns 0, 1 when DIR does not exist (QD_READ, QD_FLUSH), or -1. */
static int
qdir_open(struct qdir *q, const char *path, enum qdir_mode mode,
    struct fail *f)
{
	q->path = path;
	q->d = q->tmp = q->failed = -1;
	if (path == NULL || *path == '\0')
		return qfail(f, FAIL_CONFIG, "queue: no directory");
	if (mode == QD_STORE && mkdirs(path) == -1)
		return qfail(f, FAIL_CONFIG, "queue %s: %s", path,
		    strerror(errno));
	q->d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->d == -1) {
		if (errno == ENOENT && mode != QD_STORE)
			return 1;
		return qfail(f, FAIL_CONFIG, "queue %s: %s", path,
		    strerror(errno));
	}
	if (dir_safe(q->d, path, "", f) == -1 || (mode != QD_READ &&
	    ((q->tmp = subdir(q, "tmp", 1, f)) == -1 ||
	    (q->failed = subdir(q, "failed", 1, f)) == -1))) {
		qdir_close(q);
		return -1;
	}
	return 0;
}

static void
qdir_close(struct qdir *q)
{
	if (q->d != -1)
		close(q->d);
	if (q->tmp != -1)
		close(q->tmp);
	if (q->failed != -1)
		close(q->failed);
	q->d = q->tmp = q->failed = -1;
}

/* fail_set() that returns -1 for the caller to return. */
static int
qfail(struct fail *f, enum fail_class cls, const char *fmt, ...)
{
	char msg[sizeof(f->msg)];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errno = saved;		/* fail_set() records it */
	fail_set(f, cls, "%s", msg);
	return -1;
}

/* Record errno against DIR/sub/name; returns -1 for the caller. */
static int
io_fail(struct fail *f, const struct qdir *q, const char *sub,
    const char *name)
{
	fail_set(f, FAIL_IO, "queue %s%s/%s: %s", q->path, sub, name,
	    strerror(errno));
	return -1;
}

static void
buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if (b->n + (size_t)len + 1 > b->cap) {
		b->cap = (b->n + (size_t)len + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n += (size_t)len;
}

/* A why as one line of a queue file: control bytes escaped, bounded. */
static void
one_line(char *dst, size_t cap, const char *src)
{
	sanitize(dst, cap, src, strlen(src));
}

/* UTC time to the nanosecond, pid, random bits: see queue.h. */
static void
make_id(char *id, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char date[32];
	uint32_t r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%S", &tm);
	if (getentropy(&r, sizeof(r)) == -1)
		r = (uint32_t)ts.tv_nsec * 2654435761u;	/* Knuth's hash */
	snprintf(id, cap, "%s.%09ld-%ld-%08" PRIx32, date, (long)ts.tv_nsec,
	    (long)getpid(), r);
}

/* Exactly the shape make_id() writes; anything else in DIR is not ours. */
static int
id_valid(const char *s)
{
	static const char shape[] = "ddddddddTdddddd.ddddddddd-";
	size_t i, n;

	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') :
		    s[i] != shape[i])
			return 0;
	for (n = 0; s[i] >= '0' && s[i] <= '9'; i++, n++)
		;
	if (n == 0 || n > 10 || s[i++] != '-')	/* 10: pid_t is 32 bits */
		return 0;
	for (n = 0; (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
	    s[i] <= 'f'); i++, n++)
		;
	return n == 8 && s[i] == '\0';
}

/* CR or LF would end the line early and forge envelope lines. */
static int
bad_text(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int
env_check(const struct queue_env *env, struct fail *f)
{
	char show[256];

	if (env->rcpts == NULL || env->rcpts->n == 0)
		return qfail(f, FAIL_DATA, "queue: no recipient");
	if (env->sender != NULL && bad_text(env->sender))
		return qfail(f, FAIL_DATA, "queue: CR or LF in sender \"%s\"",
		    sanitize(show, sizeof(show), env->sender,
		    strlen(env->sender)));
	if (env->account != NULL && (*env->account == '\0' ||
	    bad_text(env->account)))
		return qfail(f, FAIL_DATA, "queue: bad account name \"%s\"",
		    sanitize(show, sizeof(show), env->account,
		    strlen(env->account)));
	for (size_t i = 0; i < env->rcpts->n; i++) {
		const char *r = env->rcpts->v[i];

		if (*r == '\0' || bad_text(r))
			return qfail(f, FAIL_DATA,
			    "queue: bad recipient \"%s\"", sanitize(show,
			    sizeof(show), r, strlen(r)));
	}
	return 0;
}

static void
env_format(struct buf *b, const struct queue_env *env, time_t now)
{
	char why[QUEUE_WHY_MAX];

	buf_add(b, "%s\ncreated %lld\nfrom <%s>\n", ENV_VERSION,
	    (long long)now, env->sender ? env->sender : "");
	if (env->account != NULL)
		buf_add(b, "account %s\n", env->account);
	for (size_t i = 0; i < env->rcpts->n; i++)
		buf_add(b, "to <%s>\n", env->rcpts->v[i]);
	buf_add(b, "attempts %d\n", env->why != NULL ? 1 : 0);
	if (env->why != NULL) {
		one_line(why, sizeof(why), env->why);
		buf_add(b, "error %s\n", why);
	}
	buf_add(b, "data\n");
}

/* Create DIR/tmp/ID exclusively under a fresh id not used in DIR. */
static int
tmp_create(struct qdir *q, char *id, struct fail *f)
{
	struct stat st;
	int fd;

	for (int i = 0; i < ID_TRIES; i++) {
		make_id(id, QUEUE_ID_MAX);
		if (fstatat(q->d, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		fd = openat(q->tmp, id, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST)
			return io_fail(f, q, "/tmp", id);
	}
	fail_set(f, FAIL_IO, "queue %s: no unique id", q->path);
	return -1;
}

/*
 * The msg_read() stream into fd.  The count is checked against
 * msg_size(): a --file changed under us must not be queued truncated.
 */
static int
copy_msg(int fd, struct msg *m, struct qdir *q, const char *id,
    struct fail *f)
{
	static char buf[COPY_BUF];	/* static: keeps 64 KiB off the stack */
	off_t total = 0;
	ssize_t n;

	if (msg_rewind(m, f) == -1)
		return -1;
	while ((n = msg_read(m, buf, sizeof(buf), f)) > 0) {
		if (write_all(fd, buf, (size_t)n) == -1)
			return io_fail(f, q, "/tmp", id);
		total += n;
	}
	if (n == -1)
		return -1;
	if (total != msg_size(m))
		return qfail(f, FAIL_IO, "queue: the message changed while "
		    "being stored (%lld bytes, expected %lld)",
		    (long long)total, (long long)msg_size(m));
	return 0;
}

/* fsync and close DIR/tmp/ID, rename it to DIR/ID, fsync DIR. */
static int
publish(struct qdir *q, const char *id, int fd, struct fail *f)
{
	if (fsync(fd) == -1) {
		close(fd);
		return io_fail(f, q, "/tmp", id);
	}
	if (close(fd) == -1)	/* NFS reports write errors here */
		return io_fail(f, q, "/tmp", id);
	if (renameat(q->tmp, id, q->d, id) == -1)
		return io_fail(f, q, "", id);
	if (fsync(q->d) == -1) {
		/* Not known to be durable: take it back, report failure,
		 * so the caller keeps the message elsewhere (no duplicate). */
		io_fail(f, q, "", id);
		unlinkat(q->d, id, 0);
		return -1;
	}
	return 0;
}

int
queue_store(const char *dir, const struct queue_env *env, struct msg *m,
    char *id, struct fail *f)
{
	struct qdir q;
	struct buf b = { NULL, 0, 0 };
	int fd, rc = -1;

	*id = '\0';
	if (env_check(env, f) == -1)
		return -1;
	env_format(&b, env, time(NULL));
	if (b.n > ENV_MAX) {
		free(b.p);
		return qfail(f, FAIL_DATA, "queue: envelope too large");
	}
	if (qdir_open(&q, dir, QD_STORE, f) != 0) {
		free(b.p);
		return -1;
	}
	if ((fd = tmp_create(&q, id, f)) == -1)
		goto out;
	if (write_all(fd, b.p, b.n) == -1) {
		io_fail(f, &q, "/tmp", id);
		close(fd);
	} else if (copy_msg(fd, m, &q, id, f) == -1)
		close(fd);
	else if (publish(&q, id, fd, f) == 0)
		rc = 0;
	if (rc == -1)
		unlinkat(q.tmp, id, 0);
	/* SPEC: a permanent failure is kept in the failed folder, with
	 * the reply that refused it */
	else if (env->failed != NULL && finish_failed(&q, id, env->failed,
	    f) == -1)
		rc = -1;
out:
	if (rc == -1)
		*id = '\0';
	free(b.p);
	qdir_close(&q);
	return rc;
}

/* Write DIR/tmp/name, fsync, rename into todir (a qdir fd), fsync it. */
static int
write_atomic(struct qdir *q, int todir, const char *name,
    const struct buf *b, struct fail *f)
{
	int fd;

	fd = openat(q->tmp, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return io_fail(f, q, "/tmp", name);
	if (write_all(fd, b->p, b->n) == -1 || fsync(fd) == -1) {
		io_fail(f, q, "/tmp", name);
		close(fd);
		unlinkat(q->tmp, name, 0);
		return -1;
	}
	if (close(fd) == -1 || renameat(q->tmp, name, todir, name) == -1) {
		io_fail(f, q, "/tmp", name);
		unlinkat(q->tmp, name, 0);
		return -1;
	}
	if (fsync(todir) == -1)
		return io_fail(f, q, "", name);
	return 0;
}

/* A decimal number of at most max, digits only. */
static int
num(const char *s, long long max, long long *out)
{
	long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* "KEY<value>" (key ends in '<') -> malloc'ed value, or NULL. */
static char *
bracketed(const char *line, const char *key)
{
	size_t k = strlen(key), n = strlen(line);

	if (n < k + 1 || strncmp(line, key, k) != 0 || line[n - 1] != '>')
		return NULL;
	return xstrndup(line + k, n - k - 1);
}

/* The next of the '\0'-terminated lines in [*pp, end), or NULL. */
static char *
next_line(char **pp, char *end)
{
	char *s = *pp;

	if (s >= end)
		return NULL;
	*pp += strlen(s) + 1;
	return s;
}

/*
 * Read the start of fd into b until the line "data"; returns the
 * offset of the message, 0 when there is none within ENV_MAX (or
 * before the end), -1 on a read error.  b->p is NUL-terminated.
 */
static ssize_t
env_find(int fd, struct buf *b)
{
	static const char mark[] = "\ndata\n";
	const size_t ml = sizeof(mark) - 1;

	for (;;) {
		/* a mark starting before here was already looked for */
		size_t from = b->n >= ml ? b->n - (ml - 1) : 0;
		char *s, *end;
		ssize_t r;

		if (b->cap - b->n < 8192 + 1) {	/* 8192: one read's worth */
			b->cap = b->cap ? b->cap * 2 : 16384;
			b->p = xrealloc(b->p, b->cap);
		}
		r = pread(fd, b->p + b->n, b->cap - b->n - 1, (off_t)b->n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? 0 : -1;
		b->n += (size_t)r;
		b->p[b->n] = '\0';
		end = b->p + b->n;
		for (s = b->p + from; (s = memchr(s, '\n', (size_t)(end - s)))
		    != NULL; s++)
			if ((size_t)(end - s) >= ml && memcmp(s, mark, ml) == 0)
				return s + ml - b->p;
		if (b->n > ENV_MAX)
			return 0;
	}
}

/*
 * Parse the envelope text (n bytes of lines, each '\n' already made
 * '\0') into e.  Returns NULL, or what is wrong with it.
 */
static const char *
env_parse(char *p, size_t n, struct queue_entry *e)
{
	char *end = p + n, *line, *r;
	long long v;

	line = next_line(&p, end);
	if (line == NULL || strcmp(line, ENV_VERSION) != 0)
		return "unknown format version";
	line = next_line(&p, end);
	if (line == NULL || strncmp(line, "created ", 8) != 0 ||
	    num(line + 8, INT64_MAX / 2, &v) == -1)	/* any time_t */
		return "bad created line";
	e->created = (time_t)v;
	line = next_line(&p, end);
	if (line == NULL || (e->sender = bracketed(line, "from <")) == NULL)
		return "bad from line";
	line = next_line(&p, end);
	if (line != NULL && strncmp(line, "account ", 8) == 0) {
		if (line[8] == '\0')
			return "bad account line";
		e->account = xstrdup(line + 8);
		line = next_line(&p, end);
	}
	for (; line != NULL && (r = bracketed(line, "to <")) != NULL;
	    line = next_line(&p, end)) {
		if (*r == '\0') {
			free(r);
			return "bad to line";
		}
		strv_add(&e->rcpts, r);
		free(r);
	}
	if (e->rcpts.n == 0)
		return "no recipient";
	if (line == NULL || strncmp(line, "attempts ", 9) != 0 ||
	    num(line + 9, INT32_MAX, &v) == -1)
		return "bad attempts line";
	e->attempts = (int)v;
	line = next_line(&p, end);
	if (line != NULL && strncmp(line, "error ", 6) == 0) {
		e->last_error = xstrdup(line + 6);
		line = next_line(&p, end);
	}
	if (line != NULL)
		return "unexpected line";
	return NULL;
}

/*
 * Read and parse the envelope of an open queue file; on success the
 * fd is positioned at the message and e->offset, e->size are set.
 * Returns 0, 1 when malformed (*bad says why), -1 on an I/O error.
 */
static int
env_read(int fd, struct queue_entry *e, const char **bad)
{
	struct buf b = { NULL, 0, 0 };
	struct stat st;
	ssize_t off;

	if (fstat(fd, &st) == -1 || (off = env_find(fd, &b)) == -1) {
		free(b.p);
		return -1;
	}
	*bad = NULL;
	if (off == 0)
		*bad = "no data line";
	else if (memchr(b.p, '\0', (size_t)off) != NULL)
		*bad = "NUL byte in envelope";
	else {
		for (ssize_t i = 0; i < off; i++)
			if (b.p[i] == '\n')
				b.p[i] = '\0';
		/* the text before the "data" line */
		*bad = env_parse(b.p, (size_t)off - 5, e);
	}
	free(b.p);
	if (*bad != NULL)
		return 1;
	e->offset = off;
	e->size = st.st_size - off;
	if (lseek(fd, off, SEEK_SET) == -1)
		return -1;
	return 0;
}

/* ID.status overrides the envelope's attempts and error; a missing or
 * damaged one is ignored (it only carries counts for display). */
static void
status_read(struct qdir *q, struct queue_entry *e)
{
	char name[QUEUE_ID_MAX + sizeof(STATUS_SUFFIX)], text[STATUS_MAX + 1];
	char *nl, *err;
	long long v;
	ssize_t n;
	int fd;

	snprintf(name, sizeof(name), "%s%s", e->id, STATUS_SUFFIX);
	if ((fd = openat(q->d, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;
	n = read(fd, text, STATUS_MAX);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	if (strncmp(text, STATUS_VERSION "\nattempts ",
	    sizeof(STATUS_VERSION "\nattempts ") - 1) != 0)
		return;
	err = text + sizeof(STATUS_VERSION "\nattempts ") - 1;
	if ((nl = strchr(err, '\n')) == NULL)
		return;
	*nl = '\0';
	if (num(err, INT32_MAX, &v) == -1)
		return;
	e->attempts = (int)v;
	free(e->last_error);
	e->last_error = NULL;
	err = nl + 1;
	if (strncmp(err, "error ", 6) == 0 && (nl = strchr(err, '\n')) != NULL)
		e->last_error = xstrndup(err + 6, (size_t)(nl - err - 6));
}

static void
entry_init(struct queue_entry *e, const char *id)
{
	memset(e, 0, sizeof(*e));
	xstrlcpy(e->id, id, sizeof(e->id));
	e->fd = -1;
}

static void
entry_free(struct queue_entry *e)
{
	free(e->sender);
	strv_free(&e->rcpts);
	free(e->account);
	free(e->last_error);
	e->sender = e->account = e->last_error = NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The ids in DIR, sorted (oldest first), and the ID.status names.
 * Everything else (tmp/, failed/, dotfiles, stray files) is not ours
 * and left alone without a word.
 */
static int
list_ids(struct qdir *q, struct strv *ids, struct strv *status,
    struct fail *f)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* a new open file description: readdir from the start, alone */
	if ((fd = openat(q->d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return io_fail(f, q, "", ".");
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return io_fail(f, q, "", ".");
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		size_t n = strlen(de->d_name), sl = strlen(STATUS_SUFFIX);

		if (id_valid(de->d_name))
			strv_add(ids, de->d_name);
		else if (status != NULL && n > sl &&
		    strcmp(de->d_name + n - sl, STATUS_SUFFIX) == 0) {
			char *id = xstrndup(de->d_name, n - sl);

			if (id_valid(id))
				strv_add(status, de->d_name);
			free(id);
		}
	}
	if (errno != 0) {
		io_fail(f, q, "", ".");
		closedir(d);
		return -1;
	}
	closedir(d);
	if (ids->n > 1)
		qsort(ids->v, ids->n, sizeof(*ids->v), cmp_str);
	return 0;
}

/* Remove stale files from DIR/tmp (crashed stores); best effort. */
static void
clean_tmp(struct qdir *q)
{
	time_t old = time(NULL) - STALE_TMP_SECS;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if ((fd = openat(q->tmp, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(q->tmp, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISDIR(st.st_mode) && st.st_mtime < old)
			unlinkat(q->tmp, de->d_name, 0);
	}
	closedir(d);
}

/*
 * Remove ID.status files whose ID is gone (killed between the two
 * unlinks of a SENT message).  Safe against a concurrent flush: only
 * the lock holder removes ID, and once removed an id never returns.
 */
static void
clean_orphans(struct qdir *q, const struct strv *status)
{
	struct stat st;

	for (size_t i = 0; i < status->n; i++) {
		char *id = xstrndup(status->v[i],
		    strlen(status->v[i]) - strlen(STATUS_SUFFIX));

		if (fstatat(q->d, id, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
		    errno == ENOENT)
			unlinkat(q->d, status->v[i], 0);
		free(id);
	}
}

/*
 * Open and lock DIR/ID for delivery.  LK_GONE: delivered, moved away
 * or not a regular file; LK_BUSY: another flush holds it.
 */
static enum lock_result
lock_entry(struct qdir *q, const char *id, int *fdp, struct fail *f)
{
	struct stat st, now;
	int fd;

	*fdp = -1;
	fd = openat(q->d, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT || errno == ELOOP)
			return LK_GONE;
		io_fail(f, q, "", id);
		return LK_ERR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return LK_BUSY;
		errno = e;
		io_fail(f, q, "", id);
		return LK_ERR;
	}
	/*
	 * Opened before another flush removed (nlink 0) or moved it to
	 * failed/ (the name now leads elsewhere or nowhere): not ours.
	 */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink == 0 ||
	    fstatat(q->d, id, &now, AT_SYMLINK_NOFOLLOW) == -1 ||
	    now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
		close(fd);
		return LK_GONE;
	}
	*fdp = fd;
	return LK_OK;
}

/* Accepted: remove it while still locked.  Failing here means the
 * next flush sends it again, so say so. */
static int
finish_sent(struct qdir *q, const char *id, struct fail *f)
{
	char name[QUEUE_ID_MAX + sizeof(STATUS_SUFFIX)];

	if (unlinkat(q->d, id, 0) == -1) {
		fail_set(f, FAIL_IO, "queue %s/%s: sent but not removed (will "
		    "be sent again): %s", q->path, id, strerror(errno));
		return -1;
	}
	snprintf(name, sizeof(name), "%s%s", id, STATUS_SUFFIX);
	if (unlinkat(q->d, name, 0) == -1 && errno != ENOENT)
		return io_fail(f, q, "", name);
	if (fsync(q->d) == -1)
		return io_fail(f, q, "", id);
	return 0;
}

static int
finish_retry(struct qdir *q, const struct queue_entry *e, const char *why,
    struct fail *f)
{
	char name[QUEUE_ID_MAX + sizeof(STATUS_SUFFIX)], line[QUEUE_WHY_MAX];
	struct buf b = { NULL, 0, 0 };
	int rc;

	snprintf(name, sizeof(name), "%s%s", e->id, STATUS_SUFFIX);
	buf_add(&b, "%s\nattempts %d\n", STATUS_VERSION,
	    e->attempts < INT32_MAX ? e->attempts + 1 : e->attempts);
	if (*why != '\0') {
		one_line(line, sizeof(line), why);
		buf_add(&b, "error %s\n", line);
	}
	rc = write_atomic(q, q->d, name, &b, f);
	free(b.p);
	return rc;
}

/*
 * Permanent failure: the reason first, then the message; a crash in
 * between leaves the message queued (tried again) and a reason that the
 * next move replaces.
 */
static int
finish_failed(struct qdir *q, const char *id, const char *why,
    struct fail *f)
{
	char name[QUEUE_ID_MAX + sizeof(STATUS_SUFFIX)], line[QUEUE_WHY_MAX];
	struct buf b = { NULL, 0, 0 };
	int rc;

	one_line(line, sizeof(line), *why ? why : "permanent failure");
	buf_add(&b, "%s\n", line);
	snprintf(name, sizeof(name), "%s%s", id, REASON_SUFFIX);
	rc = write_atomic(q, q->failed, name, &b, f);
	free(b.p);
	if (rc == -1)
		return -1;
	if (renameat(q->d, id, q->failed, id) == -1)
		return io_fail(f, q, "", id);
	if (fsync(q->failed) == -1 || fsync(q->d) == -1)
		return io_fail(f, q, "", id);
	snprintf(name, sizeof(name), "%s%s", id, STATUS_SUFFIX);
	if (unlinkat(q->d, name, 0) == -1 && errno != ENOENT)
		return io_fail(f, q, "", name);
	return 0;
}

/* Put the outcome of one delivery on disk and count it. */
static int
record(struct qdir *q, const struct queue_entry *e, enum queue_outcome out,
    const char *why, struct queue_counts *c, struct fail *f)
{
	int rc = 0;

	switch (out) {
	case QUEUE_SENT:
		c->sent++;
		rc = finish_sent(q, e->id, f);
		break;
	case QUEUE_FAILED:
		if ((rc = finish_failed(q, e->id, why, f)) == 0)
			c->failed++;
		else
			c->kept++;
		break;
	case QUEUE_SKIP:
		c->kept++;
		break;
	default:	/* QUEUE_RETRY, and a bad value: keep it, never lose */
		c->kept++;
		rc = finish_retry(q, e, why, f);
		break;
	}
	return rc;
}

/* Lock, parse, deliver, record one message.  -1: outcome not recorded
 * or the file unreadable (f says which). */
static int
flush_one(struct qdir *q, const char *id, queue_deliver_fn deliver,
    void *arg, struct queue_counts *c, struct fail *f)
{
	struct queue_entry e;
	enum queue_outcome out;
	char why[QUEUE_WHY_MAX];
	const char *bad;
	int fd, rc;

	switch (lock_entry(q, id, &fd, f)) {
	case LK_OK:
		break;
	case LK_BUSY:
		c->busy++;
		return 0;
	case LK_GONE:
		return 0;
	default:
		return -1;
	}
	entry_init(&e, id);
	if ((rc = env_read(fd, &e, &bad)) == -1) {
		io_fail(f, q, "", id);
		entry_free(&e);
		close(fd);
		return -1;
	}
	why[0] = '\0';
	if (rc == 1) {
		snprintf(why, sizeof(why), "malformed queue file: %s", bad);
		out = QUEUE_FAILED;
	} else {
		status_read(q, &e);
		e.fd = fd;
		out = deliver(arg, &e, why, sizeof(why));
		why[sizeof(why) - 1] = '\0';
	}
	rc = record(q, &e, out, why, c, f);
	entry_free(&e);
	close(fd);	/* releases the lock, after the outcome is on disk */
	return rc;
}

int
queue_flush(const char *dir, queue_deliver_fn deliver, void *arg,
    struct queue_counts *c, struct fail *f)
{
	struct strv ids = { NULL, 0, 0 }, status = { NULL, 0, 0 };
	struct qdir q;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = qdir_open(&q, dir, QD_FLUSH, f)) != 0)
		return rc == 1 ? 0 : -1;
	clean_tmp(&q);
	rc = list_ids(&q, &ids, &status, f);
	if (rc == 0) {
		clean_orphans(&q, &status);
		for (size_t i = 0; i < ids.n; i++)
			if (flush_one(&q, ids.v[i], deliver, arg, c, f) == -1)
				rc = -1;
	}
	strv_free(&ids);
	strv_free(&status);
	qdir_close(&q);
	return rc;
}

/*
 * Read DIR/ID into e for listing, unlocked.  Returns 1 listed, 0 not
 * there (delivered meanwhile) or not ours, -1 on an I/O error.
 */
static int
list_one(struct qdir *q, const char *id, struct queue_entry *e,
    struct fail *f)
{
	struct stat st;
	const char *bad;
	char why[QUEUE_WHY_MAX];
	int fd, r;

	entry_init(e, id);
	fd = openat(q->d, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return errno == ENOENT || errno == ELOOP ? 0 :
		    io_fail(f, q, "", id);
	if (fstat(fd, &st) == -1) {
		io_fail(f, q, "", id);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	if ((r = env_read(fd, e, &bad)) == -1)
		io_fail(f, q, "", id);
	else if (r == 1) {
		entry_free(e);
		entry_init(e, id);
		e->sender = xstrdup("");
		e->size = st.st_size;
		snprintf(why, sizeof(why), "malformed queue file: %s", bad);
		e->last_error = xstrdup(why);
	} else
		status_read(q, e);
	close(fd);
	if (r == -1) {
		entry_free(e);
		return -1;
	}
	return 1;
}

int
queue_list(const char *dir, struct queue_entry **out, size_t *n,
    struct fail *f)
{
	struct strv ids = { NULL, 0, 0 };
	struct queue_entry *v = NULL;
	struct qdir q;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = qdir_open(&q, dir, QD_READ, f)) != 0)
		return rc == 1 ? 0 : -1;
	rc = list_ids(&q, &ids, NULL, f);
	for (size_t i = 0; rc == 0 && i < ids.n; i++) {
		int r;

		v = xrealloc(v, (cnt + 1) * sizeof(*v));
		if ((r = list_one(&q, ids.v[i], &v[cnt], f)) == -1)
			rc = -1;
		else
			cnt += (size_t)r;
	}
	strv_free(&ids);
	qdir_close(&q);
	if (rc == -1) {
		queue_list_free(v, cnt);
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void
queue_list_free(struct queue_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_free(&v[i]);
	free(v);
}
