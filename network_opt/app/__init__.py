"""``network-opt app``: a local web workspace for planners who do not use a terminal.

A FastAPI application with server-rendered pages (Jinja2 templates, a little vanilla JavaScript,
every asset served from :file:`network_opt/app/static`; nothing is loaded from outside the machine).
It sits above :mod:`network_opt.plotting` and below :mod:`network_opt.cli` (whose ``app`` command
starts it) and does none of the modelling itself:

- :mod:`~network_opt.app.config`: the settings of one running app (data folder, host, token, limits);
- :mod:`~network_opt.app.store`: the SQLite table of workspaces and jobs under the data folder;
- :mod:`~network_opt.app.workspaces`: opening instances (shipped, a folder, an uploaded workbook or
  zipped folder), their problems, tables and sites, and writing scenarios back as overrides;
- :mod:`~network_opt.app.jobs`: background jobs (solve, compare, sweep) as child processes, their
  progress, cancel and what happens to them when the app restarts;
- :mod:`~network_opt.app.worker`: the child process of one job (``python -m network_opt.app.worker``);
- :mod:`~network_opt.app.views`: a results folder read for the pages (key figures, tables);
- :mod:`~network_opt.app.server`: the web application (routes, templates, the token, upload limits).

See ``docs/app.md``.
"""
