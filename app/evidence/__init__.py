"""Evidence checks: flags on closure and check photos that look faked."""
