/*
 * test_util.c - the one escaping function (sanitize) and the UTF-8
 * decoder: every class of foreign byte SPEC names (C0, DEL, C1 raw and
 * as UTF-8, invalid UTF-8), visible cutting, and the decoder's refusal
 * of overlong forms, surrogates and values past U+10FFFF.
 */
#include <string.h>

#include "t.h"
#include "util.h"

static const char *
esc(const char *s, size_t len, size_t cap)
{
	static char out[512];

	return sanitize(out, cap, s, len);
}

#define ESC(lit)	esc((lit), sizeof(lit) - 1, 512)

static void
test_sanitize(void)
{
	CHECK_STR(ESC("plain text"), "plain text");
	CHECK_STR(ESC("a\tb\r\nc"), "a\\x09b\\x0d\\x0ac");
	CHECK_STR(ESC("\x1b[2J"), "\\x1b[2J");		/* ESC, C0 */
	CHECK_STR(ESC("del\x7f"), "del\\x7f");
	CHECK_STR(ESC("nul\0x"), "nul\\x00x");
	CHECK_STR(ESC("csi\x9b" "2J"), "csi\\x9b2J");	/* raw C1 CSI */
	CHECK_STR(ESC("\xc2\x9b" "31m"), "\\xc2\\x9b31m");/* U+009B as UTF-8 */
	CHECK_STR(ESC("\xc2\x85"), "\\xc2\\x85");		/* NEL */
	CHECK_STR(ESC("\xc2\xa0"), "\xc2\xa0");		/* U+00A0 is text */
	CHECK_STR(ESC("b\xc3\xbc" "cher"), "b\xc3\xbc" "cher");
	CHECK_STR(ESC("\xe2\x82\xac"), "\xe2\x82\xac");	/* euro sign */
	CHECK_STR(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
	CHECK_STR(ESC("\xff"), "\\xff");
	CHECK_STR(ESC("\xc3"), "\\xc3");			/* truncated */
	CHECK_STR(ESC("\xc3x"), "\\xc3x");
	CHECK_STR(ESC("\xc0\xaf"), "\\xc0\\xaf");		/* overlong '/' */
	CHECK_STR(ESC("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
	CHECK_STR(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");	/* surrogate */
	CHECK_STR(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	CHECK_STR(ESC("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
	CHECK_STR(ESC(""), "");

	/* cut visibly, never in the middle of an escape or a character */
	CHECK_STR(esc("abcdefghij", 10, 8), "abcd...");
	CHECK_STR(esc("abcdefg", 7, 8), "abcdefg");
	CHECK_STR(esc("\x01\x02\x03", 3, 10), "\\x01...");
	CHECK_STR(esc("\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc", 8, 8),
	    "\xc3\xbc\xc3\xbc...");
	CHECK_STR(esc("abc", 3, 1), "");
	{
		char big[300], out[64];

		memset(big, 'x', sizeof(big));
		sanitize(out, sizeof(out), big, sizeof(big));
		CHECK(strlen(out) == sizeof(out) - 1);
		CHECK(strcmp(out + strlen(out) - 3, "...") == 0);
	}
}

static void
test_utf8(void)
{
	unsigned long cp = 0;

	CHECK(utf8_decode("A", 1, &cp) == 1 && cp == 'A');
	CHECK(utf8_decode("\xc3\xbc", 2, &cp) == 2 && cp == 0xfc);
	CHECK(utf8_decode("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac);
	CHECK(utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10ffff);
	CHECK(utf8_decode("\xc3\xbc", 1, &cp) == 0);	/* len too short */
	CHECK(utf8_decode("\xc1\xbf", 2, &cp) == 0);
	CHECK(utf8_decode("\x80", 1, &cp) == 0);
	CHECK(utf8_decode("\xef\xbf\xbf", 3, &cp) == 3 && cp == 0xffff);
	CHECK(utf8_decode("\xf0\x8f\xbf\xbf", 4, &cp) == 0);	/* overlong */
	CHECK(utf8_decode("", 0, &cp) == 0);
	CHECK(utf8_valid("ascii", 5));
	CHECK(utf8_valid("b\xc3\xbc" "cher", 7));
	CHECK(!utf8_valid("b\xfc" "cher", 6));
	CHECK(has_ctl_utf8("a\xc2\x9b"));
	CHECK(has_ctl_utf8("a\x9b"));
	CHECK(has_ctl_utf8("a\x01"));
	CHECK(!has_ctl_utf8("b\xc3\xbc" "cher"));
	CHECK(!has_ctl("a\x9b"));	/* has_ctl is C0 and DEL only */
}

static void
test_parsers(void)
{
	CHECK(parse_onoff(NULL) == 1 && parse_onoff("") == 1);
	CHECK(parse_onoff("ON") == 1 && parse_onoff("yes") == 1 &&
	    parse_onoff("True") == 1 && parse_onoff("1") == 1);
	CHECK(parse_onoff("off") == 0 && parse_onoff("NO") == 0 &&
	    parse_onoff("false") == 0 && parse_onoff("0") == 0);
	CHECK(parse_onoff("maybe") == -1 && parse_onoff("on ") == -1 &&
	    parse_onoff("2") == -1);
	CHECK(parse_number("25", 1, 65535) == 25);
	CHECK(parse_number("65535", 1, 65535) == 65535);
	CHECK(parse_number("65536", 1, 65535) == -1);
	CHECK(parse_number("0", 1, 65535) == -1);
	CHECK(parse_number("007", 1, 10) == 7);
	CHECK(parse_number("", 0, 10) == -1 && parse_number(NULL, 0, 1) == -1);
	CHECK(parse_number("-1", 0, 10) == -1 && parse_number("+1", 0, 10) == -1);
	CHECK(parse_number("1x", 0, 10) == -1 && parse_number(" 1", 0, 10) == -1);
	CHECK(parse_number("99999999999999999999999", 0, 86400) == -1);
}

int
main(void)
{
	test_sanitize();
	test_utf8();
	test_parsers();
	T_DONE("util");
}
