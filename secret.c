/*
 * secret.c - the password sources, in SPEC's order, and the
 * passwordeval child.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "options.h"
#include "secret.h"

/* Output of --passwordeval: at most this much (an OAuth token is a few
 * KiB; anything bigger is not a password). */
#define SECRET_MAX	(64 * 1024)

/*
 * The child: default signal dispositions and an empty mask (we ignore
 * SIGPIPE and catch SIGTERM; a secret helper must not inherit that),
 * its stdout the pipe.
 */
static void
child_exec(const char *cmd, int pfd[2])
{
	static const int sigs[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP,
	    SIGQUIT, SIGCHLD };
	sigset_t none;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (pfd[1] != STDOUT_FILENO) {
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[1]);
	}
	close(pfd[0]);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Read the child's output, at most SECRET_MAX bytes; its length. */
static size_t
read_all(int fd, char *buf)
{
	size_t len = 0;
	ssize_t n;

	while (len < SECRET_MAX && (n = read(fd, buf + len,
	    SECRET_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR && util_signal == 0)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return len;
}

/* Run the password command; its output less one trailing newline. */
static char *
run_passwordeval(const char *cmd, struct fail *f)
{
	int pfd[2], status = 0;
	pid_t pid;
	char *buf;
	size_t len;

	if (pipe(pfd) == -1) {
		fail_set(f, FAIL_CONFIG, "passwordeval: %s", strerror(errno));
		return NULL;
	}
	if ((pid = fork()) == -1) {
		fail_set(f, FAIL_CONFIG, "passwordeval: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	if (pid == 0)
		child_exec(cmd, pfd);
	close(pfd[1]);
	buf = xmalloc(SECRET_MAX + 1);
	len = read_all(pfd[0], buf);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			fail_set(f, FAIL_CONFIG, "the passwordeval command "
			    "failed (exit %d)", WEXITSTATUS(status));
		else
			fail_set(f, FAIL_CONFIG, "the passwordeval command "
			    "failed (killed by signal %d)", WTERMSIG(status));
	} else if (len == 0 || strlen(buf) != len)
		fail_set(f, FAIL_CONFIG, "the passwordeval command gave no "
		    "usable password");
	else
		return buf;
	sasl_secret_free(buf);
	return NULL;
}

static char *
netrc_path(void)
{
	return xasprintf("%s/.netrc", user_home());
}

char *
secret_get(const struct opts *o, struct fail *f)
{
	const char *env = getenv("SMTPSEND_PASSWORD");
	char *path, *login = NULL, *pass = NULL;
	int r;

	if (o->passwordeval != NULL)
		return run_passwordeval(o->passwordeval, f);
	if (o->password != NULL && *o->password)
		return xstrdup(o->password);
	if (env != NULL && *env)
		return xstrdup(env);
	path = netrc_path();
	r = conf_netrc(path, o->tlso.host, o->user, &login, &pass, f);
	free(path);
	sasl_secret_free(login);
	if (r == 1 && pass != NULL)
		return pass;
	sasl_secret_free(pass);
	if (r != -1)
		fail_set(f, FAIL_CONFIG, "no password for %s: use "
		    "--passwordeval, the config file, SMTPSEND_PASSWORD or "
		    "~/.netrc", o->user ? o->user : "AUTH");
	return NULL;
}

int
secret_login(struct opts *o, struct fail *f)
{
	char *path, *login = NULL, *pass = NULL;
	int r;

	if (o->auth == SMTP_AUTH_OFF || o->user != NULL ||
	    o->auth == SASL_EXTERNAL)
		return 0;
	path = netrc_path();
	r = conf_netrc(path, o->tlso.host, NULL, &login, &pass, f);
	free(path);
	sasl_secret_free(pass);
	if (r == -1)
		return -1;
	if (login == NULL) {
		fail_set(f, FAIL_CONFIG, "authentication needs a user name: "
		    "--user, or a login in ~/.netrc for %s", o->tlso.host);
		return -1;
	}
	o->user = xstrdup(login);
	sasl_secret_free(login);
	return 0;
}
