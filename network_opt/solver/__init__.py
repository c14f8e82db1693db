"""The Pyomo model handed to HiGHS and solved: hand-off, options, MIP starts, the driver, re-solve
sessions, compliance re-solves and infeasibility diagnosis. Imports model, inputs and common."""
