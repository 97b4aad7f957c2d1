"""Operations: dead-letter tooling, targets and the ops page (docs/ops.md)."""
