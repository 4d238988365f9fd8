#!/usr/bin/env python3
"""Writes k8s/seccomp/ringroom.json: the container runtimes' default allowlist plus io_uring.

  /usr/bin/python3 k8s/seccomp/make-profile.py /usr/share/containers/seccomp.json > k8s/seccomp/ringroom.json

Input: the containers-common default profile (Debian package golang-github-containers-common,
installed with podman), which is the moby/Docker format. Output: the plain OCI runtime-spec
`LinuxSeccomp` subset (defaultAction, defaultErrnoRet, architectures, syscalls[names, action,
args]) because containerd reads a Localhost profile straight into that struct and silently
ignores moby-only keys such as `includes`/`excludes` (which would turn capability-gated rules
into unconditional ones). So:
  - every unconditional ALLOW rule is kept (with its argument filters: personality, socket);
  - arch-only rules are kept for x86 and arm (runc/crun skip names unknown on an arch);
  - capability-gated rules are dropped: ringroom runs with no capabilities (drop: ALL), so
    those syscalls fall to the default action, EPERM, as they would in the runtime default;
  - rules excluded by CAP_AUDIT_WRITE (socket(AF_NETLINK, *, NETLINK_AUDIT)) are kept as the
    uncapable case;
  - a few syscalls the runtime default allows but that only matter to container tooling or
    need capabilities ringroom never has are removed (EXCLUDE);
  - io_uring_setup, io_uring_enter and io_uring_register are added: the reason this profile exists.
"""
import json, sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]
ARCHES = {"amd64", "x32", "x86", "arm", "arm64"}
EXCLUDE = {"reboot", "mount", "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
           "fspick", "umount", "umount2", "pivot_root", "unshare", "setns", "ptrace", "process_vm_readv",
           "process_vm_writev"}

src = json.load(open(sys.argv[1]))
names, rules = set(IO_URING), []
for s in src["syscalls"]:
    inc, exc = s.get("includes") or {}, s.get("excludes") or {}
    if s["action"] != "SCMP_ACT_ALLOW" or inc.get("caps") or inc.get("minKernel"):
        continue
    if inc.get("arches") and not set(inc["arches"]) & ARCHES:
        continue
    if exc.get("caps") and exc["caps"] != ["CAP_AUDIT_WRITE"]:
        continue
    args = [{k: a[k] for k in ("index", "value", "valueTwo", "op")} for a in (s.get("args") or [])]
    if args:
        rules.append({"names": s["names"], "action": "SCMP_ACT_ALLOW", "args": args})
    else:
        names.update(s["names"])
names -= EXCLUDE
rules = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}] + \
        [r for i, r in enumerate(rules) if r not in rules[:i]]
out = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                      "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "syscalls": rules,
}
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
