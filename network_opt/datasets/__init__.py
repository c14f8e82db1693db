"""Building instances from sourced data: the retirement model and the synthetic generator."""
