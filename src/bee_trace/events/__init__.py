"""Events: the decoded, enriched records that outputs receive."""
