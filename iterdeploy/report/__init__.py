"""Reports of runs: tables, figures and Markdown across generations, read from the artifacts (run_report),
drawn by plots and written out by markdown."""
