"""The batch job: options, the train and render stages, and the command line."""
