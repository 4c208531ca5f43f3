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
	char		 peer[INET6_ADDRSTRLEN];
	char		*host;		/* ASCII form */
	struct tlsio	*tls;		/* NULL while plaintext */
	char		 buf[CONN_BUFSZ];
	size_t		 start, end;	/* unread bytes are buf[start..end) */
	size_t		 consumed;	/* the previous line, to drop next */
};

static int	 try_connect(const struct addrinfo *, const char *, long long,
		    int *);
static char	*host_ascii(const char *, struct fail *);

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

/* RFC 5891 (IDNA2008): U-labels become A-labels; ASCII passes as is. */
static char *
host_ascii(const char *host, struct fail *f)
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
		fail_set(f, FAIL_RESOLVE, "invalid host name %s: %s", host,
		    idn2_strerror(rc));
		return NULL;
	}
	{
		char *copy = xstrdup(out);
		idn2_free(out);
		return copy;
	}
}

static void
set_peer(struct conn *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, c->peer, sizeof(c->peer));
		c->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->peer, sizeof(c->peer));
		c->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127);
	}
}

struct conn *
conn_open(const char *host, const char *port, const char *source,
    long long deadline, struct fail *f)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct conn *c;
	char *name, *ascii;
	size_t n;
	int rc, fd = -1, err = 0;

	/* "[::1]" and "[127.0.0.1]" are address literals (RFC 5321 4.1.3) */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		name = xstrndup(host + 1, n - 2);
	else
		name = xstrdup(host);
	if ((ascii = host_ascii(name, f)) == NULL) {
		free(name);
		return NULL;
	}
	free(name);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(ascii, port, &hints, &res);
	if (rc != 0) {
		if (rc == EAI_SYSTEM)
			fail_set(f, FAIL_RESOLVE, "cannot resolve %s: %s",
			    ascii, strerror(errno));
		else if (rc == EAI_SERVICE)
			fail_set(f, FAIL_USAGE, "invalid port %s", port);
		else if (rc == EAI_AGAIN)
			fail_set(f, FAIL_TEMP, "cannot resolve %s: %s "
			    "(try again later)", ascii, gai_strerror(rc));
		else
			fail_set(f, FAIL_RESOLVE, "cannot resolve %s: %s",
			    ascii, gai_strerror(rc));
		free(ascii);
		return NULL;
	}
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
		free(ascii);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->host = ascii;
	set_peer(c, ai->ai_addr);
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
	free(c->host);
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
			if (n == TLSIO_TIMEOUT)
				return CONN_TIMEOUT;
			if (n == 0 || n == TLSIO_ERROR)
				return CONN_EOF;
			c->end += (size_t)n;
			continue;
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

	if (c->tls != NULL) {
		int r = tlsio_write(c->tls, buf, len, deadline);

		return r == 0 ? CONN_OK : r == TLSIO_TIMEOUT ? CONN_TIMEOUT :
		    CONN_EOF;
	}
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
			    "TLS port? (try --tls=starttls)");
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
	c->tls = tlsio_connect(c->fd, o, deadline, f);
	return c->tls != NULL ? 0 : -1;
}

int
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
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

/* Stub until the TLS layer reports its failures (CONN_TLSERR). */
const char *
conn_error(const struct conn *c)
{
	(void)c;
	return "TLS error";
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
conn_peer(const struct conn *c)
{
	return c->peer;
}

const char *
conn_host(const struct conn *c)
{
	return c->host;
}
