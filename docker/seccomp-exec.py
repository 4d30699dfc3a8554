#!/usr/bin/python3
"""Runs a command under a Docker-format seccomp profile, without Docker.

    docker/seccomp-exec.py docker/seccomp-io_uring.json -- ./nats-server -p -1
    docker/seccomp-exec.py --without io_uring_setup,io_uring_enter,io_uring_register \
        docker/seccomp-io_uring.json -- ./nats-server -p -1   # Docker 25+'s default

It reads the profile as Docker does (moby profiles/seccomp): a rule applies if
its "includes" match (this architecture, kernel version, and capabilities from
Docker's default set) and none of its "excludes" do; names unknown on this
architecture are skipped. Then it loads the filter with libseccomp and execs the
command, so the command sees what it would see in `docker run --security-opt
seccomp=PROFILE`. The filter also sets no_new_privs, which Docker does only with
--security-opt no-new-privileges; that changes nothing for nats-server.

Needs libseccomp's Python binding: apt-get install python3-seccomp (use the
system python3, /usr/bin/python3, which is where Debian installs it).
"""

import argparse
import json
import os
import platform
import sys

import seccomp

# Capabilities a container gets from Docker by default (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

# Docker names architectures in rules as Go does.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

OPS = {
    "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT,
}


def kernel_at_least(minimum):
    def nums(v):
        return [int("".join(c for c in p if c.isdigit()) or 0) for p in v.split(".")[:2]]
    return nums(platform.release()) >= nums(minimum)


def applies(rule, caps):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("arches") and GOARCH not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("minKernel") and not kernel_at_least(inc["minKernel"]):
        return False
    if exc.get("arches") and GOARCH in exc["arches"]:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return True


def action(name, errno_ret, default_errno):
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret if errno_ret is not None else default_errno)
    if name == "SCMP_ACT_KILL":
        return seccomp.KILL
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    sys.exit(f"seccomp-exec: action {name} is not handled")


def args_of(rule):
    out = []
    for a in rule.get("args") or []:
        if a["op"] == "SCMP_CMP_MASKED_EQ":
            # Docker: (arg & value) == valueTwo.
            out.append(seccomp.Arg(a["index"], seccomp.MASKED_EQ, a["value"], a.get("valueTwo", 0)))
        else:
            out.append(seccomp.Arg(a["index"], OPS[a["op"]], a["value"]))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("profile")
    p.add_argument("--without", default="", help="comma-separated syscalls to leave out of every rule")
    p.add_argument("--caps", default=None, help="comma-separated capabilities (default: Docker's set)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    o = p.parse_args()
    cmd = o.command[1:] if o.command[:1] == ["--"] else o.command
    if not cmd:
        p.error("no command")
    caps = set(o.caps.split(",")) if o.caps is not None else DOCKER_DEFAULT_CAPS
    without = set(filter(None, o.without.split(",")))

    with open(o.profile) as f:
        prof = json.load(f)
    default_errno = prof.get("defaultErrnoRet", 1)
    filt = seccomp.SyscallFilter(defaction=action(prof["defaultAction"], default_errno, default_errno))
    skipped = []
    for rule in prof["syscalls"]:
        if not applies(rule, caps):
            continue
        act = action(rule["action"], rule.get("errnoRet"), default_errno)
        for name in rule["names"]:
            if name in without:
                continue
            try:
                filt.add_rule(act, name, *args_of(rule))
            except (RuntimeError, ValueError):
                skipped.append(name)  # not a syscall on this architecture
    filt.load()
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
