"""One construct per file; :mod:`infra.stack` composes them."""
