/*
 * msg.h - the message: read once, scanned, then streamed to the wire.
 *
 * msg_load() takes the input (stdin or --file) and makes it seekable:
 * a regular file is read in place (pread from its start offset),
 * anything else (a pipe, a tty) is copied to an unlinked temporary
 * file.  Memory use is constant in the size of the body: only the
 * header section (bounded by MSG_HDR_MAX) is held in memory.
 *
 * Input may use CRLF, LF or lone CR line ends, mixed; each is one line
 * end and becomes CRLF on output ("\r\r\n" is two line ends).  A NUL
 * byte anywhere is FAIL_DATA.  A leading mbox "From " line is dropped.
 *
 * msg_read() then produces the exact bytes for the wire, NOT
 * dot-stuffed (that is the SMTP engine's job, BDAT needs none):
 * rewritten header section (Bcc/Resent-Bcc removed, Date, Message-ID,
 * From added when missing, MIME headers adjusted when the body is
 * re-encoded), the empty line, then the body.  Every line ends in
 * CRLF, the output always ends in CRLF, no line exceeds 998 octets
 * (RFC 5322 2.1.1): a non-multipart body with a longer line is
 * re-encoded as quoted-printable; inside a multipart message the line
 * is broken and a warning is given.  msg_size() is the exact number of
 * bytes msg_read() yields.
 */
#ifndef SMTPSEND_MSG_H
#define SMTPSEND_MSG_H

#include <sys/types.h>
#include "util.h"

/* Bound on the header section kept in memory: far above any real
 * message's headers (a few KiB), keeps memory constant. */
#define MSG_HDR_MAX	(4 * 1024 * 1024)

struct msg_opts {
	int		 read_recipients;	/* -t: To/Cc/Bcc (or Resent-*) */
	const char	*fullname;		/* -F, display name for added From */
	const char	*from_addr;		/* address for an added From: */
	const char	*msgid_domain;		/* right side of added Message-ID */
	int		 add_date;		/* add Date: when missing (1) */
	int		 add_msgid;		/* add Message-ID: when missing (1) */
	int		 add_from;		/* add From: when missing (1) */
	int		 replace_from;		/* From: always ours (msmtp
						   set_from_header on) */
	int		 keep_bcc;		/* keep Bcc: (msmtp
						   remove_bcc_headers off) */
	int		 undisclosed;		/* To/Cc/Bcc become "To:
						   undisclosed-recipients:;" */
	/*
	 * Unqualified addresses in headers (SPEC "Addresses"; Postfix
	 * does it for local submissions, providers refuse "From: root"):
	 * when not NULL, every mailbox without '@' in From:, Sender:,
	 * To:, Cc: and their Resent- forms gets "@" qualify_domain, in
	 * the header text itself; display names, comments, groups, folds
	 * and everything else stay as written, "postmaster" (any case)
	 * stays alone (RFC 5321 4.1.1.3).  A field that does not parse
	 * is left as it is.  The domain must be a dot-atom (FAIL_DATA
	 * otherwise).  msg_recipients() and msg_from_addr() still give
	 * the addresses as written: the caller qualifies the envelope
	 * after its aliases.
	 */
	const char	*qualify_domain;
	/*
	 * Nothing lost: when the input is refused as bad data (a NUL
	 * byte ...), the whole input is still read and appended, raw, to
	 * this mbox (msg_save_mbox format) and *salvaged set to 1.  When
	 * that fails too, the refusal's message says so: "...; the
	 * message could not be saved: PATH: why".
	 */
	const char	*salvage_path;
	const char	*salvage_sender;
	int		*salvaged;
	/* warnings (long line broken, ...); may be NULL */
	void		(*warn)(void *, const char *);
	void		*warnarg;
};

struct msg;

/*
 * Read and scan the input on fd (not closed; the caller owns it; a
 * regular file is read through a dup of fd, so fd may be closed once
 * msg_load() returns).  name is used in error messages ("stdin" or the
 * file name).  Warnings (long lines broken) are given during msg_load().
 * Failures: FAIL_DATA (NUL byte, header section too large, bad
 * address in a -t header), FAIL_IO.
 */
struct msg	*msg_load(int fd, const char *name, const struct msg_opts *,
		    struct fail *);
void		 msg_free(struct msg *);

/* Recipients found in the headers with -t: deduplicated addr-specs. */
const struct strv *msg_recipients(const struct msg *);
/* The first addr-spec of the From: header, or NULL. */
const char	*msg_from_addr(const struct msg *);
/* Exact size of what msg_read() produces. */
off_t		 msg_size(const struct msg *);
/* Size of the (rewritten) header section incl. the empty line. */
size_t		 msg_header_size(const struct msg *);
/* Octets of the input as read (0: an empty input). */
off_t		 msg_input_size(const struct msg *);
/* Non-zero if the output has any octet >= 0x80. */
int		 msg_is_8bit(const struct msg *);

/* Start (or restart) the output stream at the beginning. */
int		 msg_rewind(struct msg *, struct fail *);
/* Next bytes of the output; 0 at the end, -1 on error (FAIL_IO). */
ssize_t		 msg_read(struct msg *, char *, size_t, struct fail *);

/*
 * Append the original input to an mbox file (mboxrd: "From " line with
 * sender and date, LF line ends, ">From " quoting, a blank line after)
 * through append_open() (util.h): a symbolic link, a non-regular file,
 * one with a second hard link or owned by someone else is refused; a
 * missing one is created 0600; the entry is written under an exclusive
 * flock, so concurrent runs append whole entries, then fsync'ed.  A
 * write that fails half-way is taken back (ftruncate), leaving the mbox
 * as it was.  Failure: FAIL_IO "PATH: why".
 */
int		 msg_save_mbox(struct msg *, const char *path,
		    const char *sender, struct fail *);

/*
 * Address parsing (RFC 5322 3.4): an address-list with groups,
 * comments, quoted local parts, angle addresses, obs-route.  Each
 * mailbox's addr-spec is appended to out unless out already has it
 * (same local part, domain compared case-insensitively); quoted local
 * parts are kept quoted as needed for SMTP, comments and display names
 * dropped.  This entry point is for arguments: ANY CR or LF is an error
 * (folding is accepted only inside msg.c, for -t header values).
 * Returns 0, or -1 with FAIL_DATA (CR, LF or another control character,
 * unbalanced brackets, an empty or malformed address), the message
 * quoting the offending text, sanitized.
 */
int		 msg_parse_addrlist(const char *, size_t, struct strv *,
		    struct fail *);
/* Same for exactly one address (a -f argument); "<>" and "" give "".
 * *out is malloc'ed (NULL on error). */
int		 msg_parse_addr(const char *, char **, struct fail *);

/*
 * Line-end normalisation as a streaming filter, exported for the unit
 * tests and used by msg.c itself: each call consumes all of in and
 * appends to out (cap must be >= 2*inlen+2); CR, LF, CRLF -> CRLF.
 * state must start at 0.  Returns bytes written.  A CR is written as
 * CRLF at once; state remembers it so that an LF starting the next
 * call is not doubled.  flush at the end (in=NULL) resets state and
 * writes nothing.
 */
size_t		 msg_crlf(int *state, const char *in, size_t inlen,
		    char *out);

#endif
