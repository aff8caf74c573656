"""The errors of kubedtn.ebpf: reading an object, the bpf(2) syscall, the verifier."""

from __future__ import annotations

from kubedtn.errors import KubedtnError


class EbpfError(KubedtnError):
    """Base of the eBPF loader's errors."""


class ElfError(EbpfError):
    """An object file that cannot be used: the message names the file, the section and
    what was wrong with it."""


class BpfSyscallError(EbpfError):
    """bpf(2) failed: the message names the command, the object and the errno."""

    def __init__(self, message: str, *, errno: int) -> None:
        self.errno = errno
        super().__init__(message)


class VerifierError(BpfSyscallError):
    """The kernel's verifier refused a program. ``str()`` is a summary (the program and the
    last lines of the verifier's log); ``log`` is the whole log."""

    def __init__(self, *, program: str, errno: int, log: str, tail_lines: int = 6) -> None:
        self.program = program
        self.log = log
        lines = [line for line in log.splitlines() if line.strip()]
        tail = "\n".join("  " + line for line in lines[-tail_lines:]) or "  (the kernel wrote no log)"
        super().__init__(
            f"the verifier refused program {program} (errno {errno}); last lines of its log:\n{tail}",
            errno=errno,
        )
