"""Click commands for every mode. Commands are thin: parse, call one core function, print."""
