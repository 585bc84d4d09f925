"""The scale benchmark (issue 8): ``python -m bench.run``. See bench/README.md."""
