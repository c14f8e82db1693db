"""What every stage uses: errors and problems, signal handling, the progress line, distances,
atomic file writing and the output-folder guard, the version. Imports nothing else of network_opt."""
