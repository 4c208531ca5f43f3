/*
 * util.c - failure records, string vectors, checked allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

const char *const fail_class_names[FAIL_MAX] = {
	[FAIL_NONE] = "none",
	[FAIL_USAGE] = "usage",
	[FAIL_DATA] = "data",
	[FAIL_NOINPUT] = "noinput",
	[FAIL_RCPT] = "recipient",
	[FAIL_RESOLVE] = "resolve",
	[FAIL_PERM] = "permanent",
	[FAIL_INTERNAL] = "internal",
	[FAIL_IO] = "io",
	[FAIL_TEMP] = "temporary",
	[FAIL_PROTOCOL] = "protocol",
	[FAIL_AUTH] = "auth",
	[FAIL_TLS] = "tls",
	[FAIL_CONFIG] = "config",
};

void
fail_set(struct fail *f, enum fail_class cls, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (f == NULL || f->cls != FAIL_NONE)
		return;
	f->cls = cls;
	f->err = saved;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fail_reset(struct fail *f)
{
	f->cls = FAIL_NONE;
	f->err = 0;
	f->hint = HINT_NONE;
	f->msg[0] = '\0';
}

void
fail_hint(struct fail *f, enum fail_hint h)
{
	if (f != NULL && f->hint == HINT_NONE)
		f->hint = h;
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fputs("smtpsend: out of memory\n", stderr);
		exit(70);	/* EX_SOFTWARE: the only exit below main */
	}
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL) {
		fputs("smtpsend: out of memory\n", stderr);
		exit(70);
	}
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);

	if (p == NULL) {
		fputs("smtpsend: out of memory\n", stderr);
		exit(70);
	}
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

size_t
xstrlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);

	if (cap > 0) {
		size_t k = n < cap - 1 ? n : cap - 1;
		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return n;
}

void
strv_addn(struct strv *sv, const char *s, size_t n)
{
	if (sv->n + 1 >= sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = xstrndup(s, n);
	sv->v[sv->n] = NULL;
}

void
strv_add(struct strv *sv, const char *s)
{
	strv_addn(sv, s, strlen(s));
}

int
strv_has(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

void
strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

size_t
utf8_decode(const char *str, size_t len, unsigned long *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned long c;
	size_t n;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	/* RFC 3629 3: lead bytes C2-F4; C0, C1 and F5-FF never appear */
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

int
utf8_valid(const char *s, size_t len)
{
	unsigned long cp;

	for (size_t i = 0, k; i < len; i += k)
		if ((k = utf8_decode(s + i, len - i, &cp)) == 0)
			return 0;
	return 1;
}

/* The end of a visibly cut text. */
#define CUT_MARK	"..."

/* Is the character at s (k bytes, code point cp; k 0 = invalid) shown
 * escaped?  C0, DEL, C1 (raw or as UTF-8) and invalid UTF-8: each
 * byte as \xhh, so that nothing from a server, a file or a message can
 * move a terminal's cursor or fake a line of output. */
static int
must_escape(size_t k, unsigned long cp)
{
	return k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* Escape src into dst (NULL: only count); stop before limit bytes. */
static size_t
escape_into(char *dst, size_t limit, const char *src, size_t len,
    size_t *consumed)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned long cp = 0;
		size_t k = utf8_decode(src + i, len - i, &cp);
		int esc = must_escape(k, cp);

		if (k == 0)
			k = 1;
		if (o + (esc ? 4 * k : k) > limit)
			break;
		for (size_t j = 0; j < k; j++) {
			unsigned char c = (unsigned char)src[i + j];

			if (dst == NULL)
				o += esc ? 4 : 1;
			else if (esc) {
				dst[o++] = '\\';
				dst[o++] = 'x';
				dst[o++] = hex[c >> 4];
				dst[o++] = hex[c & 15];
			} else
				dst[o++] = (char)c;
		}
		i += k;
	}
	*consumed = i;
	return o;
}

char *
sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t used, o;

	if (cap == 0)
		return dst;
	o = escape_into(dst, cap - 1, src, len, &used);
	if (used < len) {
		/* cut visibly: the reader must know text is missing */
		size_t room = cap - 1 >= sizeof(CUT_MARK) - 1 ?
		    cap - 1 - (sizeof(CUT_MARK) - 1) : 0;

		o = escape_into(dst, room, src, len, &used);
		if (o + sizeof(CUT_MARK) - 1 <= cap - 1) {
			memcpy(dst + o, CUT_MARK, sizeof(CUT_MARK) - 1);
			o += sizeof(CUT_MARK) - 1;
		}
	}
	dst[o] = '\0';
	return dst;
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

volatile sig_atomic_t util_signal;

int
poll_until(int fd, short events, long long deadline)
{
	struct pollfd pfd;

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		/* wake at least every minute: a clock step cannot strand us */
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
		/* SIGTERM and friends: give up waiting, the caller keeps
		 * the message (SPEC "Process and files") */
		if (n < 0 && util_signal != 0) {
			errno = EINTR;
			return -1;
		}
	}
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
tmp_file(void)
{
	char path[PATH_MAX];
	const char *dir = getenv("TMPDIR");
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if ((size_t)snprintf(path, sizeof(path), "%s/smtpsend.XXXXXX", dir)
	    >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(path)) == -1)
		return -1;
	unlink(path);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int
has_ctl_utf8(const char *s)
{
	size_t len = strlen(s);
	unsigned long cp;

	for (size_t i = 0, k; i < len; i += k) {
		if ((k = utf8_decode(s + i, len - i, &cp)) == 0 ||
		    cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return 1;
	}
	return 0;
}

/* ---- append_open: dead.letter and logs ---- */

/* Here rather than at the top: the rest of util.c does not need them. */
#include <sys/file.h>
#include <sys/stat.h>

static int	 append_check(int, const char *, struct fail *);

/*
 * The descriptor must be what we meant to append to: a regular file
 * (not a FIFO or device that blocks or swallows the record), with no
 * second name (a hard link planted in a shared directory such as /tmp
 * would make us append to a file of ours elsewhere), owned by us (a
 * file someone else owns, even one we may write, is theirs to read).
 */
static int
append_check(int fd, const char *path, struct fail *f)
{
	struct stat sb;

	if (fstat(fd, &sb) == -1) {
		fail_set(f, FAIL_IO, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail_set(f, FAIL_IO, "%s: is not a regular file", path);
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		fail_set(f, FAIL_IO, "%s: is owned by uid %lu, not by uid %lu "
		    "running smtpsend", path, (unsigned long)sb.st_uid,
		    (unsigned long)geteuid());
		return -1;
	}
	if (sb.st_nlink != 1) {
		fail_set(f, FAIL_IO, "%s: has %lu hard links (a regular file "
		    "with one name is required)", path,
		    (unsigned long)sb.st_nlink);
		return -1;
	}
	return 0;
}

int
append_open(const char *path, long long *startp, struct fail *f)
{
	struct stat sb;
	off_t end;
	int fd, fl;

	/* O_NONBLOCK: opening a FIFO must not wait for a reader. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1) {
		int e = errno;

		/* O_NOFOLLOW fails with ELOOP on a link (FreeBSD: EMLINK) */
		if ((e == ELOOP || e == EMLINK) && lstat(path, &sb) == 0 &&
		    S_ISLNK(sb.st_mode))
			fail_set(f, FAIL_IO, "%s: is a symbolic link (not "
			    "followed)", path);
		else if (e == ENXIO || e == EISDIR)
			fail_set(f, FAIL_IO, "%s: is not a regular file", path);
		else {
			errno = e;
			fail_set(f, FAIL_IO, "%s: %s", path, strerror(e));
		}
		return -1;
	}
	if (append_check(fd, path, f) == -1 ||
	    (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		goto fail;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto fail;
	if ((end = lseek(fd, 0, SEEK_END)) == -1)
		goto fail;
	if (startp != NULL)
		*startp = (long long)end;
	return fd;
fail:
	fail_set(f, FAIL_IO, "%s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

const char *
host_fqdn(void)
{
	static char name[256];
	struct addrinfo hints, *res = NULL;

	if (name[0] != '\0')
		return name;
	if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
		xstrlcpy(name, "localhost", sizeof(name));
		return name;
	}
	if (strchr(name, '.') == NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 &&
		    res->ai_canonname != NULL &&
		    strlen(res->ai_canonname) < sizeof(name) &&
		    strchr(res->ai_canonname, '.') != NULL)
			xstrlcpy(name, res->ai_canonname, sizeof(name));
		if (res != NULL)
			freeaddrinfo(res);
	}
	if (strchr(name, '.') == NULL || has_ctl_utf8(name) ||
	    strchr(name, ' ') != NULL)
		xstrlcpy(name, "localhost", sizeof(name));
	return name;
}

const char *
user_login(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");

	if (pw != NULL && pw->pw_name != NULL && *pw->pw_name &&
	    !has_ctl_utf8(pw->pw_name))
		return pw->pw_name;
	return u != NULL && *u && !has_ctl_utf8(u) ? u : "root";
}

const char *
user_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && *h)
		return h;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fputs("smtpsend: bad format\n", stderr);
		exit(70);
	}
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int
parse_onoff(const char *v)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };

	if (v == NULL || *v == '\0')
		return 1;
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		if (strcasecmp(v, on[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (strcasecmp(v, off[i]) == 0)
			return 0;
	return -1;
}

long
parse_number(const char *v, long lo, long hi)
{
	long n = 0;
	const char *p;

	if (v == NULL)
		return -1;
	/* digits only (no sign, no blanks); stop before n can overflow */
	for (p = v; *p >= '0' && *p <= '9' && n <= hi; p++)
		n = n * 10 + (*p - '0');
	return p == v || *p != '\0' || n < lo || n > hi ? -1 : n;
}
