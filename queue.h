/*
 * queue.h - the store-and-forward queue (--queue=DIR): nothing lost
 * when the relay is down.
 *
 * One file per message in DIR: a short text envelope, then the message
 * exactly as it goes on the wire (CRLF lines, headers already
 * rewritten).  Written atomically (temporary file in DIR/tmp, fsync,
 * rename, fsync of DIR), removed only after the server accepted the
 * message.  A message being delivered is locked (flock), so concurrent
 * flushes never send it twice.  Permanent failures move to DIR/failed
 * with the server's reply beside them.  Nothing here prints or exits.
 */
#ifndef SMTPSEND_QUEUE_H
#define SMTPSEND_QUEUE_H

#include <sys/types.h>
#include <time.h>
#include "util.h"

struct msg;

/*
 * Store a message: the envelope (sender "" = null sender, recipients)
 * and the output of msg_read() (the exact wire form).  id (at least
 * QUEUE_ID_MAX bytes) receives the new message's id.  FAIL_IO or
 * FAIL_CONFIG (DIR unusable).
 */
#define QUEUE_ID_MAX	64
int	 queue_store(const char *dir, const char *sender,
	    const struct strv *rcpts, struct msg *, char *id, struct fail *);

/* One queued message, as listed or handed to the deliver callback. */
struct queue_entry {
	char		 id[QUEUE_ID_MAX];
	time_t		 created;
	off_t		 size;		/* of the message */
	char		*sender;
	struct strv	 rcpts;
	int		 attempts;
	char		*last_error;	/* or NULL */
	int		 fd;		/* deliver only: positioned at the
					   message; seekable, locked */
};

/*
 * The outcome of one delivery, from the deliver callback:
 * QUEUE_SENT (accepted: remove), QUEUE_RETRY (temporary: keep, count
 * the attempt, remember why), QUEUE_FAILED (permanent: move to
 * DIR/failed with why).
 */
enum queue_outcome { QUEUE_SENT, QUEUE_RETRY, QUEUE_FAILED };

typedef enum queue_outcome (*queue_deliver_fn)(void *,
	    const struct queue_entry *, char *why, size_t whycap);

/*
 * Deliver every message, oldest first: each is locked, handed to
 * deliver, then removed, kept or moved aside.  Messages locked by
 * another flush are skipped.  *sent, *kept, *failed count them.
 * Returns 0, or -1 (FAIL_IO/FAIL_CONFIG) when DIR itself is unusable.
 */
int	 queue_flush(const char *dir, queue_deliver_fn, void *,
	    int *sent, int *kept, int *failed, struct fail *);

/* Every queued message (not the failed ones), oldest first.  *n set;
 * free with queue_list_free.  -1 on error. */
int	 queue_list(const char *dir, struct queue_entry **, size_t *n,
	    struct fail *);
void	 queue_list_free(struct queue_entry *, size_t);

#endif
