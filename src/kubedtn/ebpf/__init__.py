"""eBPF for kubedtn: the TCP/IP bypass, loaded from ELF objects without libbpf.

Read in this order:

* ``spec``    — what an object asks for, plain data (``ObjectSpec``, ``ProgramSpec``, ``MapSpec``);
* ``elf``     — an ELF object (pyelftools) read into a spec; ``btf`` the types of BTF-defined maps;
* ``syscall`` — bpf(2) through ctypes;
* ``loader``  — live objects (``LoadedMap``, ``LoadedProgram``: fds) from a spec, all or nothing;
* ``pins``    — the pin layout under bpffs and whether pinned objects are this build's;
* ``bpffs``   — the bpf filesystem found or mounted; the host's cgroup v2 root;
* ``objects`` — the compiled objects shipped as package data (``make bpf`` from ``bpf/``);
* ``bypass``  — ``Bypass``: enable, disable, the marker's fd, counters;
* ``errors``  — ``ElfError``, ``BpfSyscallError``, ``VerifierError``.

Nothing here imports kubernetes, pyroute2 or the daemon (import-linter contracts).
"""
