/*
 * conn.c - resolve, connect with a deadline, buffered reads and
 * write-all under deadlines with poll().  The single place where the
 * socket is touched (the TLS switch will live here too).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <idn2.h>

#include "conn.h"
#include "tlsio.h"

/* Input buffer: one SMTP line (smtp.h SMTP_LINE_MAX, 2 KiB) plus room
 * to read ahead several pipelined replies in one read. */
#define CONN_BUFSZ	16384

struct conn {
	int		 fd;
	int		 err;
	int		 loopback;
	struct tlsio	*tls;		/* NULL while plaintext */
	char		 buf[CONN_BUFSZ];
	size_t		 start, end;	/* unread bytes are buf[start..end) */
	size_t		 consumed;	/* the previous line, to drop next */
};

static int	 try_connect(const struct addrinfo *, const char *, long long,
		    int *);
static char	*host_ascii(const char *, enum fail_class, struct fail *);
static int	 is_loopback(const struct sockaddr *);
static struct addrinfo *resolve(const char *, const char *, struct fail *);
static enum conn_status tls_status(struct conn *, int);
static int	 tls_connect(struct conn *, const struct tlsio_opts *,
		    long long, struct fail *);

static int
try_connect(const struct addrinfo *ai, const char *source, long long deadline,
    int *err)
{
	int fd, r, soerr = 0;
	socklen_t slen = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1) {
		*err = errno;
		return -1;
	}
	if (source != NULL) {
		struct addrinfo hints, *src = NULL;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = ai->ai_family;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		if (getaddrinfo(source, NULL, &hints, &src) != 0 ||
		    bind(fd, src->ai_addr, src->ai_addrlen) == -1) {
			*err = src == NULL ? EADDRNOTAVAIL : errno;
			if (src != NULL)
				freeaddrinfo(src);
			close(fd);
			return -1;
		}
		freeaddrinfo(src);
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	r = poll_until(fd, POLLOUT, deadline);
	if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
	    &slen) == 0 && soerr == 0)
		return fd;
	*err = r == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
	close(fd);
	return -1;
}

/*
 * RFC 5891 (IDNA2008, UTS 46 non-transitional): U-labels become
 * A-labels; ASCII passes as is.  For DNS, and for TLS: SNI carries
 * the A-label (RFC 6066 3) and certificates name it (RFC 6125 6.4.2).
 * A name that cannot be converted is a failure of class cls.
 */
static char *
host_ascii(const char *host, enum fail_class cls, struct fail *f)
{
	char *out = NULL;
	int rc;
	const unsigned char *p;

	for (p = (const unsigned char *)host; *p; p++)
		if (*p >= 0x80)
			break;
	if (*p == '\0')
		return xstrdup(host);
	rc = idn2_to_ascii_8z(host, &out, IDN2_NONTRANSITIONAL |
	    IDN2_NFC_INPUT);
	if (rc != IDN2_OK) {
		fail_set(f, cls, "invalid host name %s: %s", host,
		    idn2_strerror(rc));
		return NULL;
	}
	{
		char *copy = xstrdup(out);
		idn2_free(out);
		return copy;
	}
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 */
static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127);
	}
	return 0;
}

/* A tlsio_write() result, or a tlsio_read() one below 0, as a status. */
static enum conn_status
tls_status(struct conn *c, int r)
{
	switch (r) {
	case 0:
		return CONN_OK;
	case TLSIO_TIMEOUT:
		return CONN_TIMEOUT;
	case TLSIO_ERROR:
		return CONN_TLSERR;
	case TLSIO_ERRNO:
		c->err = errno;
		return CONN_ERRNO;
	default:
		return CONN_EOF;
	}
}

/*
 * The addresses of host (brackets of an address literal, RFC 5321
 * 4.1.3, removed; an IDN converted), or NULL with the failure: a name
 * that does not resolve, a bad port, or a temporary DNS failure.
 */
static struct addrinfo *
resolve(const char *host, const char *port, struct fail *f)
{
	struct addrinfo hints, *res = NULL;
	size_t n = strlen(host);
	char *name, *ascii;
	int rc;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		name = xstrndup(host + 1, n - 2);
	else
		name = xstrdup(host);
	ascii = host_ascii(name, FAIL_RESOLVE, f);
	free(name);
	if (ascii == NULL)
		return NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(ascii, port, &hints, &res);
	if (rc == EAI_SYSTEM)
		fail_set(f, FAIL_RESOLVE, "cannot resolve %s: %s", ascii,
		    strerror(errno));
	else if (rc == EAI_SERVICE)
		fail_set(f, FAIL_USAGE, "invalid port %s", port);
	else if (rc == EAI_AGAIN)
		fail_set(f, FAIL_TEMP, "cannot resolve %s: %s (try again "
		    "later)", ascii, gai_strerror(rc));
	else if (rc != 0)
		fail_set(f, FAIL_RESOLVE, "cannot resolve %s: %s", ascii,
		    gai_strerror(rc));
	free(ascii);
	return rc == 0 ? res : NULL;
}

struct conn *
conn_open(const char *host, const char *port, const char *source,
    long long deadline, struct fail *f)
{
	struct addrinfo *res, *ai;
	struct conn *c;
	int fd = -1, err = 0;

	if ((res = resolve(host, port, f)) == NULL)
		return NULL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = try_connect(ai, source, deadline, &err)) != -1)
			break;
		if (err == ETIMEDOUT)
			break;
	}
	if (fd == -1) {
		errno = err;
		if (err == ETIMEDOUT)
			fail_set(f, FAIL_TEMP, "cannot connect to %s port %s: "
			    "timed out", host, port);
		else
			fail_set(f, FAIL_TEMP, "cannot connect to %s port %s: "
			    "%s", host, port, strerror(err));
		freeaddrinfo(res);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->loopback = is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return c;
}

void
conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->tls != NULL)
		tlsio_close(c->tls, now_ms() + 2000);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

enum conn_status
conn_getline(struct conn *c, long long deadline, size_t max, char **line,
    size_t *len)
{
	char *nl;
	ssize_t n;
	int r;

	c->start += c->consumed;
	c->consumed = 0;
	for (;;) {
		size_t have = c->end - c->start;

		nl = memchr(c->buf + c->start, '\n', have);
		if (nl != NULL) {
			*line = c->buf + c->start;
			*len = (size_t)(nl - *line);
			c->consumed = *len + 1;
			if (*len > max)
				return CONN_TOOLONG;
			return CONN_OK;
		}
		if (have > max)
			return CONN_TOOLONG;
		if (c->start > 0) {
			memmove(c->buf, c->buf + c->start, have);
			c->start = 0;
			c->end = have;
		}
		if (c->end == sizeof(c->buf))
			return CONN_TOOLONG;
		if (c->tls != NULL) {
			n = tlsio_read(c->tls, c->buf + c->end,
			    sizeof(c->buf) - c->end, deadline);
			if (n > 0) {
				c->end += (size_t)n;
				continue;
			}
			return n == 0 ? CONN_EOF : tls_status(c, (int)n);
		}
		r = poll_until(c->fd, POLLIN, deadline);
		if (r == 0)
			return CONN_TIMEOUT;
		if (r < 0) {
			c->err = errno;
			return CONN_ERRNO;
		}
		n = read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end);
		if (n == 0)
			return CONN_EOF;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			c->err = errno;
			return errno == ECONNRESET ? CONN_EOF : CONN_ERRNO;
		}
		c->end += (size_t)n;
	}
}

enum conn_status
conn_write(struct conn *c, const void *buf, size_t len, long long deadline)
{
	const char *p = buf;

	if (c->tls != NULL)
		return tls_status(c, tlsio_write(c->tls, buf, len, deadline));
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		int r;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			c->err = errno;
			return (errno == EPIPE || errno == ECONNRESET) ?
			    CONN_EOF : CONN_ERRNO;
		}
		r = poll_until(c->fd, POLLOUT, deadline);
		if (r == 0)
			return CONN_TIMEOUT;
		if (r < 0) {
			c->err = errno;
			return CONN_ERRNO;
		}
	}
	return CONN_OK;
}

/* The handshake, with the TLS name as an A-label. */
static int
tls_connect(struct conn *c, const struct tlsio_opts *o, long long deadline,
    struct fail *f)
{
	struct tlsio_opts ao = *o;
	char *ascii;

	if ((ascii = host_ascii(o->host, FAIL_TLS, f)) == NULL)
		return -1;
	ao.host = ascii;
	c->tls = tlsio_connect(c->fd, &ao, deadline, f);
	free(ascii);
	return c->tls != NULL ? 0 : -1;
}

int
conn_starttls(struct conn *c, const struct tlsio_opts *o, long long deadline,
    int implicit, struct fail *f)
{
	struct pollfd pfd;

	c->start += c->consumed;
	c->consumed = 0;
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (c->end > c->start || (poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & POLLIN))) {
		char b;

		/* readable because of EOF is not an injection */
		if (implicit && (c->end > c->start || recv(c->fd, &b, 1,
		    MSG_PEEK) == 1)) {
			fail_set(f, FAIL_TLS, "TLS handshake failed: the "
			    "server speaks plaintext first; is this an implicit "
			    "TLS port?");
			fail_hint(f, HINT_STARTTLS);
			return -1;
		}
		if (c->end > c->start || recv(c->fd, &b, 1, MSG_PEEK) == 1) {
			fail_set(f, FAIL_PROTOCOL, "protocol error: the server "
			    "sent data before the TLS handshake (possible "
			    "injection); not trusted");
			return -1;
		}
	}
	c->start = c->end = 0;
	return tls_connect(c, o, deadline, f);
}

void
conn_tls_describe(struct conn *c, void (*out)(void *, const char *),
    void *arg)
{
	if (c->tls != NULL)
		tlsio_describe(c->tls, out, arg);
}

size_t
conn_pending(const struct conn *c)
{
	return c->end - c->start - c->consumed;
}

int
conn_has_input(struct conn *c)
{
	char b;
	ssize_t n;

	if (conn_pending(c) > 0)
		return 1;
	if (c->tls == NULL)
		return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
	/* only OpenSSL knows whether a record holds data: read what is
	 * there now (deadline: now) into the emptied buffer */
	c->start = c->end = c->consumed = 0;
	n = tlsio_read(c->tls, c->buf, sizeof(c->buf), now_ms());
	if (n <= 0)
		return 0;
	c->end = (size_t)n;
	return 1;
}

int
conn_errno(const struct conn *c)
{
	return c->err;
}

int
conn_is_loopback(const struct conn *c)
{
	return c->loopback;
}

const char *
conn_error(const struct conn *c)
{
	return c->tls != NULL ? tlsio_error(c->tls) : "";
}

enum fail_hint
conn_hint(const struct conn *c)
{
	return c->tls != NULL ? tlsio_hint(c->tls) : HINT_NONE;
}
