"""One module per constraint family; each builder's docstring states its equation."""
