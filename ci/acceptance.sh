#!/bin/sh
# Placeholder for your acceptance suites: replace it, or set ACCEPTANCE_CMD. Gets the stand's URL.
set -eu
url="${1:?usage: acceptance.sh STAND_URL}"
echo "run the acceptance suites against ${url} here" >&2
exit 1
