/*
 * bs.h - the server side of "sendmail -bs": an SMTP session with a
 * local client on stdin/stdout, each message relayed at the end of its
 * DATA by a callback.  PHP mailers (Symfony Mailer, SwiftMailer,
 * PHPMailer's sendmail mode) use it by default.
 *
 * The server is RFC 5321, strict but friendly to a local client:
 *
 *   greeting	220 HOST ESMTP smtpsend
 *   EHLO	250-HOST, PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
 *		ENHANCEDSTATUSCODES, HELP
 *   HELO	250 HOST
 *   MAIL	FROM:<addr> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]
 *   RCPT	TO:<addr> (no parameters), at most BS_RCPT_MAX
 *   DATA	354, the message, then the relay's verdict
 *   RSET NOOP QUIT VRFY(252) HELP(214)
 *
 * Every reply but the greeting, the EHLO/HELO replies and 354 carries
 * an enhanced status code (RFC 2034).  Commands are case-insensitive
 * and may end in LF as well as CRLF (the client is local).  Replies are
 * buffered and flushed whenever the server would wait for input, so a
 * pipelining client (RFC 2920) gets them in order, in one write.
 *
 * Addresses are checked by addr.c, the one validator, against RFC 5321
 * 4.1.2 and 4.5.3.1 (dot-string or quoted local part; domain name or
 * address literal; sizes; no control byte, valid UTF-8 only); the
 * domain may be left out: "root" is passed as is, for the caller's
 * aliases and maildomain; a source route (@a,@b:) is dropped (RFC 5321
 * C).  UTF-8 is accepted in addresses with or
 * without the SMTPUTF8 parameter: the relay engine adds SMTPUTF8
 * upstream when an address needs it.
 *
 * The message is stored as received, un-dot-stuffed, line ends kept
 * (CRLF or LF; the relay path normalises them), in an unlinked
 * temporary file in $TMPDIR (default /tmp): memory use is constant,
 * the size bounded by the disk.
 *
 * Only <CRLF>.<CRLF> ends it (RFC 5321 4.1.1.4; SMTP smuggling): a "."
 * line is the end only when the line before it (or the DATA command)
 * ended in CRLF and the dot is followed by CRLF.  A "." line with a
 * bare LF before or after it, or a bare CR after the dot, is data and
 * keeps its dot; the relay path turns its line ends into CRLF and
 * stuffs it, so the relay receives "..", never an end of data.  As in
 * Postfix, lines are what LF ends (a lone CR is data inside a line),
 * and dot-unstuffing (RFC 5321 4.5.2) applies to every line whatever
 * ended the one before: ".x" after a bare LF is "x".  A message cut
 * short by end of input is never relayed (a client that ends its data
 * with LF.LF gets no reply and is not relayed).
 */
#ifndef SMTPSEND_BS_H
#define SMTPSEND_BS_H

#include <stddef.h>
#include "util.h"

/* RFC 5321 4.5.3.1.4 puts a command line at 512 octets with CRLF, and
 * lets extensions make it longer (RFC 1870 SIZE, RFC 6531 UTF-8
 * addresses); four times that, like SMTP_LINE_MAX.  A longer line is
 * read to its end, dropped, and answered "500 5.5.2 Error: line too
 * long". */
#define BS_LINE_MAX	2048
/* Recipients per message: RFC 5321 4.5.3.1.8 asks for at least 100;
 * Postfix (smtpd_recipient_limit) takes 1000.  Then 452 4.5.3, which a
 * client answers by sending the rest in another transaction. */
#define BS_RCPT_MAX	1000
/* Size of the reply buffer handed to the relay callback. */
#define BS_REPLY_MAX	1024

/*
 * Called at the end of each complete DATA to relay the message.
 *
 * sender: the reverse-path without brackets, "" for the null sender.
 * rcpts: the forward-paths without brackets, in order, duplicates
 * dropped, at least one.  fd: an unlinked temporary file opened
 * read-write, positioned at offset 0, holding the message exactly as
 * the client sent it (dot-unstuffed, line ends as received, the final
 * "." line not included); the callback must not close it.
 *
 * reply (cap bytes, cap == BS_REPLY_MAX, initially "") receives one
 * SMTP reply line without CRLF, e.g. "250 2.0.0 Ok: queued as X" or
 * the relay's refusal "550 5.1.1 <bob@example.org> User unknown".  It
 * is sent to the client after checks: a missing or malformed reply (not
 * 2xx/4xx/5xx) becomes "451 4.3.0 ..."; 421 becomes 451 (the local
 * session is not closing, only the relay's was); control bytes become
 * spaces; an enhanced status code (X.0.0) is added when the text has
 * none.
 *
 * RCPT is only checked locally: the relay's verdict on each recipient
 * comes at the end of DATA, in this one reply.
 */
typedef void (*bs_relay_fn)(void *arg, const char *sender,
    const struct strv *rcpts, int fd, char *reply, size_t cap);

/*
 * Serve one SMTP session on infd/outfd (not closed).  hostname names
 * this host in the greeting and EHLO reply ("localhost" when NULL,
 * empty or not printable ASCII).  Several messages per session; after
 * each DATA the transaction is reset.
 *
 * Returns 0 when the client sent QUIT or input ended (a partial command
 * line or an unfinished DATA at end of input is dropped, nothing is
 * relayed), -1 on a read or write error on infd/outfd (FAIL_IO in f).
 * A write error after QUIT or end of input that is only EPIPE (the
 * client went away without reading the last reply) still returns 0.
 * The caller should ignore SIGPIPE.  Temporary-file errors are not
 * session errors: the client gets 451/452 and may go on.
 *
 * Nothing here prints or exits (except xmalloc on exhausted memory).
 */
int	bs_serve(int infd, int outfd, const char *hostname, bs_relay_fn relay,
	    void *arg, struct fail *f);

#endif
