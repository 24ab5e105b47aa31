"""The commands of ``southbound``, one module per family; each command parses its
options, calls a function below the command line and prints what it did."""
