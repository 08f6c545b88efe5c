"""Stack programs, environments, offline synth and the `opcloud stack` commands."""
