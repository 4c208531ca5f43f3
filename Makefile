# smtpsend - POSIX Makefile.  pkg-config finds OpenSSL 3 and libidn2.
.POSIX:
.SUFFIXES:
.SUFFIXES: .c .o

PREFIX	= /usr/local
BINDIR	= $(PREFIX)/bin
SBINDIR	= $(PREFIX)/sbin
MANDIR	= $(PREFIX)/share/man
CC	= cc
PKG_CONFIG = pkg-config
WARN	= -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
	  -Wstrict-prototypes -Wmissing-prototypes -Wno-format-nonliteral
CFLAGS	= -O2 -g
ALLCFLAGS = -std=c17 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARN) \
	  `$(PKG_CONFIG) --cflags openssl libidn2` $(CFLAGS)
LIBS	= `$(PKG_CONFIG) --libs openssl libidn2`
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -fno-sanitize-recover=all

OBJS	= smtpsend.o options.o smtp.o auth.o bs.o conf.o conn.o tlsio.o msg.o \
	  queue.o report.o util.o
LIBOBJS	= options.o smtp.o auth.o bs.o conf.o conn.o tlsio.o msg.o queue.o \
	  report.o util.o
HDRS	= smtp.h auth.h bs.h conf.h conn.h options.h queue.h tlsio.h msg.h \
	  report.h util.h
ASAN_UNITS = build-asan/test_smtp build-asan/test_msg build-asan/test_auth \
	  build-asan/test_conf build-asan/test_queue build-asan/test_bs
UNITS	= tests/unit/test_smtp tests/unit/test_msg tests/unit/test_auth \
	  tests/unit/test_conf tests/unit/test_queue tests/unit/test_bs

all: smtpsend

smtpsend: $(OBJS)
	$(CC) $(ALLCFLAGS) -o $@ $(OBJS) $(LIBS)

.c.o:
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(OBJS): $(HDRS)

tests/unit/test_smtp: tests/unit/test_smtp.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_smtp.c $(LIBOBJS) $(LIBS)

tests/unit/test_msg: tests/unit/test_msg.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_msg.c $(LIBOBJS) $(LIBS)

tests/unit/test_auth: tests/unit/test_auth.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_auth.c $(LIBOBJS) $(LIBS)

tests/unit/test_conf: tests/unit/test_conf.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_conf.c $(LIBOBJS) $(LIBS)

tests/unit/test_queue: tests/unit/test_queue.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_queue.c $(LIBOBJS) $(LIBS)

tests/unit/test_bs: tests/unit/test_bs.c tests/unit/t.h $(LIBOBJS) $(HDRS)
	$(CC) $(ALLCFLAGS) -I. -o $@ tests/unit/test_bs.c $(LIBOBJS) $(LIBS)

unit: $(UNITS)

# The same program and unit tests under AddressSanitizer + UBSan, built
# apart in build-asan/ so both can be tested in one run.
asan: build-asan/smtpsend $(ASAN_UNITS)

build-asan/smtpsend: $(OBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -o $@ $(OBJS:.o=.c) $(LIBS)

build-asan/test_smtp: tests/unit/test_smtp.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_smtp.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

build-asan/test_msg: tests/unit/test_msg.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_msg.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

build-asan/test_auth: tests/unit/test_auth.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_auth.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

build-asan/test_conf: tests/unit/test_conf.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_conf.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

build-asan/test_queue: tests/unit/test_queue.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_queue.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

build-asan/test_bs: tests/unit/test_bs.c $(LIBOBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o $@ tests/unit/test_bs.c \
	    $(LIBOBJS:.o=.c) $(LIBS)

# Everything: unit tests, scripted fake-server cases, real servers, the
# whole suite again under ASan+UBSan, valgrind.  Ends "N passed, N failed".
check: all unit asan
	sh tests/run_all.sh

demo: all
	sh tests/demo.sh

lint-man:
	mandoc -Tlint -W warning docs/smtpsend.1

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	cp smtpsend $(DESTDIR)$(BINDIR)/smtpsend
	chmod 755 $(DESTDIR)$(BINDIR)/smtpsend
	cp docs/smtpsend.1 $(DESTDIR)$(MANDIR)/man1/smtpsend.1
	chmod 644 $(DESTDIR)$(MANDIR)/man1/smtpsend.1

# sendmail and mailq links for cron, mailx, PHP and friends.
install-sendmail: install
	mkdir -p $(DESTDIR)$(SBINDIR)
	ln -sf $(BINDIR)/smtpsend $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf $(BINDIR)/smtpsend $(DESTDIR)$(BINDIR)/mailq

clean:
	rm -f smtpsend $(OBJS) $(UNITS)
	rm -rf build-asan tests/.work
