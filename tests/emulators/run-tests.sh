#!/bin/sh
# run-tests.sh: runs the emulator test suite (Dataverse + Campaign) with python3 -m unittest from
# this script's own directory; works from any cwd (e.g. a VPATH build dir) and writes only to temp dirs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export PYTHONDONTWRITEBYTECODE=1
exec python3 -m unittest "$@" test_dataverse test_dv_customize test_campaign test_email_activities test_dv_links test_acs_links test_acs_conformance test_seek
