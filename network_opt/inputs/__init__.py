"""An instance from its files to a validated :class:`~network_opt.inputs.instance.Instance`: schema,
manifest, CSV and Excel readers, validation, jurisdictions and policies, lanes, overrides and scenarios.
Imports only :mod:`network_opt.common`."""
