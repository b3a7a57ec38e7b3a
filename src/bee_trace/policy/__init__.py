# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The policy: which activity bee-trace watches and denies, read from ``security.yml``.

``load_policy`` reads and validates a policy file (or the embedded default);
the records in :mod:`bee_trace.policy.model` are what the rest of bee-trace
uses, and :func:`kernel_filter_keys` turns watch patterns into the keys the
kernel pre-filters opens with.
"""

from bee_trace.policy.accessors import COMM_MAX_BYTES, check_accessor
from bee_trace.policy.loader import SCHEMA, KeySpec, PolicyError, load_policy, parse_policy
from bee_trace.policy.model import (
    BlockedNetwork,
    FilePolicy,
    LimitsPolicy,
    MemoryPolicy,
    MemoryWatch,
    NetworkPolicy,
    Policy,
    WatchPattern,
)
from bee_trace.policy.networks import parse_blocked, unmap_address
from bee_trace.policy.patterns import (
    FILTER_KEY_MAX,
    FilterKey,
    FilterKind,
    InvalidPatternError,
    kernel_filter_keys,
)

__all__ = [
    "COMM_MAX_BYTES",
    "FILTER_KEY_MAX",
    "SCHEMA",
    "BlockedNetwork",
    "FilePolicy",
    "FilterKey",
    "FilterKind",
    "InvalidPatternError",
    "KeySpec",
    "LimitsPolicy",
    "MemoryPolicy",
    "MemoryWatch",
    "NetworkPolicy",
    "Policy",
    "PolicyError",
    "WatchPattern",
    "check_accessor",
    "kernel_filter_keys",
    "load_policy",
    "parse_blocked",
    "parse_policy",
    "unmap_address",
]
