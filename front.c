/*
 * front.c - what every room of the front end shares: the program's
 * name, the one-line message, THE failure class -> exit status map
 * (sysexits.h: the only place the numbers appear), and the warning
 * callback for the message module.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sysexits.h>

#include "front.h"

const char *progname = "smtpsend";

/* The one place where a failure class becomes an exit status. */
int
front_exit_code(enum fail_class cls)
{
	static const int map[FAIL_MAX] = {
		[FAIL_NONE] = EX_OK,
		[FAIL_USAGE] = EX_USAGE,
		[FAIL_DATA] = EX_DATAERR,
		[FAIL_NOINPUT] = EX_NOINPUT,
		[FAIL_RCPT] = EX_NOUSER,
		[FAIL_RESOLVE] = EX_NOHOST,
		[FAIL_PERM] = EX_UNAVAILABLE,
		[FAIL_INTERNAL] = EX_SOFTWARE,
		[FAIL_IO] = EX_IOERR,
		[FAIL_TEMP] = EX_TEMPFAIL,
		[FAIL_PROTOCOL] = EX_PROTOCOL,
		[FAIL_AUTH] = EX_NOPERM,
		[FAIL_TLS] = EX_NOPERM,
		[FAIL_CONFIG] = EX_CONFIG,
	};

	return (int)cls >= 0 && cls < FAIL_MAX ? map[cls] : EX_SOFTWARE;
}

void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Warnings about the message itself (a broken long line) always show. */
void
front_msg_warn(void *arg, const char *text)
{
	const struct ctx *x = arg;

	if (!x->o->quiet || x->o->verbose)
		fprintf(stderr, "%s: warning: %s\n", progname, text);
}

const char *
front_hint(enum fail_hint h)
{
	static const char *const text[HINT_MAX] = {
		[HINT_NONE] = "",
		[HINT_TLS_OFF] = " (use --tls=off to send in plaintext)",
		[HINT_TLS_OFF_AUTH] = "; --tls=off allows it",
		[HINT_ALLOW_PARTIAL] = " (--allow-partial delivers to the "
		    "others)",
		[HINT_STARTTLS] = " (try --tls=starttls)",
		[HINT_CERT_FILE] = " (--tls-cert-file)",
		[HINT_MIN_VERSION] = " (--tls-min-version)",
		[HINT_USER] = " (--user)",
		[HINT_SERVERINFO] = " (see smtpsend --serverinfo)",
		[HINT_TRUST_FILE] = " (--tls-trust-file)",
		[HINT_KEY_FILE] = " (--tls-key-file)",
		[HINT_KEY_NEEDS_CERT] = " (--tls-key-file needs "
		    "--tls-cert-file)",
		[HINT_FINGERPRINT] = " (--tls-fingerprint)",
	};

	return (int)h > 0 && h < HINT_MAX && text[h] != NULL ? text[h] : "";
}

void
say_fail(const struct fail *f)
{
	say("%s%s", f->msg, front_hint(f->hint));
}
