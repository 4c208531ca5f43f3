/*
 * smtp.h - the SMTP/LMTP client session.
 *
 * Two inputs: struct smtp_params (the connection: relay, TLS, AUTH,
 * callbacks) and struct smtp_mail (one message: envelope, DSN, the
 * message itself).  smtp_session() runs one whole session for one
 * mail: connect, greeting, EHLO (HELO fallback), STARTTLS, AUTH,
 * envelope (pipelined when offered), DATA with dot-stuffing, QUIT.
 * With mail == NULL it is the --serverinfo probe: it stops after EHLO
 * (and STARTTLS with its second EHLO), sends no AUTH and no mail.
 *
 * It never prints and never exits: replies and client lines go to the
 * callbacks in smtp_params, the outcome to struct smtp_result, which
 * the front end turns into messages and an exit code.
 *
 * Reply lines handed to the callbacks point into the connection's
 * reply buffer and are valid only until the callback returns.  Every
 * string in smtp_params and smtp_mail is borrowed: it must outlive the
 * call (smtp_params: until smtp_close()).
 */
#ifndef SMTPSEND_SMTP_H
#define SMTPSEND_SMTP_H

#include <stddef.h>
#include <sys/types.h>
#include "util.h"

struct msg;
struct tlsio_opts;

/* RFC 5321 4.5.3.1.5 puts a reply line at 512 octets with CRLF; we take
 * four times that so that chatty servers still work. */
#define SMTP_LINE_MAX	2048
/* Lines in one multi-line reply: the longest EHLO replies seen (Exim,
 * Postfix, Microsoft 365) have under 20; this bounds an endless reply. */
#define SMTP_REPLY_MAXLINES 128
/* Bytes of one whole reply kept (text of all lines, a NUL after each). */
#define SMTP_REPLY_MAX	(16 * 1024)
/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its
 * CRLF.  A MAIL or RCPT line that would be longer is never sent. */
#define SMTP_CMD_MAX	512
enum smtp_phase {
	SMTP_PH_CONNECT,
	SMTP_PH_GREETING,
	SMTP_PH_EHLO,
	SMTP_PH_HELO,
	SMTP_PH_STARTTLS,
	SMTP_PH_AUTH,
	SMTP_PH_MAIL,
	SMTP_PH_RCPT,
	SMTP_PH_DATA,
	SMTP_PH_BODY,
	SMTP_PH_DOT,
	SMTP_PH_QUIT,
	SMTP_PH_MAX
};
extern const char *const smtp_phase_names[SMTP_PH_MAX];

struct smtp_reply {
	int		 code;			/* 200..599 */
	char		 enh[16];		/* "5.1.1", or "" */
	size_t		 nlines;
	const char	*line[SMTP_REPLY_MAXLINES]; /* text after "NNN-" */
	char		 buf[SMTP_REPLY_MAX];
	size_t		 used;
};

/* Parse one reply line "NNN-text" / "NNN text" / "NNN".  Returns the
 * code, and sets *last (space or bare code) and *text; -1 if malformed. */
int		 smtp_parse_line(const char *, size_t, int *last,
		    const char **text);
/* Enhanced status code (RFC 2034/3463) at the start of text, matching
 * the reply class; copies it to enh (16 bytes) and returns its length
 * including following space, or 0. */
size_t		 smtp_parse_enh(int code, const char *text, char *enh);

enum smtp_ext {
	SMTP_EXT_PIPELINING	= 1 << 0,
	SMTP_EXT_SIZE		= 1 << 1,
	SMTP_EXT_8BITMIME	= 1 << 2,
	SMTP_EXT_SMTPUTF8	= 1 << 3,
	SMTP_EXT_DSN		= 1 << 4,
	SMTP_EXT_CHUNKING	= 1 << 5,
	SMTP_EXT_ENHANCED	= 1 << 6,
	SMTP_EXT_STARTTLS	= 1 << 7,
	SMTP_EXT_AUTH		= 1 << 8,
};

struct smtp_caps {
	unsigned	 ext;		/* enum smtp_ext bits */
	unsigned long long size;	/* SIZE limit, 0 = none given */
	/* AUTH mechanisms, space separated, every AUTH line joined: they
	 * came from one reply, so they fit a reply's buffer. */
	char		 auth[SMTP_REPLY_MAX];
};
/*
 * The reply on one line, sanitised, for people: "550 5.1.1 text / more
 * text".  Display only: a reply longer than cap is cut and then ends
 * in "..." so the cut shows.
 */
void		 smtp_reply_text(const struct smtp_reply *, char *, size_t);
/* Parse the EHLO reply's lines 2..n into caps (line 1 is the greeting).
 * 0, or -1 if the AUTH lists do not fit caps->auth (never for a reply
 * read by the engine, whose size is bounded the same way). */
int		 smtp_parse_caps(const struct smtp_reply *, struct smtp_caps *);

enum smtp_proto { SMTP_PROTO_SMTP, SMTP_PROTO_LMTP };
#define SMTP_AUTH_OFF	(-1)
#define SMTP_AUTH_ON	(-2)
/* The order is --tls's value list: auto, starttls, implicit, off. */
enum smtp_tls { SMTP_TLS_AUTO, SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT,
	SMTP_TLS_OFF };

/* The connection: where, how, and the callbacks. */
struct smtp_params {
	const char	*host;		/* name, IPv4, or IPv6 (no brackets) */
	const char	*port;
	const char	*source_ip;	/* bind to this address, or NULL */
	const char	*helo;		/* EHLO/LHLO argument */
	enum smtp_proto	 proto;
	enum smtp_tls	 tls;
	const struct tlsio_opts *tlsopts; /* for every mode but TLS_OFF */
	int		 timeout;	/* seconds; 0 = RFC 5321 4.5.3.2 */
	/* Deliver to the accepted recipients even when others are
	 * refused at RCPT (else all-or-nothing). */
	int		 allow_partial;
	/* AUTH: SMTP_AUTH_OFF, SMTP_AUTH_ON (strongest both have, never
	 * an OAuth mechanism: a password is not a token) or an enum
	 * sasl_mech (auth.h) named by the user. */
	int		 auth;
	const char	*user;
	int		 have_cert;	/* a client certificate is set */
	/* The password or token: a malloc'ed string the engine wipes and
	 * frees (sasl_secret_free), or NULL with *why set.  again=1 asks
	 * for a fresh one (an OAuth token the server refused). */
	char		*(*get_secret)(void *, int again, struct fail *);

	/* Every complete server reply, as it arrives. */
	void		(*on_reply)(void *, enum smtp_phase,
			    const struct smtp_reply *);
	/* Every line the client sends (no CRLF), not message data. */
	void		(*on_send)(void *, const char *, size_t);
	/* Information lines (TLS details for --serverinfo). */
	void		(*on_info)(void *, const char *);
	/* Warnings (8-bit data to a 7-bit server, DSN not offered ...). */
	void		(*on_warn)(void *, const char *);
	void		*cbarg;
};

/* One message: the envelope and the data. */
struct smtp_mail {
	const char	*sender;	/* "" = null sender */
	const char *const *rcpt;
	size_t		 nrcpt;
	const char	*dsn_notify;	/* -N, NULL if unset */
	const char	*dsn_ret;	/* -R full|hdrs */
	const char	*dsn_envid;	/* -V */
	struct msg	*msg;
};

/* What became of one recipient. */
enum smtp_rcpt_state {
	SMTP_RCPT_NOTTRIED,	/* no RCPT reply: never sent, or the
				   transaction ended before it */
	SMTP_RCPT_ACCEPTED,	/* RCPT 2xx, but no final word for it: the
				   transaction failed or was abandoned
				   (res->fail says why) */
	SMTP_RCPT_DELIVERED,	/* SMTP: the final 2xx; LMTP: its own 2xx */
	SMTP_RCPT_TEMPFAIL,	/* refused with 4xx (RCPT, or LMTP's reply
				   after the data: after_data) */
	SMTP_RCPT_PERMFAIL,	/* refused with 5xx (the same) */
	SMTP_RCPT_UNKNOWN,	/* the link was lost (or went out of
				   protocol) after the final dot before
				   its final word: it may have the message */
	SMTP_RCPT_MAX
};
extern const char *const smtp_rcpt_state_names[SMTP_RCPT_MAX];

struct smtp_rcpt_result {
	const char	*addr;		/* borrowed from the mail */
	enum smtp_rcpt_state state;
	/* The refusal came in LMTP's per-recipient reply after the data
	 * (RFC 2033 4.2), not in the reply to RCPT. */
	int		 after_data;
	/* Shorthand: state is ACCEPTED, DELIVERED or UNKNOWN (its RCPT
	 * was accepted and nothing refused it since). */
	int		 accepted;
	/* The recipient's own reply: to RCPT, replaced by LMTP's reply
	 * after the data when there is one.  0 / "" / NULL if none. */
	int		 code;
	char		 enh[16];
	char		*text;		/* malloc'ed, one line, sanitised */
};

/*
 * The outcome of smtp_session(), smtp_open() or smtp_send().
 *
 * What the front end can rely on, per recipient and in the counts:
 *  - return 0: the message was delivered to every recipient in state
 *    DELIVERED (ndelivered >= 1).  Any other recipient is TEMPFAIL or
 *    PERMFAIL (ntemp + nperm == nrefused), which happens only with
 *    allow_partial or LMTP; fail.cls is FAIL_NONE.  Re-send to the
 *    TEMPFAIL ones only: never to a DELIVERED one.
 *  - return -1: fail says why (the class maps to the exit code).  Then
 *    no recipient is DELIVERED, except under LMTP when the link was
 *    lost (or a reply was out of protocol) part way through the
 *    per-recipient replies: those that answered keep their state, the
 *    rest are UNKNOWN, and maybe_delivered is set.  In SMTP,
 *    maybe_delivered (link lost after the final dot, or a final reply
 *    out of protocol) makes every accepted recipient UNKNOWN.  Without
 *    maybe_delivered the message reached no one: each recipient is
 *    NOTTRIED, ACCEPTED, TEMPFAIL or PERMFAIL.
 *  - naccepted counts RCPTs answered 2xx; it is never lowered later.
 */
struct smtp_result {
	struct fail	 fail;		/* cls FAIL_NONE on success */
	enum smtp_phase	 phase;		/* where it stopped */
	int		 code;		/* the failing reply's code, or 0 */
	char		 reply[1024];	/* that reply verbatim, one line */
	int		 maybe_delivered; /* link lost after the final dot */
	int		 delivered;	/* delivered to at least one */
	struct smtp_rcpt_result *rcpt;	/* nrcpt entries */
	size_t		 nrcpt;
	size_t		 naccepted;	/* RCPT answered 2xx */
	size_t		 nrefused;	/* ntemp + nperm */
	size_t		 ndelivered, ntemp, nperm, nunknown;
	struct smtp_caps caps;
	int		 tls;		/* the session ran inside TLS */
	char		 final[1024];	/* final reply after the data */
};

/* One message: open, send, close.  mail == NULL: the --serverinfo
 * probe (no AUTH, nothing sent after EHLO/STARTTLS). */
int		 smtp_session(const struct smtp_params *,
		    const struct smtp_mail *, struct smtp_result *);

/*
 * Several messages over one connection (the queue flush): smtp_open()
 * runs connect, greeting, EHLO, STARTTLS and AUTH (NULL on failure,
 * res says why; free res with smtp_result_free either way); p is kept
 * until smtp_close().  smtp_send() runs one transaction (RSET first
 * when one came before), each with its own result (free it with
 * smtp_result_free); smtp_alive() says whether another may follow;
 * smtp_close() sends QUIT (unless the link is gone or out of step)
 * and frees.
 */
struct smtp_conn;
struct smtp_conn *smtp_open(const struct smtp_params *, struct smtp_result *);
int		 smtp_send(struct smtp_conn *, const struct smtp_mail *,
		    struct smtp_result *);
int		 smtp_alive(const struct smtp_conn *);
void		 smtp_close(struct smtp_conn *);
void		 smtp_result_free(struct smtp_result *);

/*
 * Dot-stuffing (RFC 5321 4.5.2) as a streaming filter over data that is
 * already CRLF-normalised: a "." at the start of a line is doubled.
 * *bol must start at 1.  out needs room for 2*inlen.  Returns the
 * bytes written.
 */
size_t		 smtp_dotstuff(int *bol, const char *in, size_t inlen,
		    char *out);

/* Phase and default deadline in seconds (RFC 5321 4.5.3.2). */
int		 smtp_phase_timeout(enum smtp_phase);

#endif
