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

OBJS	= smtpsend.o $(LIBOBJS)
LIBOBJS	= front.o deliver.o cli.o envelope.o secret.o options.o smtp.o auth.o bs.o conf.o \
	  conn.o tlsio.o msg.o queue.o report.o util.o addr.o
HDRS	= cli.h envelope.h secret.h front.h deliver.h smtp.h auth.h bs.h \
	  conf.h conn.h options.h queue.h tlsio.h msg.h report.h util.h addr.h
# C unit tests: tests/unit/test_NAME.c, one binary each, linked with every
# module but smtpsend.o (main).  A new one only needs its name here.
UNITNAMES = util smtp msg auth conf queue bs addr
UNITS	= $(UNITNAMES:%=tests/unit/test_%)

all: smtpsend

smtpsend: $(OBJS)
	$(CC) $(ALLCFLAGS) -o $@ $(OBJS) $(LIBS)

.c.o:
	$(CC) $(ALLCFLAGS) -c -o $@ $<

# tests/unit/test_NAME from tests/unit/test_NAME.c
.c:
	$(CC) $(ALLCFLAGS) -I. -o $@ $< $(LIBOBJS) $(LIBS)

$(OBJS): $(HDRS)
$(UNITS): $(LIBOBJS) $(HDRS) tests/unit/t.h

unit: $(UNITS)

# The same program and unit tests under AddressSanitizer + UBSan, built
# apart in build-asan/ so both can be tested in one run.  Any change to a
# source or header rebuilds every sanitized object (a minute at most).
asan: build-asan/smtpsend build-asan/units

build-asan/objs: $(OBJS:.o=.c) $(HDRS)
	mkdir -p build-asan
	for f in $(OBJS:.o=); do \
	    $(CC) $(ALLCFLAGS) $(SANFLAGS) -c -o build-asan/$$f.o $$f.c || \
	    exit 1; done
	touch $@

build-asan/smtpsend: build-asan/objs
	$(CC) $(ALLCFLAGS) $(SANFLAGS) -o $@ $(OBJS:%=build-asan/%) $(LIBS)

build-asan/units: build-asan/objs $(UNITS:=.c) tests/unit/t.h
	for u in $(UNITNAMES); do \
	    $(CC) $(ALLCFLAGS) $(SANFLAGS) -I. -o build-asan/test_$$u \
	    tests/unit/test_$$u.c $(LIBOBJS:%=build-asan/%) $(LIBS) || \
	    exit 1; done
	touch $@

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
