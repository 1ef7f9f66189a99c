/*
 * pause: the process that holds a pod's namespaces open (the sandbox container).
 *
 * It does nothing until SIGINT or SIGTERM, then exits 0. As PID 1 of the pod it also
 * inherits orphaned processes and reaps them when SIGCHLD arrives. The three signals are
 * blocked and taken with sigwait, so none is lost between two waits, and PID 1's rule
 * that unhandled signals are dropped does not apply to them (blocked signals are queued).
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

int main(void)
{
    sigset_t signals;
    int sig;

    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &signals, NULL) != 0)
        return 1;
    for (;;) {
        if (sigwait(&signals, &sig) != 0)
            return 1;
        if (sig != SIGCHLD)
            return 0;
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}
