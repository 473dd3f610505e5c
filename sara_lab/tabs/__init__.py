"""One module per tab; each has ``build(lab) -> components``, a small dataclass of its widgets, so
``sara_lab.page`` can wire their events."""
