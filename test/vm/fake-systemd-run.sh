#!/bin/sh
# Test double for `systemd-run --user --scope ... -- CMD`, for the VM test of rootless runs on a
# systemd host (no systemd --user exists on these machines). It does what the user's manager does for
# a scope with Delegate=yes: a new user-owned scope in the user's tree — here the parent of the login
# session's scope this process starts in — this process moved into it, then CMD exec'd in place (same
# pid, fds and environment).
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
[ "$1" = "--" ] && shift
session="/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)"
scope="$(dirname "$session")/run-$$.scope"
mkdir "$scope" && echo $$ > "$scope/cgroup.procs" || { echo "fake systemd-run: cannot make $scope" >&2; exit 1; }
exec "$@"
