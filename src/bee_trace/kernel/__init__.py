"""Kernel programs (``*.bpf.c``) and the header that declares their records.

The build compiles each program into ``<name>.bpf.o`` beside this file.
"""
