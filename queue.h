/*
 * queue.h - the store-and-forward queue (--queue=DIR): nothing lost
 * when the relay is down.
 *
 * One file per message in DIR, named by its id: a short text envelope,
 * then the message exactly as it goes on the wire (CRLF lines, headers
 * already rewritten, not dot-stuffed).  Written atomically (temporary
 * file in DIR/tmp, fsync, rename, fsync of DIR) and never rewritten in
 * place: the attempt count and last error live in a sidecar
 * DIR/ID.status, itself replaced atomically.  A message is removed only
 * after the deliver callback said the server accepted it.  A message
 * being delivered is locked (flock), so concurrent flushes never send
 * it twice.  Permanent failures move to DIR/failed/ID with the
 * server's reply in DIR/failed/ID.reason.
 *
 * The one duplicate a crash can cause: killed after the server
 * accepted the message and before its file was unlinked, the next
 * flush sends it again.  Anything else a kill -9 interrupts leaves the
 * message queued, whole.
 *
 * DIR, DIR/tmp and DIR/failed are created 0700, files 0600; a DIR
 * owned by another user or writable by group or others is refused
 * (FAIL_CONFIG): anyone able to drop a file there could send mail as
 * us.  Nothing here prints or exits.
 */
#ifndef SMTPSEND_QUEUE_H
#define SMTPSEND_QUEUE_H

#include <sys/types.h>
#include <stddef.h>
#include <time.h>
#include "util.h"

struct msg;

/*
 * Ids look like 20240131T235959.123456789-4242-9f86d081 (UTC time with
 * nanoseconds, pid, 32 random bits): unique, and sorting them sorts by
 * time.  About 45 bytes; this leaves room.
 */
#define QUEUE_ID_MAX	64
/* A "why" kept in the queue: a reply line is at most 512 octets
 * (RFC 5321 4.5.3.1.5); room for a summary of a multi-line reply. */
#define QUEUE_WHY_MAX	1024

/* The envelope stored with a message. */
struct queue_env {
	const char		*sender;	/* "" = null sender <> */
	const struct strv	*rcpts;		/* at least one */
	const char		*account;	/* config account, or NULL */
	const char		*failed;	/* a permanent failure: store it
						   straight into DIR/failed with
						   this reason, or NULL */
	const char		*why;		/* the temporary failure that
						   queued it (counts as attempt
						   1), or NULL (-odq: never
						   tried) */
};

/*
 * Store a message: the envelope and the output of msg_read() (the exact
 * wire form; msg_rewind() is called first).  id (QUEUE_ID_MAX bytes)
 * receives the new message's id.  Failures: FAIL_DATA (no recipient, CR
 * or LF in an address or the account), FAIL_CONFIG (DIR unusable),
 * FAIL_IO.  Nothing is left in DIR on failure.
 */
int	 queue_store(const char *dir, const struct queue_env *, struct msg *,
	    char *id, struct fail *);

/* One queued message, as listed or handed to the deliver callback. */
struct queue_entry {
	char		 id[QUEUE_ID_MAX];
	time_t		 created;
	off_t		 size;		/* of the message, envelope excluded */
	char		*sender;	/* "" = null sender */
	struct strv	 rcpts;
	char		*account;	/* or NULL */
	int		 attempts;
	char		*last_error;	/* or NULL */
	int		 fd;		/* deliver only (else -1): read-only,
					   locked, seekable, positioned at
					   the message; msg_load() reads it
					   in place.  Do not close. */
	off_t		 offset;	/* where the message starts in fd */
};

/*
 * The outcome of one delivery, from the deliver callback:
 * QUEUE_SENT (accepted: remove), QUEUE_RETRY (temporary: keep, count
 * the attempt, remember why), QUEUE_FAILED (permanent: move to
 * DIR/failed with why), QUEUE_SKIP (not attempted, e.g. its relay was
 * found down earlier in this run: keep unchanged, no attempt counted).
 */
enum queue_outcome {
	QUEUE_SENT, QUEUE_RETRY, QUEUE_FAILED, QUEUE_SKIP, QUEUE_OUTCOME_MAX
};
extern const char *const queue_outcome_names[QUEUE_OUTCOME_MAX];

/* why (whycap = QUEUE_WHY_MAX bytes, starts empty) takes one line. */
typedef enum queue_outcome (*queue_deliver_fn)(void *,
	    const struct queue_entry *, char *why, size_t whycap);

struct queue_counts {
	int	 sent;		/* accepted and removed */
	int	 kept;		/* RETRY or SKIP: still queued */
	int	 failed;	/* moved to DIR/failed (malformed ones too) */
	int	 busy;		/* locked by another flush: left alone */
};

/*
 * Deliver every message, oldest first: each is locked, handed to
 * deliver, then removed, kept or moved aside.  Messages locked by
 * another flush are skipped; a malformed queue file goes to DIR/failed
 * ("malformed queue file: ...") without reaching deliver.  Also removes
 * leftovers of crashes (see queue.c).  A missing DIR is an empty queue.
 * Returns 0, or -1 with FAIL_CONFIG/FAIL_IO when DIR is unusable or an
 * outcome could not be recorded (a SENT message not removed will be
 * sent again): the rest of the queue is still processed and *c counts
 * what happened.
 */
int	 queue_flush(const char *dir, queue_deliver_fn, void *,
	    struct queue_counts *, struct fail *);

/*
 * Every queued message (not the failed ones), oldest first, without
 * locking.  A file that cannot be parsed is listed with an empty
 * envelope and last_error "malformed queue file: ...".  A missing DIR
 * is an empty queue.  *n set; free with queue_list_free.  -1 on error.
 */
int	 queue_list(const char *dir, struct queue_entry **, size_t *n,
	    struct fail *);
void	 queue_list_free(struct queue_entry *, size_t);

#endif
