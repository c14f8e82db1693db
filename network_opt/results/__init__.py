"""A solved model as result tables and key figures, and their files: CSV, Excel, GeoPackage, the
audit record, and reading a results folder back. Imports solver, model, inputs and common."""
