/*
 * test_conf.c - the config file: syntax, every key in both spellings
 * and its translation, sections and inheritance, account selection,
 * the search list, errors with FILE:LINE, permissions, limits, and a
 * real-world ~/.msmtprc.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"

static char tmpdir[] = "/tmp/test_conf.XXXXXX";
static char home[128];

static const char *
put_file(const char *name, const char *text, mode_t mode)
{
	static char path[700];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror(path);
	close(fd);
	chmod(path, mode);
	return path;
}

/* The items as "key=value;key=value", in order. */
static const char *
dump(const struct conf *c)
{
	static char out[8192];
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n && n < sizeof(out); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s=%s",
		    i ? ";" : "", c->v[i].key, c->v[i].value);
	return out;
}

/* Load text (mode 0600) with -a/-f; want the items, and the account. */
static void
ok_case(int line, const char *text, const char *account, const char *from,
    const char *want, const char *wacct)
{
	struct fail f = { 0 };
	struct conf c;
	const char *path = put_file("rc", text, 0600);
	int rc = conf_load(path, account, from, &c, &f);

	if (rc != 0)
		fprintf(stderr, "  case at line %d: %s\n", line, f.msg);
	CHECK(rc == 0);
	if (rc == 0 && strcmp(dump(&c), want) != 0)
		fprintf(stderr, "  case at line %d:\n", line);
	CHECK_STR(dump(&c), want);
	if (wacct == NULL)
		CHECK(c.account == NULL);
	else
		CHECK_STR(c.account, wacct);
	if (rc == 0)
		CHECK_STR(c.path, path);
	conf_free(&c);
}

/* Load text; want FAIL_CONFIG naming FILE:wline and holding what. */
static void
err_case(int line, const char *text, const char *account, const char *from,
    int wline, const char *what)
{
	struct fail f = { 0 };
	struct conf c;
	char where[800];
	const char *path = put_file("rc", text, 0600);
	int rc = conf_load(path, account, from, &c, &f);

	if (wline > 0)
		snprintf(where, sizeof(where), "%s:%d: ", path, wline);
	else
		snprintf(where, sizeof(where), "%s", path);
	if (rc != -1 || f.cls != FAIL_CONFIG || strstr(f.msg, where) == NULL ||
	    strstr(f.msg, what) == NULL)
		fprintf(stderr, "  case at line %d: rc %d, \"%s\"; want "
		    "\"%s\" and \"%s\"\n", line, rc, f.msg, where, what);
	CHECK(rc == -1 && f.cls == FAIL_CONFIG);
	CHECK(strstr(f.msg, where) != NULL && strstr(f.msg, what) != NULL);
	/* an error leaves nothing behind */
	CHECK(c.n == 0 && c.v == NULL && c.path == NULL && c.store == NULL);
	conf_free(&c);
}

#define OK(text, acct, from, want, wacct) \
	ok_case(__LINE__, (text), (acct), (from), (want), (wacct))
#define ERR(text, acct, from, wline, what) \
	err_case(__LINE__, (text), (acct), (from), (wline), (what))

/* One setting in a defaults-only file, translated (or "" if none). */
static void
key_case(int line, const char *setting, const char *want)
{
	char text[512];

	snprintf(text, sizeof(text), "defaults\n%s\n", setting);
	ok_case(line, text, NULL, NULL, want, NULL);
}
#define KEY(setting, want) key_case(__LINE__, (setting), (want))

static void
test_keys(void)
{
	char text[600], want[800];

	/* server */
	KEY("host mail.example.org", "host=mail.example.org");
	KEY("port 587", "port=587");
	KEY("port 065535", "port=65535");
	KEY("protocol lmtp", "protocol=lmtp");
	KEY("protocol SMTP", "protocol=smtp");
	KEY("domain client.example.org", "domain=client.example.org");
	KEY("domain %H", "domain=%H");
	KEY("timeout 30", "timeout=30");
	KEY("timeout off", "");
	KEY("connect_timeout 10", "timeout=10");
	KEY("connect-timeout 10", "timeout=10");
	KEY("source_ip 192.0.2.1", "source-ip=192.0.2.1");
	KEY("source-ip 2001:db8::1", "source-ip=2001:db8::1");
	/* TLS */
	KEY("tls_trust_file /etc/ssl/certs/ca-certificates.crt",
	    "tls-trust-file=/etc/ssl/certs/ca-certificates.crt");
	KEY("tls-trust-file /x.pem", "tls-trust-file=/x.pem");
	KEY("tls_trust_file system", "");
	KEY("tls_trust_file", "");
	KEY("tls_cert_file /c.pem", "tls-cert-file=/c.pem");
	KEY("tls-cert-file /c.pem", "tls-cert-file=/c.pem");
	KEY("tls_key_file /k.pem", "tls-key-file=/k.pem");
	KEY("tls-key-file /k.pem", "tls-key-file=/k.pem");
	KEY("tls_key_file", "");
	KEY("tls_certcheck off", "tls-certcheck=off");
	KEY("tls-certcheck on", "tls-certcheck=on");
	KEY("tls_certcheck", "tls-certcheck=on");
	KEY("tls_nocertcheck", "tls-certcheck=off");
	KEY("tls_min_version 1.3", "tls-min-version=1.3");
	KEY("tls-min-version 1.2", "tls-min-version=1.2");
	KEY("tls_host_override mx.example.org", "tls-host=mx.example.org");
	KEY("tls-host mx.example.org", "tls-host=mx.example.org");
	KEY("tls_min_dh_prime_bits 512", "");
	KEY("tls_priorities NORMAL:-VERS-TLS1.0", "");
	KEY("tls_crl_file", "");
	KEY("tls_force_sslv3 off", "");
	KEY("tls_fingerprint 01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"
	    ":01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef",
	    "tls-fingerprint=SHA256:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB"
	    ":CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF");
	KEY("tls-fingerprint sha256:0123456789abcdef0123456789abcdef0123456789"
	    "abcdef0123456789abcdef",
	    "tls-fingerprint=SHA256:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB"
	    ":CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF");
	KEY("tls_fingerprint", "");
	/* auth */
	KEY("auth on", "auth=on");
	KEY("auth", "auth=on");
	KEY("auth off", "auth=off");
	KEY("auth yes", "auth=on");
	KEY("auth PLAIN", "auth=plain");
	KEY("auth login", "auth=login");
	KEY("auth cram-md5", "auth=cram-md5");
	KEY("auth scram-sha-256", "auth=scram-sha-256");
	KEY("auth SCRAM-SHA-1", "auth=scram-sha-1");
	KEY("auth xoauth2", "auth=xoauth2");
	KEY("auth oauthbearer", "auth=oauthbearer");
	KEY("auth external", "auth=external");
	KEY("user joe.smith", "user=joe.smith");
	KEY("user", "");
	KEY("password s3cr#t pass", "password=s3cr#t pass");
	KEY("password", "");
	KEY("passwordeval gpg --no-tty -q -d ~/.pw.gpg",
	    "passwordeval=gpg --no-tty -q -d ~/.pw.gpg");
	KEY("passwordeval \"pass show mail/\\\"x\\\"\"",
	    "passwordeval=pass show mail/\"x\"");
	KEY("ntlmdomain CORP", "");
	/* envelope and headers */
	KEY("from joe@example.org", "from=joe@example.org");
	KEY("from *@example.org", "from=*@example.org");
	KEY("from %U@%H", "from=%U@%H");
	KEY("auto_from on", "auto-from=on");
	KEY("auto-from off", "auto-from=off");
	KEY("maildomain example.org", "maildomain=example.org");
	KEY("maildomain", "maildomain=");
	KEY("allow_from_override off", "allow-from-override=off");
	KEY("set_from_header on", "set-from-header=on");
	KEY("set-from-header auto", "set-from-header=auto");
	KEY("set_from_header off", "set-from-header=off");
	KEY("set_from_header", "set-from-header=on");
	KEY("add_missing_from_header on", "set-from-header=auto");
	KEY("add_missing_from_header off", "set-from-header=off");
	KEY("set_date_header auto", "set-date-header=auto");
	KEY("set-date-header off", "set-date-header=off");
	KEY("add_missing_date_header off", "set-date-header=off");
	KEY("add_missing_date_header", "set-date-header=auto");
	KEY("set_msgid_header off", "set-msgid-header=off");
	KEY("set-msgid-header AUTO", "set-msgid-header=auto");
	KEY("remove_bcc_headers off", "remove-bcc-headers=off");
	KEY("remove-bcc-headers on", "remove-bcc-headers=on");
	KEY("keepbcc on", "remove-bcc-headers=off");
	KEY("keepbcc off", "remove-bcc-headers=on");
	KEY("undisclosed_recipients on", "undisclosed-recipients=on");
	KEY("undisclosed-recipients", "undisclosed-recipients=on");
	KEY("dsn_notify failure,delay", "dsn-notify=failure,delay");
	KEY("dsn-notify SUCCESS,failure,delay",
	    "dsn-notify=success,failure,delay");
	KEY("dsn_notify never", "dsn-notify=never");
	KEY("dsn_notify off", "");
	KEY("dsn_return headers", "dsn-return=hdrs");
	KEY("dsn-return hdrs", "dsn-return=hdrs");
	KEY("dsn_return full", "dsn-return=full");
	KEY("dsn_return off", "");
	/* delivery, logs */
	KEY("allow-partial", "allow-partial=on");
	KEY("allow_partial no", "allow-partial=off");
	KEY("queue /var/spool/smtpsend", "queue=/var/spool/smtpsend");
	KEY("logfile /var/log/smtpsend.log", "logfile=/var/log/smtpsend.log");
	KEY("logfile -", "logfile=-");
	KEY("logfile", "");
	KEY("logfile_time_format %Y", "");
	KEY("syslog", "syslog=on");
	KEY("syslog off", "syslog=off");
	KEY("syslog LOG_MAIL", "syslog=LOG_MAIL");
	KEY("syslog log_local7", "syslog=LOG_LOCAL7");
	KEY("aliases /etc/aliases", "aliases=/etc/aliases");
	KEY("report json", "report=json");
	KEY("report off", "");
	KEY("quiet", "quiet=on");
	/* booleans: every spelling */
	KEY("tls_certcheck yes", "tls-certcheck=on");
	KEY("tls_certcheck TRUE", "tls-certcheck=on");
	KEY("tls_certcheck 1", "tls-certcheck=on");
	KEY("tls_certcheck No", "tls-certcheck=off");
	KEY("tls_certcheck false", "tls-certcheck=off");
	KEY("tls_certcheck 0", "tls-certcheck=off");

	/* "~" and "~/" are $HOME in file names, nowhere else */
	static const char *const paths[] = { "tls_trust_file", "tls_cert_file",
	    "tls_key_file", "logfile", "aliases", "queue" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char key[64];

		snprintf(key, sizeof(key), "%s", paths[i]);
		for (char *p = key; *p; p++)
			if (*p == '_')
				*p = '-';
		snprintf(text, sizeof(text), "%s ~/x/y\n", paths[i]);
		snprintf(want, sizeof(want), "%s=%s/x/y", key, home);
		OK(text, NULL, NULL, want, NULL);
		snprintf(text, sizeof(text), "%s ~\n", paths[i]);
		snprintf(want, sizeof(want), "%s=%s", key, home);
		OK(text, NULL, NULL, want, NULL);
	}
	KEY("logfile ~joe/log", "logfile=~joe/log");
	KEY("logfile /a/~/b", "logfile=/a/~/b");
	KEY("user ~joe", "user=~joe");
}

static void
test_syntax(void)
{
	/* comments, blank lines, blanks around keys and values, CRLF */
	OK("# comment\n\n   # indented comment\n\t\n"
	    "  host   mail.example.org  \t\r\n"
	    "port\t587\r\n", NULL, NULL, "host=mail.example.org;port=587",
	    NULL);
	/* no trailing comments (msmtp): '#' is data after a key */
	OK("password abc # not a comment\n", NULL, NULL,
	    "password=abc # not a comment", NULL);
	/* a UTF-8 byte order mark is skipped */
	OK("\357\273\277host h\n", NULL, NULL, "host=h", NULL);
	/* no final newline */
	OK("host h", NULL, NULL, "host=h", NULL);
	OK("", NULL, NULL, "", NULL);
	/* quoted values: blanks kept, \" and \\ undone, blanks outside */
	OK("password \" a b \"\n", NULL, NULL, "password= a b ", NULL);
	OK("password \"a\\\"b\\\\c\"  \n", NULL, NULL, "password=a\"b\\c",
	    NULL);
	OK("password \"\"\n", NULL, NULL, "", NULL);
	OK("password \"#x\"\n", NULL, NULL, "password=#x", NULL);
	/* a quote inside an unquoted value is data */
	OK("passwordeval gpg -d \"my file.gpg\"\n", NULL, NULL,
	    "passwordeval=gpg -d \"my file.gpg\"", NULL);
	/* each key once, the last one written wins; order of last writes */
	OK("host a\nport 25\nhost b\n", NULL, NULL, "port=25;host=b", NULL);
	/* the item remembers its line */
	{
		struct fail f = { 0 };
		struct conf c;
		const char *path = put_file("rc", "# x\nhost a\n\nport 25\n"
		    "host b\n", 0600);

		CHECK(conf_load(path, NULL, NULL, &c, &f) == 0);
		CHECK_BYTES(c.v[1].value, strlen(c.v[1].value), "b", 1);
		CHECK(conf_find(&c, "host") != NULL &&
		    conf_find(&c, "host")->line == 5);
		CHECK(conf_find(&c, "port")->line == 4);
		CHECK_STR(conf_find(&c, "port")->file, path);
		CHECK_STR(conf_get(&c, "host"), "b");
		CHECK(conf_get(&c, "user") == NULL);
		CHECK(conf_find(&c, "nonsense") == NULL);
		conf_free(&c);
		conf_free(&c);		/* twice is harmless */
	}
}

static void
test_tls(void)
{
	OK("tls on\n", NULL, NULL, "tls=starttls", NULL);
	OK("tls\n", NULL, NULL, "tls=starttls", NULL);
	OK("tls on\ntls_starttls on\n", NULL, NULL, "tls=starttls", NULL);
	OK("tls on\ntls_starttls off\n", NULL, NULL, "tls=implicit", NULL);
	OK("tls_starttls off\ntls on\n", NULL, NULL, "tls=implicit", NULL);
	OK("tls on\ntls_nostarttls\n", NULL, NULL, "tls=implicit", NULL);
	OK("tls on\ntls-starttls no\n", NULL, NULL, "tls=implicit", NULL);
	OK("tls off\ntls_starttls off\n", NULL, NULL, "tls=off", NULL);
	OK("tls off\n", NULL, NULL, "tls=off", NULL);
	OK("tls no\n", NULL, NULL, "tls=off", NULL);
	/* tls_starttls alone does not turn TLS on */
	OK("tls_starttls off\n", NULL, NULL, "", NULL);
	OK("tls_starttls on\nhost h\n", NULL, NULL, "host=h", NULL);
	/* smtpsend's words pass through; tls_starttls does not bend them */
	OK("tls auto\n", NULL, NULL, "tls=auto", NULL);
	OK("tls STARTTLS\ntls_starttls off\n", NULL, NULL, "tls=starttls",
	    NULL);
	OK("tls implicit\ntls_starttls on\n", NULL, NULL, "tls=implicit",
	    NULL);
	OK("tls_starttls off\ntls implicit\n", NULL, NULL, "tls=implicit",
	    NULL);
	/* across a chain: defaults say on, the account says no STARTTLS */
	OK("defaults\ntls on\ntls_starttls on\naccount a\ntls_starttls off\n"
	    "port 465\n", "a", NULL, "tls=implicit;port=465", "a");
	OK("defaults\ntls_starttls off\naccount a\ntls on\n", "a", NULL,
	    "tls=implicit", "a");
	OK("defaults\ntls on\naccount a\ntls off\n", "a", NULL, "tls=off",
	    "a");
	/* the tls item's line: the later of the two settings that made it */
	{
		struct fail f = { 0 };
		struct conf c;
		const char *path = put_file("rc", "defaults\ntls on\n"
		    "account a\ntls_starttls off\n", 0600);

		CHECK(conf_load(path, "a", NULL, &c, &f) == 0);
		CHECK(c.n == 1 && c.v[0].line == 4);
		conf_free(&c);
	}
}

static void
test_sections(void)
{
	static const char chain[] =
	    "defaults\n"
	    "port 587\n"
	    "tls on\n"
	    "account base\n"
	    "host base.example\n"
	    "user base\n"
	    "account extra\n"
	    "auth plain\n"
	    "user extra\n"
	    "account child : base, extra\n"
	    "from child@example.org\n"
	    "account grandchild : child\n"
	    "port 2525\n"
	    "account default : base\n";

	/* defaults, then the parents in order, then the account */
	OK(chain, "base", NULL,
	    "port=587;tls=starttls;host=base.example;user=base", "base");
	/* (each key once, where it was last set: extra set port again) */
	OK(chain, "child", NULL,
	    "host=base.example;port=587;tls=starttls;auth=plain;user=extra;"
	    "from=child@example.org", "child");
	OK(chain, "grandchild", NULL,
	    "host=base.example;tls=starttls;auth=plain;user=extra;"
	    "from=child@example.org;port=2525", "grandchild");
	/* no -a, no -f: "account default : base" */
	OK(chain, NULL, NULL,
	    "port=587;tls=starttls;host=base.example;user=base", "default");
	/* -a default works too */
	OK(chain, "default", NULL,
	    "port=587;tls=starttls;host=base.example;user=base", "default");
	/* the account's own line beats its parent's */
	OK("account p\nhost p\nport 25\naccount c : p\nhost c\n", "c", NULL,
	    "port=25;host=c", "c");
	/* a parent's own line beats the defaults */
	OK("defaults\nport 25\naccount p\nport 26\naccount c : p\n", "c",
	    NULL, "port=26", "c");
	/* an empty value in the account unsets what defaults set */
	OK("defaults\nuser u\nlogfile /l\naccount a\nuser\nlogfile\nhost h\n",
	    "a", NULL, "host=h", "a");
	OK("defaults\ntls_trust_file /ca.pem\naccount a\n"
	    "tls_trust_file system\n", "a", NULL, "", "a");
	OK("defaults\ndsn_notify success\naccount a\ndsn_notify off\n", "a",
	    NULL, "", "a");
	/* msmtp: an account starts from the defaults above it only */
	OK("defaults\nport 25\naccount a\nhost h\ndefaults\nport 26\n"
	    "account b\nhost i\n", "a", NULL, "port=25;host=h", "a");
	OK("defaults\nport 25\naccount a\nhost h\ndefaults\nport 26\n"
	    "account b\nhost i\n", "b", NULL, "port=26;host=i", "b");
	/* ... and a parent keeps what it had (msmtp copies it whole) */
	OK("defaults\nport 25\naccount a\nhost h\ndefaults\nport 26\n"
	    "account b : a\n", "b", NULL, "port=25;host=h", "b");
	/* no account chosen, no "default": every defaults setting */
	OK("defaults\nport 25\naccount a\nhost h\ndefaults\nport 26\n"
	    "domain d\n", NULL, NULL, "port=26;domain=d", NULL);
	/* settings above any section are defaults */
	OK("host h\nport 25\n", NULL, NULL, "host=h;port=25", NULL);
	OK("host h\naccount a\nport 26\n", "a", NULL, "host=h;port=26", "a");
	/* an account named default without parents */
	OK("defaults\nport 25\naccount other\nhost o\naccount default\n"
	    "host d\n", NULL, NULL, "port=25;host=d", "default");
	/* blanks around the colon and commas, or none */
	OK("account a\nhost a\naccount b\nport 1\naccount c:a,b\n", "c",
	    NULL, "host=a;port=1", "c");
	OK("account a\nhost a\naccount b\nport 1\naccount c  :  b ,\ta\n",
	    "c", NULL, "port=1;host=a", "c");
	/* diamonds do not multiply */
	OK("account a\nhost a\naccount b : a\naccount c : a\n"
	    "account d : b, c, a, b\nport 9\n", "d", NULL, "host=a;port=9",
	    "d");
}

static void
test_select(void)
{
	static const char rc[] =
	    "defaults\n"
	    "auth on\n"
	    "account work\n"
	    "host smtp.work.example\n"
	    "from Joe.Smith@Work.example\n"
	    "account lists\n"
	    "host smtp.lists.example\n"
	    "from *@lists.example\n"
	    "account q\n"
	    "host smtp.q.example\n"
	    "from q?@q.example\n"
	    "account also-work\n"
	    "host second.work.example\n"
	    "from joe.smith@work.example\n"
	    "account default : work\n"
	    "host smtp.default.example\n";

	/* exact, without regard to case; the first match wins */
	OK(rc, NULL, "joe.smith@work.example", "auth=on;"
	    "host=smtp.work.example;from=Joe.Smith@Work.example", "work");
	OK(rc, NULL, "JOE.SMITH@WORK.EXAMPLE", "auth=on;"
	    "host=smtp.work.example;from=Joe.Smith@Work.example", "work");
	OK(rc, NULL, "<joe.smith@work.example>", "auth=on;"
	    "host=smtp.work.example;from=Joe.Smith@Work.example", "work");
	/* globs */
	OK(rc, NULL, "anything@lists.example", "auth=on;"
	    "host=smtp.lists.example;from=*@lists.example", "lists");
	OK(rc, NULL, "a@LISTS.example", "auth=on;"
	    "host=smtp.lists.example;from=*@lists.example", "lists");
	OK(rc, NULL, "q1@q.example", "auth=on;host=smtp.q.example;"
	    "from=q?@q.example", "q");
	/* "?" is one character; no match: the default account */
	OK(rc, NULL, "q12@q.example", "auth=on;from=Joe.Smith@Work.example;"
	    "host=smtp.default.example", "default");
	OK(rc, NULL, "x@lists.example.org", "auth=on;"
	    "from=Joe.Smith@Work.example;host=smtp.default.example",
	    "default");
	/* the default account's inherited from matches, but work is first */
	OK(rc, NULL, NULL, "auth=on;from=Joe.Smith@Work.example;"
	    "host=smtp.default.example", "default");
	OK(rc, NULL, "", "auth=on;from=Joe.Smith@Work.example;"
	    "host=smtp.default.example", "default");
	/* -a beats -f */
	OK(rc, "q", "joe.smith@work.example", "auth=on;host=smtp.q.example;"
	    "from=q?@q.example", "q");
	/* no match and no default: the defaults only */
	OK("defaults\nport 25\naccount a\nfrom a@x\n", NULL, "b@x", "port=25",
	    NULL);
	/* an -f address of any length is matched whole: cut to 1023
	 * bytes, "aaa...@other.example" matched "*a" */
	{
		char *from = malloc(1200);

		memset(from, 'a', 1100);
		strcpy(from + 1100, "@other.example");
		OK("account tail\nhost t\nfrom *a\n", NULL, from, "", NULL);
		from[1100] = '\0';
		OK("account tail\nhost t\nfrom *a\n", NULL, from,
		    "host=t;from=*a", "tail");
		free(from);
	}
	/* accounts are case-sensitive, like msmtp */
	ERR("account Work\nhost h\n", "work", NULL, 0, "no account 'work' in ");
	ERR("defaults\nhost h\n", "x", NULL, 0, "no account 'x' in ");
}

static void
test_errors(void)
{
	ERR("host h\nbogus 1\n", NULL, NULL, 2, "unknown key 'bogus'");
	ERR("Host h\n", NULL, NULL, 1, "unknown key 'Host'");
	ERR("host=h\n", NULL, NULL, 1, "unknown key 'host=h' (write KEY "
	    "VALUE, without '=')");
	ERR("tls__trust_file x\n", NULL, NULL, 1, "unknown key");
	ERR("averyveryveryveryveryverylongunknownkeyname x\n", NULL, NULL, 1,
	    "unknown key");
	ERR("\n\nport 0\n", NULL, NULL, 3, "port: '0' is not a number from 1 "
	    "to 65535");
	ERR("port 65536\n", NULL, NULL, 1, "65535");
	ERR("port 99999999999999999999\n", NULL, NULL, 1, "65535");
	ERR("port -1\n", NULL, NULL, 1, "65535");
	ERR("port 25x\n", NULL, NULL, 1, "65535");
	ERR("port\n", NULL, NULL, 1, "65535");
	ERR("timeout 0\n", NULL, NULL, 1, "timeout");
	ERR("timeout 86401\n", NULL, NULL, 1, "86400");
	ERR("timeout soon\n", NULL, NULL, 1, "timeout");
	ERR("protocol esmtp\n", NULL, NULL, 1, "smtp or lmtp");
	ERR("tls maybe\n", NULL, NULL, 1, "tls: 'maybe' is not");
	ERR("tls_starttls perhaps\n", NULL, NULL, 1, "not on or off");
	ERR("tls_certcheck maybe\n", NULL, NULL, 1, "tls_certcheck: 'maybe' "
	    "is not on or off");
	ERR("auto_from 2\n", NULL, NULL, 1, "not on or off");
	ERR("tls_nocertcheck off\n", NULL, NULL, 1, "takes no value");
	ERR("tls_min_version 1.1\n", NULL, NULL, 1, "1.2 or 1.3");
	ERR("auth gssapi\n", NULL, NULL, 1, "'gssapi' is not supported");
	ERR("auth NTLM\n", NULL, NULL, 1, "not supported");
	ERR("auth digest-md5\n", NULL, NULL, 1, "not supported");
	ERR("auth kerberos\n", NULL, NULL, 1, "auth: 'kerberos' is not");
	ERR("host\n", NULL, NULL, 1, "'host' needs a value");
	ERR("set_date_header on\n", NULL, NULL, 1, "auto or off");
	ERR("set_from_header sometimes\n", NULL, NULL, 1, "auto, on or off");
	ERR("dsn_notify failure, delay\n", NULL, NULL, 1, "failure,delay");
	ERR("dsn_notify never,failure\n", NULL, NULL, 1, "dsn_notify");
	ERR("dsn_notify failure,,delay\n", NULL, NULL, 1, "dsn_notify");
	ERR("dsn_return body\n", NULL, NULL, 1, "full or headers");
	ERR("syslog LOG_KERN\n", NULL, NULL, 1, "LOG_MAIL");
	ERR("report xml\n", NULL, NULL, 1, "json or off");
	ERR("tls_fingerprint 01:23\n", NULL, NULL, 1, "not a SHA-256");
	ERR("tls_fingerprint 01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:"
	    "01:23:45:67\n", NULL, NULL, 1, "only SHA-256 fingerprints are "
	    "supported, this is SHA-1");
	ERR("tls_fingerprint 01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"
	    "\n", NULL, NULL, 1, "only SHA-256 fingerprints are supported");
	ERR("tls_fingerprint SHA1:01:23\n", NULL, NULL, 1, "only SHA-256");
	ERR("tls_fingerprint zz:23\n", NULL, NULL, 1, "not a fingerprint");
	ERR("tls_fingerprint 0:23\n", NULL, NULL, 1, "not a fingerprint");
	ERR("tls_fingerprint SHA256:0123456789abcdef0123456789abcdef01234567"
	    "89abcdef0123456789abcdef00\n", NULL, NULL, 1, "not a SHA-256");
	ERR("tls_crl_file /crl.pem\n", NULL, NULL, 1, "'tls_crl_file' is not "
	    "supported");
	ERR("tls_force_sslv3 on\n", NULL, NULL, 1, "not supported");
	ERR("proxy_host localhost\n", NULL, NULL, 1, "'proxy_host' is not "
	    "supported");
	ERR("proxy_port 1080\n", NULL, NULL, 1, "not supported");
	ERR("socket /run/smtp\n", NULL, NULL, 1, "not supported");
	ERR("eval echo host h\n", NULL, NULL, 1, "'eval' is not supported");
	/* quoting */
	ERR("password \"abc\n", NULL, NULL, 1, "unterminated quoted value");
	ERR("password \"abc\\\"\n", NULL, NULL, 1, "unterminated");
	ERR("password \"a\\nb\"\n", NULL, NULL, 1, "bad escape");
	ERR("password \"abc\\\n", NULL, NULL, 1, "bad escape");
	ERR("password \"abc\" def\n", NULL, NULL, 1, "text after the closing");
	/* sections */
	ERR("defaults x\n", NULL, NULL, 1, "'defaults' takes no value");
	ERR("account\n", NULL, NULL, 1, "'account' needs a name");
	ERR("account : a\n", NULL, NULL, 1, "'account' needs a name");
	ERR("account a b\n", NULL, NULL, 1, "bad account name 'a b'");
	ERR("account a\nhost h\naccount a\n", NULL, NULL, 3,
	    "account 'a' is defined twice (first on line 1)");
	ERR("account a : b\naccount b\n", NULL, NULL, 1,
	    "account 'a' inherits from 'b', which is not defined above it");
	ERR("account a : a\n", NULL, NULL, 1, "not defined above");
	ERR("account a\naccount b : a,\n", NULL, NULL, 2, "empty parent");
	ERR("account a\naccount b :\n", NULL, NULL, 2, "empty parent");
	/* an error in an account not used is still an error (msmtp) */
	ERR("account a\nhost h\naccount b\nport x\n", "a", NULL, 4, "port");
	/* control bytes and limits */
	ERR("host a\rb\n", NULL, NULL, 1, "control character 0x0d");
	ERR("host h\n\033[2J\n", NULL, NULL, 2, "control character 0x1b");
	{
		static const char nul[] = "host h\nport 2\0005\n";
		const char *path;
		struct fail f = { 0 };
		struct conf c;
		int fd;

		path = put_file("rc", "", 0600);
		fd = open(path, O_WRONLY | O_TRUNC);
		CHECK(write(fd, nul, sizeof(nul) - 1) ==
		    (ssize_t)sizeof(nul) - 1);
		close(fd);
		CHECK(conf_load(path, NULL, NULL, &c, &f) == -1);
		CHECK(strstr(f.msg, ":2: control character 0x00") != NULL);
		conf_free(&c);
	}
	{
		char *big = malloc(CONF_LINE_MAX + 64);

		memcpy(big, "host h\npassword ", 16);
		memset(big + 16, 'x', CONF_LINE_MAX);
		strcpy(big + 16 + CONF_LINE_MAX, "\n");
		ERR(big, NULL, NULL, 2, "line longer than 8192 bytes");
		/* just at the limit is fine */
		big[7 + CONF_LINE_MAX] = '\n';
		big[8 + CONF_LINE_MAX] = '\0';
		{
			struct fail f = { 0 };
			struct conf c;
			const char *path = put_file("rc", big, 0600);

			CHECK(conf_load(path, NULL, NULL, &c, &f) == 0);
			CHECK(c.n == 2 && strlen(c.v[1].value) ==
			    CONF_LINE_MAX - 9);
			conf_free(&c);
		}
		free(big);
	}
	{
		size_t n = CONF_FILE_MAX + 10;
		char *big = malloc(n + 1);

		for (size_t i = 0; i < n; i++)
			big[i] = i % 64 == 63 ? '\n' : '#';
		big[n] = '\0';
		ERR(big, NULL, NULL, 0, "1 MiB");
		free(big);
	}
	/* ~ without $HOME */
	{
		char *saved = strdup(getenv("HOME"));

		unsetenv("HOME");
		ERR("logfile ~/log\n", NULL, NULL, 1, "$HOME is not set");
		setenv("HOME", saved, 1);
		free(saved);
	}
}

static void
test_files(void)
{
	struct fail f = { 0 };
	struct conf c;
	char path[800];
	const char *p;

	/* -C FILE must exist */
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK(conf_load(path, NULL, NULL, &c, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, path) != NULL &&
	    strstr(f.msg, "No such file") != NULL);
	conf_free(&c);
	fail_reset(&f);
	/* a directory is no config file */
	CHECK(conf_load(tmpdir, NULL, NULL, &c, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, tmpdir) != NULL);
	conf_free(&c);
	fail_reset(&f);
	/* unreadable (root reads anything: skip then) */
	p = put_file("locked", "host h\n", 0);
	if (geteuid() != 0) {
		CHECK(conf_load(p, NULL, NULL, &c, &f) == -1);
		CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, p) != NULL);
		conf_free(&c);
		fail_reset(&f);
	}

	/* a password others can read: refused; 600 fine; 644 w/o password */
	p = put_file("rc", "account a\nhost h\naccount b\npassword pw\n",
	    0644);
	CHECK(conf_load(p, "a", NULL, &c, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, "holds a password and "
	    "is readable by others") != NULL && strstr(f.msg, "chmod 600") !=
	    NULL && strstr(f.msg, p) != NULL);
	conf_free(&c);
	fail_reset(&f);
	chmod(p, 0640);
	CHECK(conf_load(p, "a", NULL, &c, &f) == -1 && f.cls == FAIL_CONFIG);
	conf_free(&c);
	fail_reset(&f);
	chmod(p, 0604);
	CHECK(conf_load(p, "a", NULL, &c, &f) == -1 && f.cls == FAIL_CONFIG);
	conf_free(&c);
	fail_reset(&f);
	chmod(p, 0600);
	CHECK(conf_load(p, "b", NULL, &c, &f) == 0);
	CHECK_STR(conf_get(&c, "password"), "pw");
	conf_free(&c);
	chmod(p, 0400);
	CHECK(conf_load(p, "b", NULL, &c, &f) == 0);
	conf_free(&c);
	/* an empty password line is still a password line: refused */
	p = put_file("rc", "password\nhost h\n", 0644);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == -1 && f.cls == FAIL_CONFIG);
	conf_free(&c);
	fail_reset(&f);
	/* passwordeval is no password */
	p = put_file("rc", "host h\npasswordeval pass mail\n", 0644);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == 0);
	CHECK_STR(dump(&c), "host=h;passwordeval=pass mail");
	conf_free(&c);
	/* writable by others: they could set passwordeval; refused */
	p = put_file("rc", "host h\n", 0664);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, "writable by group or "
	    "others") != NULL && strstr(f.msg, "chmod go-w") != NULL);
	conf_free(&c);
	fail_reset(&f);
	chmod(p, 0602);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == -1 && f.cls == FAIL_CONFIG);
	conf_free(&c);
	fail_reset(&f);
	CHECK(f.cls == FAIL_NONE);
}

/*
 * Ownership: a config or netrc owned by someone else is refused like a
 * writable one, whatever its mode (its owner could set passwordeval);
 * ours and root's are read.  chown needs root, as the tests run.
 */
static void
test_owner(void)
{
	struct fail f = { 0 };
	struct conf c;
	const char *p;
	char *login = NULL, *pass = NULL;

	if (geteuid() != 0) {
		fprintf(stderr, "  test_owner skipped: needs root for chown\n");
		return;
	}
	p = put_file("rc", "host h\npasswordeval echo owned\n", 0600);
	CHECK(chown(p, 65534, 65534) == 0);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, p) != NULL &&
	    strstr(f.msg, "is owned by uid 65534, not by uid 0") != NULL &&
	    strstr(f.msg, "run commands as you") != NULL);
	CHECK(c.n == 0);
	conf_free(&c);
	fail_reset(&f);
	/* even read-only and without secrets: the owner can chmod it */
	chmod(p, 0400);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == -1 && f.cls == FAIL_CONFIG);
	conf_free(&c);
	fail_reset(&f);
	/* root's own file is trusted */
	CHECK(chown(p, 0, 0) == 0);
	CHECK(conf_load(p, NULL, NULL, &c, &f) == 0);
	CHECK_STR(dump(&c), "host=h;passwordeval=echo owned");
	conf_free(&c);

	/* the same for a netrc: refused before it is looked at */
	p = put_file("netrc", "machine h login u password pw\n", 0600);
	CHECK(chown(p, 65534, 65534) == 0);
	CHECK(conf_netrc(p, "h", NULL, &login, &pass, &f) == -1);
	CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, p) != NULL &&
	    strstr(f.msg, "is owned by uid 65534") != NULL);
	CHECK(login == NULL && pass == NULL);
	fail_reset(&f);
	CHECK(chown(p, 0, 0) == 0);
	CHECK(conf_netrc(p, "h", NULL, &login, &pass, &f) == 1);
	CHECK_STR(login, "u");
	CHECK_STR(pass, "pw");
	free(login);
	free(pass);
	unlink(p);
}

/* The search list under a fake $HOME (and no $XDG_CONFIG_HOME). */
static void
test_search(void)
{
	struct fail f = { 0 };
	struct conf c;
	char dir[256], xdg[256], rc[256], cfg[512];
	struct stat sb;
	int etc = stat("/etc/smtpsend.conf", &sb) == 0;

	snprintf(dir, sizeof(dir), "%s/.config", tmpdir);
	snprintf(xdg, sizeof(xdg), "%s/.config/smtpsend", tmpdir);
	snprintf(cfg, sizeof(cfg), "%s/config", xdg);
	snprintf(rc, sizeof(rc), "%s/.smtpsendrc", tmpdir);
	setenv("HOME", tmpdir, 1);
	unsetenv("XDG_CONFIG_HOME");

	/* nothing there: no items, no error (unless /etc has one) */
	if (!etc) {
		CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
		CHECK(c.n == 0 && c.path == NULL && c.account == NULL);
		conf_free(&c);
		/* ... but -a NAME with no file is an error */
		CHECK(conf_load(NULL, "work", NULL, &c, &f) == -1);
		CHECK(f.cls == FAIL_CONFIG && strstr(f.msg, "no account "
		    "'work': no configuration file") != NULL);
		conf_free(&c);
		fail_reset(&f);
	}
	/* ~/.smtpsendrc */
	put_file(".smtpsendrc", "host rc\n", 0600);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, rc);
	CHECK_STR(dump(&c), "host=rc");
	conf_free(&c);
	/* ~/.config/smtpsend/config comes first */
	mkdir(dir, 0700);
	mkdir(xdg, 0700);
	put_file(".config/smtpsend/config", "host xdg\n", 0600);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, cfg);
	CHECK_STR(dump(&c), "host=xdg");
	conf_free(&c);
	/* $XDG_CONFIG_HOME moves it; relative values are ignored */
	setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, rc);
	conf_free(&c);
	setenv("XDG_CONFIG_HOME", dir, 1);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, cfg);
	conf_free(&c);
	setenv("XDG_CONFIG_HOME", ".config", 1);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, cfg);
	conf_free(&c);
	unsetenv("XDG_CONFIG_HOME");
	/* the first that exists decides, even when it is wrong */
	put_file(".config/smtpsend/config", "host xdg\nport x\n", 0600);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == -1);
	CHECK(strstr(f.msg, cfg) != NULL && strstr(f.msg, ":2: ") != NULL);
	conf_free(&c);
	fail_reset(&f);
	/* a path through a file counts as absent */
	unlink(cfg);
	rmdir(xdg);
	put_file("notadir", "", 0600);
	snprintf(xdg, sizeof(xdg), "%s/notadir", tmpdir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
	CHECK_STR(c.path, rc);
	conf_free(&c);
	unsetenv("XDG_CONFIG_HOME");
	unlink(xdg);
	/* no $HOME: only /etc/smtpsend.conf */
	unsetenv("HOME");
	if (!etc) {
		CHECK(conf_load(NULL, NULL, NULL, &c, &f) == 0);
		CHECK(c.path == NULL);
		conf_free(&c);
	}
	setenv("HOME", home, 1);
	unlink(rc);
	rmdir(dir);
	CHECK(f.cls == FAIL_NONE);
}

/* A ~/.msmtprc as people write them, used with -C, -a and -f. */
static void
test_msmtprc(void)
{
	static const char rc[] =
	    "# Set default values for all following accounts.\n"
	    "defaults\n"
	    "auth           on\n"
	    "tls            on\n"
	    "tls_trust_file /etc/ssl/certs/ca-certificates.crt\n"
	    "logfile        ~/.msmtp.log\n"
	    "\n"
	    "# Gmail\n"
	    "account        gmail\n"
	    "host           smtp.gmail.com\n"
	    "port           587\n"
	    "from           joe.smith@gmail.com\n"
	    "user           joe.smith@gmail.com\n"
	    "passwordeval   \"gpg --quiet --for-your-eyes-only --no-tty "
	    "--decrypt ~/.msmtp-gmail.gpg\"\n"
	    "\n"
	    "# Work, implicit TLS\n"
	    "account        work\n"
	    "host           mail.work.example\n"
	    "port           465\n"
	    "tls_starttls   off\n"
	    "from           joe@work.example\n"
	    "user           jsmith\n"
	    "password       \"correct horse # battery\"\n"
	    "set_from_header on\n"
	    "\n"
	    "# Mailing lists through the provider\n"
	    "account        lists : gmail\n"
	    "from           *@lists.example.org\n"
	    "\n"
	    "# Set a default account\n"
	    "account default : gmail\n";
	char want[2048];

	snprintf(want, sizeof(want), "auth=on;tls=starttls;"
	    "tls-trust-file=/etc/ssl/certs/ca-certificates.crt;"
	    "logfile=%s/.msmtp.log;host=smtp.gmail.com;port=587;"
	    "from=joe.smith@gmail.com;user=joe.smith@gmail.com;"
	    "passwordeval=gpg --quiet --for-your-eyes-only --no-tty --decrypt "
	    "~/.msmtp-gmail.gpg", home);
	OK(rc, NULL, NULL, want, "default");
	OK(rc, "gmail", NULL, want, "gmail");
	OK(rc, NULL, "Joe.Smith@gmail.com", want, "gmail");
	snprintf(want, sizeof(want), "auth=on;tls=implicit;"
	    "tls-trust-file=/etc/ssl/certs/ca-certificates.crt;"
	    "logfile=%s/.msmtp.log;host=mail.work.example;port=465;"
	    "from=joe@work.example;user=jsmith;"
	    "password=correct horse # battery;set-from-header=on", home);
	OK(rc, "work", NULL, want, "work");
	OK(rc, NULL, "joe@work.example", want, "work");
	snprintf(want, sizeof(want), "auth=on;tls=starttls;"
	    "tls-trust-file=/etc/ssl/certs/ca-certificates.crt;"
	    "logfile=%s/.msmtp.log;host=smtp.gmail.com;port=587;"
	    "user=joe.smith@gmail.com;"
	    "passwordeval=gpg --quiet --for-your-eyes-only --no-tty --decrypt "
	    "~/.msmtp-gmail.gpg;from=*@lists.example.org", home);
	OK(rc, NULL, "dev@lists.example.org", want, "lists");
	/* the same file readable by others: refused (it has a password) */
	{
		struct fail f = { 0 };
		struct conf c;
		const char *p = put_file("msmtprc", rc, 0644);

		CHECK(conf_load(p, "gmail", NULL, &c, &f) == -1);
		CHECK(strstr(f.msg, "chmod 600") != NULL);
		conf_free(&c);
	}
}

static void
cleanup(void)
{
	static const char *names[] = { "rc", "locked", "msmtprc",
	    ".smtpsendrc", "notadir", "netrc" };
	char path[800];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* a fake $HOME, so that "~/" has a known value */
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	test_keys();
	test_syntax();
	test_tls();
	test_sections();
	test_select();
	test_errors();
	test_files();
	test_owner();
	test_search();
	test_msmtprc();
	cleanup();
	T_DONE("conf");
}
