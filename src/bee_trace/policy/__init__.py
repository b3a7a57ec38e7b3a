# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The policy: which activity bee-trace watches, read from ``security.yml``.

``load_policy`` reads and validates a policy file (or the embedded default);
the records in :mod:`bee_trace.policy.model` are what the rest of bee-trace
uses, and :func:`kernel_filter_keys` turns watch patterns into the keys the
kernel pre-filters opens with.
"""

from bee_trace.policy.loader import SCHEMA, KeySpec, PolicyError, load_policy, parse_policy
from bee_trace.policy.model import FilePolicy, Policy, WatchPattern
from bee_trace.policy.patterns import (
    FILTER_KEY_MAX,
    FilterKey,
    FilterKind,
    InvalidPatternError,
    kernel_filter_keys,
)

__all__ = [
    "FILTER_KEY_MAX",
    "SCHEMA",
    "FilePolicy",
    "FilterKey",
    "FilterKind",
    "InvalidPatternError",
    "KeySpec",
    "Policy",
    "PolicyError",
    "WatchPattern",
    "kernel_filter_keys",
    "load_policy",
    "parse_policy",
]
