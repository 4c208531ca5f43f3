/*
 * util.h - small helpers shared by every module: failure records,
 * growable string vectors, checked allocation.
 *
 * A struct fail is how a module below smtpsend.c reports an error: it
 * records a class (which smtpsend.c maps to an exit code in exactly one
 * place), the errno if any, and a one-line message.  Nothing below
 * smtpsend.c prints or exits.
 */
#ifndef SMTPSEND_UTIL_H
#define SMTPSEND_UTIL_H

#include <stddef.h>
#include <stdarg.h>
#include <signal.h>

enum fail_class {
	FAIL_NONE = 0,
	FAIL_USAGE,		/* bad command line			64 */
	FAIL_DATA,		/* bad message or address		65 */
	FAIL_NOINPUT,		/* input file missing			66 */
	FAIL_RCPT,		/* a recipient refused with 5xx		67 */
	FAIL_RESOLVE,		/* host name does not resolve		68 */
	FAIL_PERM,		/* other 5xx, required feature missing	69 */
	FAIL_INTERNAL,		/* a bug or resource exhaustion		70 */
	FAIL_IO,		/* local I/O error			74 */
	FAIL_TEMP,		/* 4xx, connection refused/lost, timeout 75 */
	FAIL_PROTOCOL,		/* malformed or out-of-order reply	76 */
	FAIL_AUTH,		/* authentication failed		77 */
	FAIL_TLS,		/* TLS verification failed		77 */
	FAIL_CONFIG,		/* bad configuration			78 */
	FAIL_MAX
};

extern const char *const fail_class_names[FAIL_MAX];

/*
 * What the user could change: the front end turns it into the option
 * to name ("use --tls=off ..."), so that no layer below it needs to
 * know the command line's spelling.
 */
enum fail_hint {
	HINT_NONE,
	HINT_TLS_OFF,		/* no STARTTLS offered: --tls=off sends */
	HINT_TLS_OFF_AUTH,	/* AUTH in clear needs --tls=off */
	HINT_ALLOW_PARTIAL,	/* some refused: --allow-partial */
	HINT_STARTTLS,		/* plaintext on an implicit TLS port */
	HINT_CERT_FILE,		/* the server wants a client certificate */
	HINT_MIN_VERSION,	/* no TLS version in common */
	HINT_USER,		/* AUTH needs a user name */
	HINT_SERVERINFO,	/* a fingerprint: --serverinfo shows it */
	HINT_TRUST_FILE,	/* the trust file is unusable */
	HINT_KEY_FILE,		/* the key file is unusable */
	HINT_KEY_NEEDS_CERT,	/* a key file without a certificate */
	HINT_FINGERPRINT,	/* a malformed pin */
	HINT_MAX
};

struct fail {
	enum fail_class	 cls;
	int		 err;		/* errno, or 0 */
	enum fail_hint	 hint;		/* HINT_NONE, or what to change */
	char		 msg[1024];	/* one line, no trailing newline */
};

/* Record a failure (first one wins unless fail_reset() in between). */
void	 fail_set(struct fail *, enum fail_class, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 fail_reset(struct fail *);
/* Attach a hint to the failure recorded (the first hint wins). */
void	 fail_hint(struct fail *, enum fail_hint);

/* A growable vector of malloc'ed strings. */
struct strv {
	char	**v;
	size_t	  n, cap;
};
void	 strv_add(struct strv *, const char *);	/* copies */
void	 strv_addn(struct strv *, const char *, size_t);
int	 strv_has(const struct strv *, const char *);
void	 strv_free(struct strv *);

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* A malloc'ed formatted string (exit 70 on exhaustion, like xmalloc). */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Copy with truncation, always NUL-terminates (cap > 0). */
size_t	 xstrlcpy(char *, const char *, size_t);

/*
 * The one escaping function for every foreign byte shown to a person, a
 * log or a report (SPEC "hostile bytes"): C0 controls, DEL, C1 (raw
 * 0x80-0x9f and U+0080-U+009F in UTF-8) and every byte of invalid
 * UTF-8 become "\xhh"; valid UTF-8 text is kept.  Text that does not
 * fit cap is cut visibly, ending in "...".  Returns dst.
 */
char	*sanitize(char *dst, size_t cap, const char *src, size_t len);

/*
 * One UTF-8 sequence at s (RFC 3629: shortest form, no surrogates, at
 * most U+10FFFF): its length 1-4 and the code point in *cp, or 0 when
 * s does not start with a valid sequence (or len is 0).
 */
size_t	 utf8_decode(const char *s, size_t len, unsigned long *cp);
/* Non-zero if all of s[0..len) is valid UTF-8 (ASCII included). */
int	 utf8_valid(const char *s, size_t len);

/* Monotonic clock in milliseconds. */
long long now_ms(void);

/*
 * Set (to the signal number) by smtpsend.c's handler for SIGTERM,
 * SIGINT and SIGHUP.  Every wait below gives up when it is set, so that
 * the front end can keep the message and exit 75.
 */
extern volatile sig_atomic_t util_signal;

/* poll() fd for events until the absolute deadline (now_ms() clock):
 * 1 ready, 0 deadline passed, -1 error (errno; EINTR when util_signal
 * was set). */
int	 poll_until(int fd, short events, long long deadline);

/* write(2) all of it, retrying on EINTR (blocking descriptors). */
int	 write_all(int fd, const void *, size_t);

/* An unlinked temporary file in $TMPDIR (else /tmp), close-on-exec:
 * gone by itself whatever happens to us.  -1 with errno. */
int	 tmp_file(void);

/* Non-zero if s holds a C0 control character or DEL. */
int	 has_ctl(const char *s);
/* Non-zero if s holds C0, DEL, C1 (U+0080-U+009F) or invalid UTF-8:
 * text that must not reach a header, a command or a terminal raw. */
int	 has_ctl_utf8(const char *s);

/*
 * Open a file to append one record to it (an mbox entry to
 * dead.letter, a line to a log): O_NOFOLLOW, so a symbolic link
 * planted at path is refused, not followed; created 0600 when missing;
 * it must be a regular file with one link, owned by geteuid(); then
 * locked with flock(LOCK_EX), so concurrent runs append whole records
 * (closing the descriptor unlocks).  *startp, when not NULL, gets the
 * file's size once locked: where this record starts, for a rollback
 * with ftruncate() after a failed write.  Returns the descriptor
 * (O_APPEND, close-on-exec), or -1 with FAIL_IO "PATH: why".
 */
int	 append_open(const char *path, long long *startp, struct fail *);

/* The one on/off parser of settings, msmtp's spellings: on yes true 1,
 * off no false 0 (any case); NULL or "" (a bare key or flag) is on.
 * 1, 0, or -1 for anything else. */
int	 parse_onoff(const char *);
/* A decimal number in [lo, hi] (lo >= 0), digits only; else -1. */
long	 parse_number(const char *, long lo, long hi);

/* This host's FQDN (for EHLO, Message-ID, unqualified addresses), else
 * "localhost"; the login name (getpwuid, else $USER, else "root"); the
 * home directory ($HOME, else the password file). */
const char *host_fqdn(void);
const char *user_login(void);
const char *user_home(void);

#endif
