"""Running the pipeline on one machine: the embedded Temporal dev server and the local stack."""
