#!/usr/bin/env bash
# The real systems the tests in tests/realsystems drive, from Debian's packages: PostgreSQL (a throw-away cluster
# under an `mlflow server`), Chromium with its WebDriver (the MLflow UI and Snakemake's report in a browser), and SLURM
# with munge (a one-node cluster that runs the workflow through profiles/slurm).
# Needs root (or sudo) and Debian's package mirror; fails loudly when it cannot install them.
set -euo pipefail
packages=(postgresql chromium chromium-driver slurm-wlm munge)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "real systems: ${packages[*]} already installed"
    exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "real systems: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
