/*
 * t.h - the unit tests' tiny harness.  Each test binary ends with
 * "unit NAME: N passed, M failed" and exits 1 when anything failed.
 */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond) do {						\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

/* Compare exact bytes; on mismatch print both, escaped. */
static void __attribute__((unused))
t_show(const char *what, const char *p, size_t n)
{
	fprintf(stderr, "  %s (%zu): \"", what, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r') fputs("\\r", stderr);
		else if (c == '\n') fputs("\\n", stderr);
		else if (c < 0x20 || c >= 0x7f) fprintf(stderr, "\\x%02x", c);
		else fputc(c, stderr);
	}
	fputs("\"\n", stderr);
}

#define CHECK_BYTES(got, gotlen, want, wantlen) do {			\
	if ((gotlen) == (wantlen) && memcmp((got), (want), (gotlen)) == 0) \
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "FAIL %s:%d: bytes differ\n", __FILE__, __LINE__); \
		t_show("got ", (got), (gotlen));			\
		t_show("want", (want), (wantlen));			\
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ != NULL && strcmp(g_, w_) == 0)				\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "FAIL %s:%d: got \"%s\", want \"%s\"\n", \
		    __FILE__, __LINE__, g_ ? g_ : "(null)", w_);	\
	}								\
} while (0)

#define T_DONE(name) do {						\
	printf("unit %s: %d passed, %d failed\n", (name), t_pass, t_fail); \
	return t_fail ? 1 : 0;						\
} while (0)

#endif
